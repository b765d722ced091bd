package mtproto

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/tgvault/tgvault/internal/socks5test"
)

// TestDialThroughSOCKS5: with Options.Dial set to a SOCKS5 dialer, the
// client reaches the server through the proxy (and only through it); a
// wrong proxy password fails the connect without reaching the server.
func TestDialThroughSOCKS5(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	proxy, err := socks5test.Start("u", "secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	store := newMemory(t)
	seedStore(t, store, seeds[0].Key, seeds[0].DC, seeds[0].UserID)

	dialer := func(pass string) func(ctx context.Context, network, addr string) (net.Conn, error) {
		d, err := xproxy.SOCKS5("tcp", proxy.Addr(), &xproxy.Auth{User: "u", Password: pass}, xproxy.Direct)
		if err != nil {
			t.Fatal(err)
		}
		return d.(xproxy.ContextDialer).DialContext
	}
	opts := serverOptions(srv)
	opts.Dial = dialer("secret")
	id, err := runSelf(t.Context(), store, opts)
	if err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if id.UserID != seeds[0].UserID {
		t.Errorf("user %d, want %d", id.UserID, seeds[0].UserID)
	}
	if proxy.Relayed() < 1 {
		t.Fatalf("the proxy relayed %d connections", proxy.Relayed())
	}
	for _, target := range proxy.Targets() {
		if target != srv.Addr() {
			t.Errorf("the proxy was asked for %s, want the server %s", target, srv.Addr())
		}
	}
	if n := srv.Stats().Connections[seeds[0].Key.ID()]; n < 1 {
		t.Errorf("the server saw %d connections for the key", n)
	}

	relayed := proxy.Relayed()
	opts.Dial = dialer("wrong")
	opts.ConnectTimeout = 2 * time.Second
	_, err = runSelf(t.Context(), store, opts)
	if err == nil {
		t.Fatal("a wrong proxy password connected")
	}
	if !errors.Is(err, ErrConnectTimeout) {
		t.Logf("wrong proxy password: %v", err)
	}
	if proxy.Relayed() != relayed || proxy.Refused() < 1 {
		t.Errorf("wrong password: relayed %d more, refused %d", proxy.Relayed()-relayed, proxy.Refused())
	}
}
