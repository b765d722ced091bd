package mtproto

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mtproxytest"
	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/mtproto/dial"
)

const testMTProxyKey = "0123456789abcdeffedcba9876543210"

// unreachable is an address nothing listens on: with an MTProxy the client
// must never dial the server address itself.
func unreachable(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func startMTProxy(t *testing.T, secret []byte, srv *devserver.Server) *mtproxytest.Server {
	t.Helper()
	p, err := mtproxytest.Start(secret, map[int]string{srv.DC(): srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// TestMTProxyConnect: through an MTProxy of each secret type a bot logs in
// (a real key exchange through the proxy) and a seeded account calls; the
// server address itself is unreachable, so every byte went through the
// proxy, which was asked for the account's DC.
func TestMTProxyConnect(t *testing.T) {
	t.Parallel()
	key, _ := hex.DecodeString(testMTProxyKey)
	for _, tc := range []struct {
		name   string
		secret []byte
	}{
		{"plain", key},
		{"dd", append([]byte{0xdd}, key...)},
		{"faketls", append(append([]byte{0xee}, key...), "example.com"...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mttest.StartServer(t, devserver.Options{})
			proxy := startMTProxy(t, tc.secret, srv)
			opts := serverOptions(srv)
			opts.Server.Addr = unreachable(t)
			opts.MTProxy = &dial.MTProxy{Addr: proxy.Addr(), Secret: tc.secret}

			botID, token, err := srv.AddBot("proxied")
			if err != nil {
				t.Fatal(err)
			}
			store := mttest.NewMemory(t)
			start := time.Now()
			id, err := LoginBot(t.Context(), store, token, opts)
			if err != nil {
				t.Fatalf("LoginBot through the MTProxy: %v", err)
			}
			t.Logf("login through the %s MTProxy: %v", tc.name, time.Since(start))
			if id.UserID != botID {
				t.Errorf("user %d, want %d", id.UserID, botID)
			}
			k := row(t, store).AuthKey
			if n := srv.Stats().Connections[k.ID()]; n < 1 {
				t.Errorf("the server saw %d connections for the new key", n)
			}
			if proxy.Relayed() < 1 {
				t.Fatalf("the proxy relayed %d connections", proxy.Relayed())
			}
			for _, dc := range proxy.DCs() {
				if dc != srv.DC() {
					t.Errorf("the proxy was asked for DC %d, want %d", dc, srv.DC())
				}
			}
			if up := proxy.Upstream(); len(up) < 1 || !strings.HasPrefix(up[0], "127.0.0.1:") {
				t.Errorf("upstream connections %v", up)
			}

			relayed := proxy.Relayed()
			again, err := runSelf(t.Context(), store, opts)
			if err != nil || again.UserID != botID {
				t.Fatalf("self through the MTProxy: %+v, %v", again, err)
			}
			if proxy.Relayed() <= relayed {
				t.Errorf("the second client did not go through the proxy")
			}
		})
	}
}

// TestMTProxyWrongSecret: a client with the wrong secret never reaches the
// server; it fails with ErrConnectTimeout naming the proxy, never the
// secret, and the proxy refused it.
func TestMTProxyWrongSecret(t *testing.T) {
	t.Parallel()
	key, _ := hex.DecodeString(testMTProxyKey)
	wrong, _ := hex.DecodeString("00112233445566778899aabbccddeeff")
	for _, tc := range []struct {
		name          string
		proxy, client []byte
	}{
		{"plain", key, wrong},
		{"dd", append([]byte{0xdd}, key...), append([]byte{0xdd}, wrong...)},
		{"faketls", append(append([]byte{0xee}, key...), "example.com"...), append(append([]byte{0xee}, wrong...), "example.com"...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mttest.StartServer(t, devserver.Options{})
			proxy := startMTProxy(t, tc.proxy, srv)
			seeds, err := srv.SeedAccounts(1)
			if err != nil {
				t.Fatal(err)
			}
			store := mttest.NewMemory(t)
			mttest.SeedStore(t, store, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
			opts := serverOptions(srv)
			opts.Server.Addr = unreachable(t)
			opts.MTProxy = &dial.MTProxy{Addr: proxy.Addr(), Secret: tc.client}
			opts.ConnectTimeout = 2 * time.Second
			_, err = runSelf(t.Context(), store, opts)
			if !errors.Is(err, ErrConnectTimeout) {
				t.Fatalf("wrong secret: %v, want ErrConnectTimeout", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "MTProxy at "+proxy.Addr()) || strings.Contains(msg, "00112233") || strings.Contains(msg, testMTProxyKey[:8]) {
				t.Errorf("wrong secret error: %s", msg)
			}
			if proxy.Relayed() != 0 || proxy.Refused() < 1 {
				t.Errorf("relayed %d, refused %d", proxy.Relayed(), proxy.Refused())
			}
			if n := srv.Stats().Connections[seeds[0].Key.ID()]; n != 0 {
				t.Errorf("the server saw %d connections for the key", n)
			}
		})
	}
}

// TestMTProxyPool: a pool account whose client goes through an MTProxy
// becomes ready and its calls work.
func TestMTProxyPool(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	secret, err := dial.ParseMTProxySecret("dd" + testMTProxyKey)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startMTProxy(t, secret, srv)
	seeds, err := srv.SeedAccounts(2)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 4)
	pool := NewPool(PoolOptions{Client: serverOptions(srv), OnStatus: func(name string, s Status, err error) {
		if s == StatusReady || s.Final() {
			ready <- name + " " + s.String()
		}
	}})
	direct, proxied := mttest.NewMemory(t), mttest.NewMemory(t)
	mttest.SeedStore(t, direct, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	mttest.SeedStore(t, proxied, seeds[1].Key, seeds[1].DC, seeds[1].UserID)
	if err := pool.Add("direct", direct); err != nil {
		t.Fatal(err)
	}
	opts := serverOptions(srv)
	opts.Server.Addr = unreachable(t)
	opts.MTProxy = &dial.MTProxy{Addr: proxy.Addr(), Secret: secret}
	if err := pool.AddClient("proxied", proxied, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for range 2 {
		select {
		case s := <-ready:
			if !strings.HasSuffix(s, " "+StatusReady.String()) {
				t.Fatalf("account %s", s)
			}
		case <-time.After(mttest.ConnectTimeout()):
			t.Fatal("the accounts did not become ready")
		}
	}
	var id Identity
	if err := pool.Do(ctx, "proxied", func(ctx context.Context, c *Client) error {
		var err error
		id, err = c.Self(ctx)
		return err
	}); err != nil {
		t.Fatalf("a call through the MTProxy: %v", err)
	}
	if id.UserID != seeds[1].UserID {
		t.Errorf("user %d, want %d", id.UserID, seeds[1].UserID)
	}
	if proxy.Relayed() < 1 {
		t.Errorf("the proxy relayed %d connections", proxy.Relayed())
	}
	if n := srv.Stats().Connections[seeds[1].Key.ID()]; n < 1 {
		t.Errorf("the server saw %d connections for the proxied key", n)
	}
}
