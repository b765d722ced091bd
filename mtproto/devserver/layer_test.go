package devserver

import (
	"sync"
	"testing"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/tlschema"
)

// TestTranscodeLayers: each answer the dev server gives, re-encoded for
// every embedded layer, decodes by that layer's schema, and back in
// gotd's layer keeps what the older layer has too.
func TestTranscodeLayers(t *testing.T) {
	t.Parallel()
	s := &Server{dc: 2}
	user := &User{ID: 1000001, AccessHash: 42, FirstName: "Ann", Username: "ann", Phone: "999", Photo: &Photo{ID: 77, DC: 4}}
	msg := &Message{ID: 3, Peer: ServiceUserID, Date: 1700000000, Text: "Login code: 12345", Pts: 9}
	obj := func(e tdbin.Encoder) []byte {
		var b tdbin.Buffer
		if err := e.Encode(&b); err != nil {
			t.Fatal(err)
		}
		return b.Buf
	}
	cfg := &tdtg.Config{ThisDC: 2, DCOptions: []tdtg.DCOption{{ID: 2, IPAddress: "127.0.0.1", Port: 4430}, {ID: 4, IPAddress: "127.0.0.1", Port: 4431}}, MeURLPrefix: "https://t.me/"}
	_ = s
	cases := []struct {
		name   string
		method uint32 // the result type is the method's; 0: an Updates push
		buf    []byte
		check  func(t *testing.T, b *tdbin.Buffer)
	}{
		{"config", tdtg.HelpGetConfigRequestTypeID, obj(cfg), func(t *testing.T, b *tdbin.Buffer) {
			var c tdtg.Config
			if err := c.Decode(b); err != nil {
				t.Fatal(err)
			}
			if c.ThisDC != 2 || len(c.DCOptions) != 2 || c.DCOptions[1].Port != 4431 || c.MeURLPrefix != "https://t.me/" {
				t.Errorf("config %+v", c)
			}
		}},
		{"users", tdtg.UsersGetUsersRequestTypeID, obj(vector{tgUser(user, true)}), func(t *testing.T, b *tdbin.Buffer) {
			var v tdtg.UserClassVector
			if err := v.Decode(b); err != nil {
				t.Fatal(err)
			}
			u := v.Elems[0].(*tdtg.User)
			p, _ := u.Photo.(*tdtg.UserProfilePhoto)
			if u.ID != user.ID || u.AccessHash != 42 || !u.Self || u.FirstName != "Ann" || u.Username != "ann" || u.Phone != "999" || p == nil || p.DCID != 4 || p.PhotoID != 77 {
				t.Errorf("user %+v", u)
			}
		}},
		{"short-message", 0, obj(shortMessage(msg)), func(t *testing.T, b *tdbin.Buffer) {
			u, err := tdtg.DecodeUpdates(b)
			if err != nil {
				t.Fatal(err)
			}
			m := u.(*tdtg.UpdateShortMessage)
			if m.UserID != ServiceUserID || m.Message != msg.Text || m.Pts != 9 || m.PtsCount != 1 || m.ID != 3 {
				t.Errorf("updateShortMessage %+v", m)
			}
		}},
		{"history", tdtg.MessagesGetHistoryRequestTypeID, obj(&tdtg.MessagesMessages{Messages: []tdtg.MessageClass{tgMessage(user.ID, msg)}, Users: []tdtg.UserClass{tgUser(user, true)}}), func(t *testing.T, b *tdbin.Buffer) {
			v, err := tdtg.DecodeMessagesMessages(b)
			if err != nil {
				t.Fatal(err)
			}
			m := v.(*tdtg.MessagesMessages).Messages[0].(*tdtg.Message)
			if m.ID != 3 || m.Message != msg.Text || m.Date != msg.Date || m.PeerID.(*tdtg.PeerUser).UserID != ServiceUserID {
				t.Errorf("message %+v", m)
			}
		}},
		{"dialogs", tdtg.MessagesGetDialogsRequestTypeID, obj(&tdtg.MessagesDialogsSlice{Count: 1, Dialogs: []tdtg.DialogClass{&tdtg.Dialog{Peer: &tdtg.PeerUser{UserID: ServiceUserID}, TopMessage: 3}}, Messages: []tdtg.MessageClass{tgMessage(user.ID, msg)}, Users: []tdtg.UserClass{tgUser(user, false)}}), func(t *testing.T, b *tdbin.Buffer) {
			v, err := tdtg.DecodeMessagesDialogs(b)
			if err != nil {
				t.Fatal(err)
			}
			d := v.(*tdtg.MessagesDialogsSlice)
			if d.Count != 1 || d.Dialogs[0].(*tdtg.Dialog).TopMessage != 3 || len(d.Messages) != 1 || len(d.Users) != 1 {
				t.Errorf("dialogs %+v", d)
			}
		}},
		{"authorization", tdtg.AuthImportAuthorizationRequestTypeID, obj(&tdtg.AuthAuthorization{User: tgUser(user, true)}), func(t *testing.T, b *tdbin.Buffer) {
			v, err := tdtg.DecodeAuthAuthorization(b)
			if err != nil {
				t.Fatal(err)
			}
			if v.(*tdtg.AuthAuthorization).User.(*tdtg.User).ID != user.ID {
				t.Errorf("authorization %+v", v)
			}
		}},
		{"file", tdtg.UploadGetFileRequestTypeID, obj(&tdtg.UploadFile{Type: &tdtg.StorageFileJpeg{}, Mtime: 5, Bytes: []byte("jpeg")}), func(t *testing.T, b *tdbin.Buffer) {
			v, err := tdtg.DecodeUploadFile(b)
			if err != nil {
				t.Fatal(err)
			}
			if string(v.(*tdtg.UploadFile).Bytes) != "jpeg" {
				t.Errorf("file %+v", v)
			}
		}},
	}
	for _, layer := range tlschema.Layers() {
		schema, err := schemaOf(layer)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(tc.name+"/"+itoa(layer), func(t *testing.T) {
				typ := tlschema.Type{Kind: tlschema.Object}
				if tc.method != 0 {
					typ = resultType(tc.method)
				}
				out, err := transcode(tc.buf, typ, tdtg.Layer, layer)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := schema.Decode(out, typ); err != nil {
					t.Fatalf("layer %d does not decode its answer: %v", layer, err)
				}
				back, err := transcode(out, typ, layer, tdtg.Layer)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, &tdbin.Buffer{Buf: back})
			})
		}
	}
}

// TestTranscodeQuery: a layer-144 contacts.resolveUsername (no flags, no
// referer) reads as gotd's.
func TestTranscodeQuery(t *testing.T) {
	t.Parallel()
	s144, err := schemaOf(144)
	if err != nil {
		t.Fatal(err)
	}
	c := s144.ByName("contacts.resolveUsername")
	if c == nil {
		t.Fatal("layer 144 has no contacts.resolveUsername")
	}
	var b tdbin.Buffer
	b.PutID(c.ID)
	b.PutString("ann")
	if c.ID == tdtg.ContactsResolveUsernameRequestTypeID {
		t.Fatal("the test needs a method whose id changed since layer 144")
	}
	got := fromClientLayer(b.Buf, 144)
	var req tdtg.ContactsResolveUsernameRequest
	if err := req.Decode(&tdbin.Buffer{Buf: got}); err != nil || req.Username != "ann" {
		t.Fatalf("%q, %v", req.Username, err)
	}
	if servedLayer(144) != 144 || servedLayer(158) != 144 || servedLayer(0) != tdtg.Layer || servedLayer(300) != tdtg.Layer || servedLayer(100) != 144 {
		t.Error("servedLayer")
	}
}

func itoa(n int) string {
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// FuzzTranscodeQuery: a client's query bytes, read in any embedded layer,
// never panic the transcoder; what it returns for gotd's layer decodes by
// gotd's schema.
func FuzzTranscodeQuery(f *testing.F) {
	s144, err := schemaOf(144)
	if err != nil {
		f.Fatal(err)
	}
	var b tdbin.Buffer
	b.PutID(s144.ByName("contacts.resolveUsername").ID)
	b.PutString("ann")
	f.Add(b.Buf, uint8(0))
	var q tdbin.Buffer
	if err := (&tdtg.MessagesGetHistoryRequest{Peer: &tdtg.InputPeerUser{UserID: 777000, AccessHash: 5}, Limit: 10}).Encode(&q); err != nil {
		f.Fatal(err)
	}
	f.Add(q.Buf, uint8(1))
	var u tdbin.Buffer
	if err := (&tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}}).Encode(&u); err != nil {
		f.Fatal(err)
	}
	f.Add(u.Buf, uint8(2))
	layers := tlschema.Layers()
	s229, err := schemaOf(tdtg.Layer)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query []byte, l uint8) {
		layer := layers[int(l)%len(layers)]
		if layer == tdtg.Layer {
			return // passed on as it came
		}
		out, err := transcode(query, tlschema.Type{Kind: tlschema.Object}, layer, tdtg.Layer)
		if err != nil {
			return
		}
		if _, err := s229.Decode(out, tlschema.Type{Kind: tlschema.Object}); err != nil {
			t.Fatalf("layer %d → %d: the output does not decode: %v", layer, tdtg.Layer, err)
		}
	})
}

// TestSchemaBuiltOnce: callers that ask for a layer's schema at the same
// time share one build. Each parsing it on its own stalled every
// connection of a starting pool for seconds on 2 cores, past a fleet's
// ping_delay_disconnect (the server then closed them, the clients
// reconnected, and the old connections still counted as using the key).
func TestSchemaBuiltOnce(t *testing.T) {
	layerSchemasMu.Lock()
	saved := layerSchemas
	layerSchemas = map[int]func() (*layerSchema, error){}
	layerSchemasMu.Unlock()
	t.Cleanup(func() {
		layerSchemasMu.Lock()
		layerSchemas = saved
		layerSchemasMu.Unlock()
	})
	const n = 16
	got := make([]*layerSchema, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = schemaOf(tdtg.Layer)
		}()
	}
	wg.Wait()
	for i, s := range got {
		if s == nil || s != got[0] {
			t.Fatalf("caller %d got schema %p, caller 0 %p: built more than once", i, s, got[0])
		}
	}
}
