package tlschema

import (
	"encoding/binary"
	"errors"
	"testing"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"
)

func mustAll(t testing.TB) *Schema {
	t.Helper()
	s, err := All()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func encode(t testing.TB, e tdbin.Encoder) []byte {
	t.Helper()
	var b tdbin.Buffer
	if err := e.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Buf
}

// TestDecodeGotd decodes objects gotd encodes (layer 229) and finds their
// fields where gotd put them.
func TestDecodeGotd(t *testing.T) {
	t.Parallel()
	s := mustAll(t)
	msg := &tdtg.Message{
		ID: 7, PeerID: &tdtg.PeerUser{UserID: 777000}, FromID: &tdtg.PeerUser{UserID: 777000},
		Message: "Login code: 12345", Date: 1700000000,
		Entities: []tdtg.MessageEntityClass{&tdtg.MessageEntityBold{Offset: 0, Length: 5}},
	}
	msg.SetFlags()
	res := &tdtg.MessagesMessages{
		Messages: []tdtg.MessageClass{msg, &tdtg.MessageEmpty{ID: 8}},
		Users:    []tdtg.UserClass{&tdtg.User{ID: 777000, FirstName: "Telegram"}},
	}
	buf := encode(t, res)
	v, err := s.Decode(buf, Type{Kind: Object, Name: "messages.Messages"})
	if err != nil {
		t.Fatal(err)
	}
	n := v.Node
	if n.C.Name != "messages.messages" || n.Start != 0 || n.End != len(buf) {
		t.Fatalf("decoded %s [%d,%d), want messages.messages [0,%d)", n.C.Name, n.Start, n.End, len(buf))
	}
	msgs := n.Field("messages")
	if msgs == nil || msgs.Count != 2 || len(msgs.Elems) != 2 {
		t.Fatalf("messages field: %+v", msgs)
	}
	if got := binary.LittleEndian.Uint32(buf[msgs.CountAt:]); got != 2 {
		t.Fatalf("count at %d reads %d", msgs.CountAt, got)
	}
	m := msgs.Elems[0].Node
	if m.C.Name != "message" || m.C.Result.Name != "Message" {
		t.Fatalf("first element is %s = %s", m.C.Name, m.C.Result)
	}
	peer := m.Field("peer_id").Node
	if id, ok := peer.Long(buf, "user_id"); !ok || id != 777000 || peer.C.Name != "peerUser" {
		t.Fatalf("peer_id: %s user_id %d %v", peer.C.Name, id, ok)
	}
	if id, ok := m.Int(buf, "id"); !ok || id != 7 {
		t.Fatalf("id %d %v", id, ok)
	}
	if m.Field("fwd_from") != nil {
		t.Fatal("absent fwd_from decoded as present")
	}
	// The element's bytes are exactly gotd's encoding of the message.
	if got, want := string(buf[m.Start:m.End]), string(encode(t, msg)); got != want {
		t.Fatal("message bytes differ from gotd's encoding")
	}

	cfg := &tdtg.Config{ThisDC: 2, DCOptions: []tdtg.DCOption{{ID: 2, IPAddress: "127.0.0.1", Port: 443}, {ID: 4, IPAddress: "10.0.0.4", Port: 443, MediaOnly: true}}, MeURLPrefix: "https://t.me/"}
	cfg.SetFlags()
	buf = encode(t, cfg)
	v, err = s.Decode(buf, Type{Kind: Object})
	if err != nil {
		t.Fatal(err)
	}
	opts := v.Node.Field("dc_options")
	if opts == nil || opts.Count != 2 || opts.Elems[1].Node.C.Name != "dcOption" {
		t.Fatalf("dc_options: %+v", opts)
	}
}

// TestDecodeQuery decodes a method call, wrappers included.
func TestDecodeQuery(t *testing.T) {
	t.Parallel()
	s := mustAll(t)
	q := &tdtg.InvokeWithLayerRequest{Layer: 229, Query: &tdtg.InitConnectionRequest{
		APIID: 1, DeviceModel: "m", SystemVersion: "s", AppVersion: "a", SystemLangCode: "en", LangCode: "en",
		Query: &tdtg.MessagesGetHistoryRequest{Peer: &tdtg.InputPeerUser{UserID: 777000, AccessHash: 1}, Limit: 10},
	}}
	buf := encode(t, q)
	n, err := s.DecodeObject(buf)
	if err != nil {
		t.Fatal(err)
	}
	inner := n.Field("query").Node.Field("query").Node
	if inner.C.Name != "messages.getHistory" || !inner.C.Method {
		t.Fatalf("inner query %s", inner.C.Name)
	}
	if id, _ := inner.Field("peer").Node.Long(buf, "user_id"); id != 777000 {
		t.Fatalf("peer user_id %d", id)
	}
}

// TestDecodeMalformed: short bytes, an unknown constructor, a lying
// vector count and deep nesting are errors, never panics or huge
// allocations.
func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	s := mustAll(t)
	good := encode(t, &tdtg.MessagesMessages{Messages: []tdtg.MessageClass{&tdtg.MessageEmpty{ID: 1}}})
	deep := []byte{}
	// inputPeerUserFromMessage nests an InputPeer: nest it past MaxDepth.
	for range MaxDepth + 2 {
		deep = binary.LittleEndian.AppendUint32(deep, tdtg.InputPeerUserFromMessageTypeID)
	}
	huge := binary.LittleEndian.AppendUint32(nil, tdtg.MessagesMessagesTypeID)
	huge = binary.LittleEndian.AppendUint32(huge, VectorID)
	huge = binary.LittleEndian.AppendUint32(huge, 0x7fffffff)
	for _, tc := range []struct {
		name string
		buf  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:len(good)-3], ErrMalformed},
		{"trailing", append(good[:len(good):len(good)], 0, 0, 0, 0), ErrMalformed},
		{"unknown", []byte{1, 2, 3, 4}, ErrUnknownConstructor},
		{"huge count", huge, ErrMalformed},
		{"deep", deep, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Decode(tc.buf, Type{Kind: Object})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	s := mustAll(f)
	f.Add(encode(f, &tdtg.MessagesMessages{Messages: []tdtg.MessageClass{&tdtg.MessageEmpty{ID: 1}}}))
	f.Add(encode(f, &tdtg.UpdatesGetStateRequest{}))
	f.Add(encode(f, &tdtg.Config{DCOptions: []tdtg.DCOption{{ID: 2, IPAddress: "1.2.3.4", Port: 443}}}))
	f.Fuzz(func(t *testing.T, buf []byte) {
		v, err := s.Decode(buf, Type{Kind: Object})
		if err != nil {
			return
		}
		if v.Start != 0 || v.End != len(buf) || v.Node == nil {
			t.Fatalf("decoded [%d,%d) of %d bytes", v.Start, v.End, len(buf))
		}
	})
}
