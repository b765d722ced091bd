package relay

import (
	"context"
	"sync"
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/sessionstring"
)

// TestRelayHundredSessions: 100 relay sessions of one account at once,
// each a client connection with its own upstream session, all answered;
// the dev server sees the account's key from one place only (0
// DuplicateAddrs) and makes no key.
func TestRelayHundredSessions(t *testing.T) {
	t.Parallel()
	const n = 100
	f := newRelayFixture(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for range n {
		m, err := f.relay.Mint(ctx, MintRequest{Account: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			u, err := dialUpstream(ctx, upstreamConfig{DC: m.DC, Key: m.Key, Dial: devDial(map[int]string{m.DC: m.addr()}), Timeout: testTimeout()})
			if err != nil {
				errs <- err
				return
			}
			defer u.Close()
			cctx, cancel := context.WithTimeout(ctx, testTimeout())
			defer cancel()
			_, err = u.Invoke(cctx, wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}})))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d sessions, one call each, in %s", n, time.Since(start).Round(time.Millisecond))
	if got := len(f.relay.Sessions()); got != n {
		t.Fatalf("%d sessions listed, want %d", got, n)
	}
	st := f.srv.Stats()
	if st.KeyExchanges != 0 || st.DuplicateAddrs != 0 {
		t.Fatalf("dev server: %d key exchanges, %d duplicate addresses; want 0, 0", st.KeyExchanges, st.DuplicateAddrs)
	}
}

// TestMintedStrings: a minted session encodes in every library's format
// and reads back as the relay key at the relay's address (Telegram's own
// address for SOCKS5 clients, whose strings need one: GramJS keeps ports
// as int16, Pyrogram keeps no address).
func TestMintedStrings(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t)
	m, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	socks, err := m.SOCKSSessionString()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format sessionstring.Format
		socks  bool
	}{
		{sessionstring.Telethon, false},
		{sessionstring.Mtcute, false},
		{sessionstring.Gotd, false},
		{sessionstring.GramJS, true},
		{sessionstring.Pyrogram, true},
	} {
		t.Run(tc.format.String(), func(t *testing.T) {
			in := m.SessionString()
			if tc.socks {
				in = socks
			}
			str, err := sessionstring.Encode(tc.format, in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := sessionstring.DecodeAs(tc.format, str)
			if err != nil {
				t.Fatal(err)
			}
			if out.AuthKey.ID() != m.Key.ID() || out.DCID != m.DC {
				t.Fatalf("read back key %v DC %d; want the relay key on DC %d", out.AuthKey.ID(), out.DCID, m.DC)
			}
			if h, ok := out.Host.Get(); ok && !tc.socks && h != m.Host {
				t.Fatalf("host %s, want the relay's %s", h, m.Host)
			}
		})
	}
}
