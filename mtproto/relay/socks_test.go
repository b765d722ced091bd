package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	tdcrypto "github.com/gotd/td/crypto"
	tdsession "github.com/gotd/td/session"
	tdtelegram "github.com/gotd/td/telegram"
	tddcs "github.com/gotd/td/telegram/dcs"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/dial"
	"github.com/tgvault/tgvault/sessionstring"
)

// TestRelaySOCKS5: a gotd client that knows only Telegram's built-in
// address of DC 2 (Pyrogram's, whose strings carry no address) and the
// relay's SOCKS5 front reaches the relay as DC 2 and uses the account.
func TestRelaySOCKS5(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t)
	m, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if m.SOCKS5 == "" {
		t.Fatal("no SOCKS5 front")
	}
	host, port, ok := sessionstring.DCAddress(m.DC, false)
	if !ok {
		t.Fatalf("no built-in address of DC %d", m.DC)
	}
	dialFn, err := dial.SOCKS5(m.SOCKS5, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var k tdcrypto.Key
	copy(k[:], m.Key.Bytes())
	withID := k.WithID()
	store := new(tdsession.StorageMemory)
	addr := net.JoinHostPort(host, fmt.Sprint(port))
	if err := (&tdsession.Loader{Storage: store}).Save(t.Context(), &tdsession.Data{DC: m.DC, Addr: addr, AuthKey: withID.Value[:], AuthKeyID: withID.ID[:]}); err != nil {
		t.Fatal(err)
	}
	c := tdtelegram.NewClient(17349, "344583e45741c457fe1862106095a5eb", tdtelegram.Options{
		DC:             m.DC,
		DCList:         tddcs.List{Options: []tdtg.DCOption{{ID: m.DC, IPAddress: host, Port: port}}},
		Resolver:       tddcs.Plain(tddcs.PlainOptions{Dial: dialFn}),
		SessionStorage: store,
		NoUpdates:      true,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*testTimeout())
	defer cancel()
	err = c.Run(ctx, func(ctx context.Context) error {
		users, err := c.API().UsersGetUsers(ctx, []tdtg.InputUserClass{&tdtg.InputUserSelf{}})
		if err != nil {
			return err
		}
		if u, ok := users[0].(*tdtg.User); !ok || u.ID != f.seed.UserID {
			return fmt.Errorf("get me: %v", users)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := f.srv.Stats(); st.KeyExchanges != 0 {
		t.Errorf("%d key exchanges at the dev server", st.KeyExchanges)
	}
}

// TestRelaySOCKS5Refuses: the front is no open proxy: a destination that
// is not a Telegram DC, a command other than CONNECT, and a client that
// offers no "no authentication" method are refused.
func TestRelaySOCKS5Refuses(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t)
	m, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		send  []byte
		reply []byte // the expected answer before the close
	}{
		{"not a DC", []byte{5, 1, 0, 5, 1, 0, 1, 10, 1, 2, 3, 0, 80}, []byte{5, 0, 5, socksNotAllowed}},
		{"bind", []byte{5, 1, 0, 5, 2, 0, 1, 149, 154, 167, 51, 1, 187}, []byte{5, 0, 5, socksCmdUnsup}},
		{"password only", []byte{5, 1, 2}, []byte{5, socksNoMethod}},
		{"domain not a DC", append([]byte{5, 1, 0, 5, 1, 0, 3, 11}, append([]byte("example.com"), 0, 80)...), []byte{5, 0, 5, socksNotAllowed}},
		{"socks4", []byte{4, 1, 0, 80, 149, 154, 167, 51, 0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", m.SOCKS5)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			_ = nc.SetReadDeadline(time.Now().Add(testTimeout()))
			got, err := io.ReadAll(nc)
			if err != nil && (tc.reply != nil || errors.Is(err, os.ErrDeadlineExceeded)) {
				t.Fatalf("read: %v", err) // a reset is a close, when nothing is expected first
			}
			if len(got) < len(tc.reply) || string(got[:len(tc.reply)]) != string(tc.reply) {
				t.Fatalf("answer % x, want it to start % x", got, tc.reply)
			}
		})
	}
}
