package relay

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/sessionstring"
)

// FuzzPolicyCheck fuzzes the relay's client-facing decoder: the bytes of a
// query from a local program, which the policy reads. It must never
// panic, and a query it passes under the default policy (the one that
// decodes every query) must be a known method that decodes whole and
// names no peer of the service account.
func FuzzPolicyCheck(f *testing.F) {
	s := schema(f)
	run, err := tljson.NewMethodPolicy(nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc(f, &tdtg.MessagesGetHistoryRequest{Peer: &tdtg.InputPeerUser{UserID: ServiceUserID, AccessHash: 1}, Limit: 10}))
	f.Add(enc(f, &tdtg.MessagesSendMessageRequest{Peer: &tdtg.InputPeerSelf{}, Message: "hi", RandomID: 1}))
	f.Add(enc(f, &tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}, &tdtg.InputUser{UserID: 42}}}))
	f.Add(enc(f, &tdtg.InvokeAfterMsgRequest{MsgID: 1, Query: &tdtg.HelpGetConfigRequest{}}))
	f.Add(enc(f, &tdtg.UploadGetFileRequest{Location: &tdtg.InputPeerPhotoFileLocation{Peer: &tdtg.InputPeerSelf{}, PhotoID: 1}, Limit: 4096}))
	policies := []Policy{{}, {ReadOnly: true}, {Allow: []string{"messages.getHistory"}}, {ServiceMessages: true}}
	f.Fuzz(func(t *testing.T, query []byte) {
		for _, p := range policies {
			m, refusal := policyCheck(s, run, p, query)
			if refusal != nil {
				if refusal.Method == "" {
					t.Fatalf("a refusal names no method: %+v", refusal)
				}
				continue
			}
			if m == nil || !m.Method {
				t.Fatalf("passed a query that is not a method (%v)", m)
			}
			if p.ServiceMessages {
				continue
			}
			n, err := s.DecodeObject(query)
			if err != nil {
				t.Fatalf("passed a query that does not decode: %v", err)
			}
			if n.C != m {
				t.Fatalf("method %s, decoded %s", m.Name, n.C.Name)
			}
			if namesServiceUser(query, n) {
				t.Fatal("passed a query naming the service account")
			}
		}
	})
}

// FuzzWithholdService: whatever a result or an update holds, the filter
// never panics, what it lets through decodes whole, and holds nothing
// more to withhold.
func FuzzWithholdService(f *testing.F) {
	s := schema(f)
	f.Add(enc(f, &tdtg.MessagesMessages{Messages: []tdtg.MessageClass{userMsg(1, "a"), serviceMsg(2)}}))
	f.Add(enc(f, &tdtg.UpdateShortMessage{UserID: ServiceUserID, Message: "code", ID: 1, Date: 1}))
	f.Add(enc(f, &tdtg.Updates{Updates: []tdtg.UpdateClass{&tdtg.UpdateNewMessage{Message: serviceMsg(2)}, &tdtg.UpdateNewMessage{Message: userMsg(1, "a")}}, Date: 1}))
	f.Fuzz(func(t *testing.T, buf []byte) {
		n, err := s.DecodeObject(buf)
		if err != nil {
			return
		}
		out, changed, whole := withholdService(buf, n)
		if whole {
			return
		}
		if !changed {
			if len(out) != len(buf) {
				t.Fatal("unchanged but a different length")
			}
			return
		}
		n2, err := s.DecodeObject(out)
		if err != nil {
			t.Fatalf("filtered bytes do not decode: %v", err)
		}
		if _, changed, whole := withholdService(out, n2); changed || whole {
			t.Fatal("filtered bytes still hold a service object")
		}
	})
}

// FuzzRewriteConfig: a Config of any shape is rewritten to one that
// decodes, or refused with an error.
func FuzzRewriteConfig(f *testing.F) {
	s := schema(f)
	cfg := &tdtg.Config{ThisDC: 2, DCOptions: []tdtg.DCOption{{ID: 2, IPAddress: "10.0.0.2", Port: 443}, {ID: 4, IPAddress: "10.0.0.4", Port: 443, MediaOnly: true}}}
	for i := range cfg.DCOptions {
		cfg.DCOptions[i].SetFlags()
	}
	cfg.SetFlags()
	f.Add(enc(f, cfg))
	addr := func(dc int) (string, int, bool) { return "127.0.0.1", 1000 + dc, dc > 0 && dc < 6 }
	f.Fuzz(func(t *testing.T, buf []byte) {
		n, err := s.DecodeObject(buf)
		if err != nil || n.C.Result.Name != "Config" {
			return
		}
		out, _, err := rewriteConfig(buf, n, addr)
		if err != nil {
			return
		}
		n2, err := s.DecodeObject(out)
		if err != nil {
			t.Fatalf("rewritten config does not decode: %v", err)
		}
		for _, e := range n2.Field("dc_options").Elems {
			if h := tlString(out, e.Node.Field("ip_address")); h != "127.0.0.1" {
				t.Fatalf("an option still points at %q", h)
			}
		}
	})
}

// bytesConn is a net.Conn that reads from a buffer and discards writes.
type bytesConn struct {
	net.Conn // nil: only the methods below are called
	r        *bytes.Reader
}

func (c *bytesConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *bytesConn) SetDeadline(time.Time) error        { return nil }
func (c *bytesConn) Close() error                       { return nil }
func (c *bytesConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *bytesConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *bytesConn) SetReadDeadline(time.Time) error    { return nil }
func (c *bytesConn) SetWriteDeadline(t time.Time) error { return nil }

// socksDest is the host of a request the handshake accepted.
func socksDest(req []byte) string {
	switch req[3] {
	case socksIPv4:
		a, _ := netip.AddrFromSlice(req[4:8])
		return a.String()
	case socksIPv6:
		a, _ := netip.AddrFromSlice(req[4:20])
		return a.Unmap().String()
	}
	return string(req[5 : 5+int(req[4])])
}

// FuzzSOCKSHandshake fuzzes the SOCKS5 front's parser (bytes from any
// local program): it never panics, and it accepts only a CONNECT to one
// of Telegram's DC addresses.
func FuzzSOCKSHandshake(f *testing.F) {
	r, err := New(Config{Accounts: testAccounts{}, PrivateKey: testRSAKey(f)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = r.Close() })
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 149, 154, 167, 51, 1, 187})
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 10, 1, 2, 3, 0, 80})
	f.Add(append([]byte{5, 1, 0, 5, 1, 0, 3, 11}, append([]byte("example.com"), 0, 80)...))
	f.Add([]byte{5, 1, 0, 5, 1, 0, 4, 0x20, 0x01, 0x0b, 0x28, 0xf2, 0x3d, 0xf0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x0a, 1, 187})
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := r.socksHandshake(&bytesConn{r: bytes.NewReader(in)})
		if err != nil {
			return
		}
		req := in[2+int(in[1]):] // after the greeting
		if d == nil || req[0] != socksVersion || req[1] != socksConnect {
			t.Fatalf("accepted % x", in)
		}
		if _, ok := sessionstring.LookupDCAddress(socksDest(req)); !ok {
			t.Fatalf("accepted % x: not a Telegram DC", in)
		}
	})
}
