package mtproto

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/internal/socks5test"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/mtproto/dial"
)

const proxyPass = "hunter2-proxy-pw"

// fastFail bounds how long a refused proxy login may take to fail: far
// below the connect deadline (a minute, five under the race detector),
// which is what the client waited for before ErrProxyAuth.
const fastFail = 5 * time.Second

func startProxy(t *testing.T, user, pass string) *socks5test.Server {
	t.Helper()
	p, err := socks5test.Start(user, pass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func socks5Dial(t *testing.T, addr, user, pass string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	t.Helper()
	d, err := dial.SOCKS5(addr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDialThroughSOCKS5: with Options.Dial set to a SOCKS5 dialer, the
// client reaches the server through the proxy (and only through it).
func TestDialThroughSOCKS5(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	proxy := startProxy(t, "u", proxyPass)
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, seeds[0].Key, seeds[0].DC, seeds[0].UserID)

	opts := serverOptions(srv)
	opts.Dial = socks5Dial(t, proxy.Addr(), "u", proxyPass)
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
}

// TestProxyAuthFailsFast: a proxy that refuses the login (a wrong
// password, no login where one is needed, a login where none is taken)
// fails the client with ErrProxyAuth at once, not at the connect deadline,
// without reaching the server and without the password in the error.
func TestProxyAuthFailsFast(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	withLogin := startProxy(t, "u", proxyPass)
	open := startProxy(t, "", "")

	for _, tt := range []struct {
		name       string
		proxy      *socks5test.Server
		user, pass string
	}{
		{"wrong password", withLogin, "u", "wrong-" + proxyPass},
		{"wrong user", withLogin, "v", proxyPass},
		{"no login", withLogin, "", ""},
		{"login not taken", open, "u", proxyPass},
	} {
		t.Run(tt.name, func(t *testing.T) {
			refused := tt.proxy.Refused()
			opts := serverOptions(srv)
			opts.Dial = socks5Dial(t, tt.proxy.Addr(), tt.user, tt.pass)
			start := time.Now()
			_, err := runSelf(t.Context(), store, opts)
			took := time.Since(start)
			if !errors.Is(err, ErrProxyAuth) || errors.Is(err, ErrConnectTimeout) {
				t.Fatalf("error %v, want ErrProxyAuth", err)
			}
			if took > fastFail {
				t.Errorf("failed after %s, want at once (connect deadline %s)", took, opts.ConnectTimeout)
			}
			if tt.pass != "" && strings.Contains(err.Error(), tt.pass) {
				t.Errorf("the error shows the password: %v", err)
			}
			if tt.proxy.Refused() <= refused {
				t.Errorf("the proxy refused no login")
			}
			t.Logf("%s after %s", err, took)
		})
	}
	if n := srv.Stats().Connections[seeds[0].Key.ID()]; n != 0 {
		t.Errorf("the server saw %d connections for the key", n)
	}
	if withLogin.Relayed() != 0 || open.Relayed() != 0 {
		t.Errorf("refused logins were relayed")
	}
}

// TestProxyDownIsTransient: a proxy that is not there (connection
// refused) is not a login refusal: gotd retries it until the connect
// deadline, and a pool keeps retrying the account.
func TestProxyDownIsTransient(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	gone := startProxy(t, "u", proxyPass)
	addr := gone.Addr()
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	opts := serverOptions(srv)
	opts.Dial = socks5Dial(t, addr, "u", proxyPass)
	opts.ConnectTimeout = 300 * time.Millisecond
	// The proxy refuses connections: unreachable, at once.
	if _, err := runSelf(t.Context(), store, opts); !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrProxyAuth) {
		t.Fatalf("proxy down: %v, want ErrUnreachable", err)
	}

	retries := make(chan error, 16)
	pool := NewPool(PoolOptions{Client: opts, OnStatus: func(_ string, s Status, err error) {
		switch {
		case s == StatusRetrying, s == StatusUnreachable:
			select {
			case retries <- err:
			default:
			}
		case s.Final() && s != StatusStopped:
			t.Errorf("proxy down: final %s (%v)", s, err)
		}
	}})
	if err := pool.Add("a", store); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	for range 2 {
		if err := <-retries; !errors.Is(err, ErrUnreachable) {
			t.Errorf("retry cause: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPoolProxyAuthFinal: in a pool, an account whose proxy refuses the
// login goes final (StatusProxyAuth, with ErrProxyAuth) at once and is not
// retried; Do and the local API say why; an account with the right
// password beside it connects.
func TestPoolProxyAuthFinal(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	proxy := startProxy(t, "u", proxyPass)
	seeds, err := srv.SeedAccounts(2)
	if err != nil {
		t.Fatal(err)
	}
	type change struct {
		name string
		s    Status
		err  error
	}
	settled := make(chan change, 4)
	pool := NewPool(PoolOptions{OnStatus: func(name string, s Status, err error) {
		if s == StatusReady || s == StatusRetrying || s.Final() && s != StatusStopped {
			settled <- change{name, s, err}
		}
	}})
	add := func(name string, i int, pass string) {
		t.Helper()
		m := mttest.NewMemory(t)
		mttest.SeedStore(t, m, seeds[i].Key, seeds[i].DC, seeds[i].UserID)
		opts := serverOptions(srv)
		opts.Dial = socks5Dial(t, proxy.Addr(), "u", pass)
		if err := pool.AddClient(name, m, opts); err != nil {
			t.Fatal(err)
		}
	}
	add("good", 0, proxyPass)
	add("bad", 1, "wrong-"+proxyPass)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- pool.Run(ctx) }()
	got := map[string]change{}
	for len(got) < 2 {
		c := <-settled
		if _, seen := got[c.name]; seen {
			t.Errorf("%s changed again: %s (%v)", c.name, c.s, c.err)
			continue
		}
		got[c.name] = c
		if c.name == "bad" {
			if took := time.Since(start); took > fastFail {
				t.Errorf("bad went %s after %s, want at once", c.s, took)
			}
		}
	}
	if c := got["good"]; c.s != StatusReady {
		t.Errorf("good: %s (%v), want ready", c.s, c.err)
	}
	if c := got["bad"]; c.s != StatusProxyAuth || !c.s.Final() || !errors.Is(c.err, ErrProxyAuth) {
		t.Errorf("bad: %s (%v), want final proxy_auth with ErrProxyAuth", c.s, c.err)
	}
	if st, err := pool.Status("bad"); st != StatusProxyAuth || !errors.Is(err, ErrProxyAuth) {
		t.Errorf("Status(bad): %s, %v", st, err)
	}
	if err := pool.Do(t.Context(), "bad", func(context.Context, *Client) error { return nil }); !errors.Is(err, ErrProxyAuth) {
		t.Errorf("Do(bad): %v, want ErrProxyAuth", err)
	}
	// What the local API answers (409 proxy_auth: localapi's
	// TestWriteErrorRPC) is this error's text: about the proxy, without
	// the password.
	self := func(name string) error {
		return pool.Do(t.Context(), name, func(ctx context.Context, c *Client) error { _, err := c.Self(ctx); return err })
	}
	if err := self("bad"); err == nil || !strings.Contains(err.Error(), "proxy") || strings.Contains(err.Error(), proxyPass) {
		t.Errorf("bad's self: %v, want an error about the proxy, without the password", err)
	}
	if err := self("good"); err != nil {
		t.Errorf("good's self: %v", err)
	}
	refused := proxy.Refused()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := proxy.Refused(); n != 1 || refused != 1 {
		t.Errorf("the proxy refused %d logins (%d before the stop), want 1: the account was retried", n, refused)
	}
	select {
	case c := <-settled:
		t.Errorf("%s changed again: %s (%v)", c.name, c.s, c.err)
	default:
	}
}
