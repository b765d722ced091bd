package relay

import (
	"crypto/rand"
	"testing"

	"github.com/tgvault/tgvault/sessionstring"
)

// TestClientString: each served library's string holds the relay key on
// the account's home DC; Telethon's, mtcute's and gotd's name the relay's
// own address, GramJS's and Pyrogram's (ViaSOCKS) Telegram's, which the
// SOCKS5 front maps back; a format no relay client uses is refused.
func TestClientString(t *testing.T) {
	t.Parallel()
	b := make([]byte, sessionstring.AuthKeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	key, err := sessionstring.NewAuthKey(b)
	if err != nil {
		t.Fatal(err)
	}
	m := Minted{Session: Session{ID: "0123456789abcdef", DC: 2}, Key: key, Host: "127.0.0.1", Port: 40123, SOCKS5: "127.0.0.1:40124",
		Identity: Identity{UserID: 123456789, APIID: 17349}}
	socks := map[sessionstring.Format]bool{sessionstring.GramJS: true, sessionstring.Pyrogram: true}
	for _, f := range ClientFormats {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			if ViaSOCKS(f) != socks[f] {
				t.Fatalf("ViaSOCKS = %v", ViaSOCKS(f))
			}
			str, err := m.ClientString(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := sessionstring.DecodeAs(f, str)
			if err != nil {
				t.Fatal(err)
			}
			if !out.AuthKey.Equal(key) || out.DCID != 2 {
				t.Fatalf("read back key %v on DC %d", out.AuthKey.ID(), out.DCID)
			}
			host, hasHost := out.Host.Get()
			port, _ := out.Port.Get()
			switch {
			case !hasHost:
				if !socks[f] {
					t.Fatal("no address in a direct client's string")
				}
			case socks[f] && (host == m.Host || port != 443):
				t.Fatalf("SOCKS5 client's string names %s:%d, want Telegram's DC 2", host, port)
			case !socks[f] && (host != m.Host || port != m.Port):
				t.Fatalf("string names %s:%d, want the relay's %s:%d", host, port, m.Host, m.Port)
			}
		})
	}
	if _, err := m.ClientString(sessionstring.MTKruto); err == nil {
		t.Error("an MTKruto string was made")
	}
}
