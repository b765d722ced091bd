package relay

import (
	"bytes"
	"testing"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/tlschema"
)

func serviceMsg(id int) *tdtg.Message {
	m := &tdtg.Message{ID: id, PeerID: &tdtg.PeerUser{UserID: ServiceUserID}, FromID: &tdtg.PeerUser{UserID: ServiceUserID}, Message: "Login code: 12345", Date: 1}
	m.SetFlags()
	return m
}

func userMsg(id int, text string) *tdtg.Message {
	m := &tdtg.Message{ID: id, PeerID: &tdtg.PeerUser{UserID: 42}, Message: text, Date: 1}
	m.SetFlags()
	return m
}

// TestWithholdService: the service account's messages leave results and
// updates with their vector element; everything else is byte for byte
// what gotd would encode without them.
func TestWithholdService(t *testing.T) {
	t.Parallel()
	s := schema(t)
	fwd := userMsg(5, "forwarded code")
	fwd.FwdFrom = tdtg.MessageFwdHeader{FromID: &tdtg.PeerUser{UserID: ServiceUserID}, Date: 1}
	fwd.SetFlags()
	users := []tdtg.UserClass{&tdtg.User{ID: ServiceUserID, FirstName: "Telegram"}}
	newMsg := func(m tdtg.MessageClass) tdtg.UpdateClass {
		return &tdtg.UpdateNewMessage{Message: m, Pts: 1, PtsCount: 1}
	}
	for _, tc := range []struct {
		name  string
		in    tdbin.Encoder
		want  tdbin.Encoder // nil: withheld whole
		typ   tlschema.Type
		wantN bool // unchanged
	}{
		{
			name: "history",
			in:   &tdtg.MessagesMessages{Messages: []tdtg.MessageClass{userMsg(1, "a"), serviceMsg(2), userMsg(3, "b"), fwd}, Users: users},
			want: &tdtg.MessagesMessages{Messages: []tdtg.MessageClass{userMsg(1, "a"), userMsg(3, "b")}, Users: users},
		},
		{
			name: "dialogs",
			in: &tdtg.MessagesDialogs{
				Dialogs:  []tdtg.DialogClass{&tdtg.Dialog{Peer: &tdtg.PeerUser{UserID: ServiceUserID}, TopMessage: 2}, &tdtg.Dialog{Peer: &tdtg.PeerUser{UserID: 42}, TopMessage: 1}},
				Messages: []tdtg.MessageClass{serviceMsg(2), userMsg(1, "a")},
			},
			want: &tdtg.MessagesDialogs{
				Dialogs:  []tdtg.DialogClass{&tdtg.Dialog{Peer: &tdtg.PeerUser{UserID: 42}, TopMessage: 1}},
				Messages: []tdtg.MessageClass{userMsg(1, "a")},
			},
		},
		{
			name: "updates",
			in:   &tdtg.Updates{Updates: []tdtg.UpdateClass{newMsg(userMsg(1, "a")), newMsg(serviceMsg(2)), &tdtg.UpdateServiceNotification{Message: "x", Media: &tdtg.MessageMediaEmpty{}}}, Users: users, Date: 1, Seq: 1},
			want: &tdtg.Updates{Updates: []tdtg.UpdateClass{newMsg(userMsg(1, "a"))}, Users: users, Date: 1, Seq: 1},
		},
		{
			name: "difference",
			in:   &tdtg.UpdatesDifference{NewMessages: []tdtg.MessageClass{serviceMsg(2)}, OtherUpdates: []tdtg.UpdateClass{newMsg(serviceMsg(3))}, State: tdtg.UpdatesState{Pts: 3}},
			want: &tdtg.UpdatesDifference{State: tdtg.UpdatesState{Pts: 3}},
		},
		{name: "short message", in: &tdtg.UpdateShortMessage{UserID: ServiceUserID, Message: "code", ID: 1, Pts: 1, PtsCount: 1, Date: 1}},
		{name: "update short", in: &tdtg.UpdateShort{Update: newMsg(serviceMsg(2)), Date: 1}},
		{
			name: "nothing to withhold", wantN: true,
			in: &tdtg.MessagesMessages{Messages: []tdtg.MessageClass{userMsg(1, "a")}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := enc(t, tc.in)
			n, err := s.DecodeObject(buf)
			if err != nil {
				t.Fatal(err)
			}
			out, changed, whole := withholdService(buf, n)
			switch {
			case tc.wantN:
				if changed || whole || !bytes.Equal(out, buf) {
					t.Fatalf("changed %v whole %v", changed, whole)
				}
			case tc.want == nil:
				if !whole {
					t.Fatalf("not withheld whole (changed %v)", changed)
				}
			default:
				if whole || !changed {
					t.Fatalf("changed %v whole %v", changed, whole)
				}
				if want := enc(t, tc.want); !bytes.Equal(out, want) {
					t.Fatalf("got\n%x\nwant\n%x", out, want)
				}
			}
		})
	}
}

// TestRewriteConfig: dc_options point at the relay, IPv6, CDN and
// MTProxy-only options go, the real addresses are returned, and the rest
// of the config is gotd's encoding unchanged.
func TestRewriteConfig(t *testing.T) {
	t.Parallel()
	s := schema(t)
	cfg := &tdtg.Config{
		Date: 5, ThisDC: 2, MeURLPrefix: "https://t.me/", DCTxtDomainName: "example",
		DCOptions: []tdtg.DCOption{
			{ID: 1, IPAddress: "10.0.0.1", Port: 443},
			{ID: 2, IPAddress: "10.0.0.2", Port: 443},
			{ID: 2, IPAddress: "10.0.0.22", Port: 443, MediaOnly: true},
			{ID: 2, IPAddress: "::1", Port: 443, Ipv6: true},
			{ID: 4, IPAddress: "10.0.0.4", Port: 443, CDN: true},
			{ID: 4, IPAddress: "10.0.0.44", Port: 443},
			{ID: 5, IPAddress: "10.0.0.5", Port: 443, TCPObfuscatedOnly: true, Secret: []byte{1}},
		},
	}
	for i := range cfg.DCOptions {
		cfg.DCOptions[i].SetFlags()
	}
	cfg.SetFlags()
	buf := enc(t, cfg)
	n, err := s.DecodeObject(buf)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[int]int{1: 1001, 2: 1002, 4: 1004}
	out, real, err := rewriteConfig(buf, n, func(dc int) (string, int, bool) {
		p, ok := ports[dc]
		return "127.0.0.1", p, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	var got tdtg.Config
	if err := got.Decode(&tdbin.Buffer{Buf: out}); err != nil {
		t.Fatal(err)
	}
	want := []tdtg.DCOption{
		{ID: 1, IPAddress: "127.0.0.1", Port: 1001},
		{ID: 2, IPAddress: "127.0.0.1", Port: 1002},
		{ID: 2, IPAddress: "127.0.0.1", Port: 1002, MediaOnly: true},
		{ID: 4, IPAddress: "127.0.0.1", Port: 1004},
	}
	if len(got.DCOptions) != len(want) {
		t.Fatalf("options %+v", got.DCOptions)
	}
	for i, o := range got.DCOptions {
		if o.ID != want[i].ID || o.IPAddress != want[i].IPAddress || o.Port != want[i].Port || o.MediaOnly != want[i].MediaOnly || o.Ipv6 || o.CDN {
			t.Errorf("option %d: %+v, want %+v", i, o, want[i])
		}
	}
	if got.MeURLPrefix != cfg.MeURLPrefix || got.ThisDC != 2 || got.DCTxtDomainName != "example" {
		t.Fatalf("the rest of the config changed: %+v", got)
	}
	if len(real) != 4 || real[3].Host != "10.0.0.44" || real[2].Media != true {
		t.Fatalf("real options %+v", real)
	}
	// The bytes around the options are the original ones.
	opts := n.Field("dc_options")
	if !bytes.Equal(out[:opts.Start], buf[:opts.Start]) || !bytes.HasSuffix(out, buf[opts.End:]) {
		t.Fatal("bytes outside dc_options changed")
	}
}
