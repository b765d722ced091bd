package mtproto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

func TestPool(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(12)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu         sync.Mutex
		connecting = map[string]bool{}
		peak       int
		final      = map[string]Status{}
		allFinal   = make(chan struct{})
	)
	want := map[string]Status{}
	pool := NewPool(PoolOptions{
		Client:        serverOptions(srv),
		MaxConnecting: 3,
		OnStatus: func(name string, s Status, err error) {
			mu.Lock()
			defer mu.Unlock()
			if s == StatusConnecting {
				connecting[name] = true
			} else {
				delete(connecting, name)
			}
			peak = max(peak, len(connecting))
			if s == StatusReady || s.Final() {
				if _, seen := final[name]; !seen {
					final[name] = s
					if len(final) == len(want) {
						close(allFinal)
					}
				}
			}
		},
	})
	add := func(name string, store storage.Storage, st Status) {
		t.Helper()
		want[name] = st
		if err := pool.Add(name, store); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range seeds[:9] {
		m := mttest.NewMemory(t)
		mttest.SeedStore(t, m, s.Key, s.DC, s.UserID)
		add(fmt.Sprint("ok", i), m, StatusReady)
	}
	revoked := mttest.NewMemory(t)
	mttest.SeedStore(t, revoked, seeds[9].Key, seeds[9].DC, seeds[9].UserID)
	if err := srv.RevokeKey(seeds[9].Key.ID()); err != nil {
		t.Fatal(err)
	}
	add("revoked", revoked, StatusUnauthorized)
	lost := mttest.NewMemory(t)
	mttest.SeedStore(t, lost, seeds[10].Key, seeds[10].DC, seeds[10].UserID)
	if err := srv.ForgetKey(seeds[10].Key.ID()); err != nil {
		t.Fatal(err)
	}
	add("lost", lost, StatusKeyLost)
	add("empty", mttest.NewMemory(t), StatusNoSession)
	add("broken", failingStore{mttest.NewMemory(t), errBroken}, StatusFailed)
	// An imported session without a user id (a Telethon string, say).
	anon := mttest.NewMemory(t)
	if err := anon.SetSession(storage.SessionRow{DCID: seeds[11].DC, AuthKey: seeds[11].Key, TestMode: sessionstring.Some(false)}); err != nil {
		t.Fatal(err)
	}
	add("anon", anon, StatusReady)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	select {
	case <-allFinal:
	case <-time.After(2 * mttest.ConnectTimeout()):
		t.Fatal("accounts did not settle")
	}
	mu.Lock()
	for name, st := range want {
		if final[name] != st {
			t.Errorf("%s: %v, want %v", name, final[name], st)
		}
	}
	if peak > 3 {
		t.Errorf("%d connects in flight, want at most 3", peak)
	}
	mu.Unlock()

	for i, s := range seeds[:9] {
		err := pool.Do(t.Context(), fmt.Sprint("ok", i), func(ctx context.Context, c *Client) error {
			id, err := c.Self(ctx)
			if err == nil && id.UserID != s.UserID {
				err = fmt.Errorf("self %d, want %d", id.UserID, s.UserID)
			}
			return err
		})
		if err != nil {
			t.Error(err)
		}
	}
	if err := pool.Do(t.Context(), "revoked", func(context.Context, *Client) error { return nil }); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Do on revoked: %v", err)
	}
	if err := pool.Do(t.Context(), "nobody", func(context.Context, *Client) error { return nil }); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("Do on unknown: %v", err)
	}
	if uid, ok := row(t, anon).UserID.Get(); !ok || uid != seeds[11].UserID {
		t.Errorf("anon user id = %d, %v; want %d recorded", uid, ok, seeds[11].UserID)
	}
	if n := srv.Stats().KeyExchanges; n != 0 {
		t.Errorf("key exchanges = %d, want 0: a pool never creates keys", n)
	}
	if !row(t, lost).AuthKey.Equal(seeds[10].Key) || !row(t, revoked).AuthKey.Equal(seeds[9].Key) {
		t.Error("a stored key changed")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st, _ := pool.Status("ok0"); st != StatusStopped {
		t.Errorf("after stop: %v", st)
	}
}

// TestPoolRetriesUnreachable: an account whose server refuses connections
// is unreachable at once (not after the connect deadline), with the dial's
// error; a call fails naming that state (after one more try) instead of
// timing out; once a server listens there again, a call brings the
// account back without waiting out the back-off. A server that accepts
// and stays silent is still the connect deadline's (retrying), and a call
// that times out says which state the account was in.
func TestPoolRetriesUnreachable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := devserver.Open(devserver.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	seeds, err := first.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	opts := serverOptions(first)
	first.Close()
	// A port nothing listens on (for now).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	opts.Server.Addr = addr
	states := make(chan Status, 64)
	pool := NewPool(PoolOptions{Client: opts, MaxBackoff: time.Hour, OnStatus: func(_ string, s Status, err error) {
		if s == StatusUnreachable && !errors.Is(err, ErrUnreachable) {
			t.Errorf("unreachable with %v", err)
		}
		select {
		case states <- s:
		default:
		}
	}})
	m := mttest.NewMemory(t)
	mttest.SeedStore(t, m, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	if err := pool.Add("a", m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	start := time.Now()
	for s := range states {
		if s == StatusUnreachable {
			break
		}
		if s == StatusRetrying {
			t.Fatal("retrying, not unreachable: the refused dial was not recognised")
		}
	}
	if d := time.Since(start); d > opts.ConnectTimeout/2 {
		t.Errorf("unreachable after %v: the connect deadline (%v) was waited out", d, opts.ConnectTimeout)
	}
	_, serr := pool.Status("a")
	t.Logf("the state's error: %v", serr)
	if !strings.Contains(serr.Error(), addr) || !strings.Contains(serr.Error(), "refused") {
		t.Errorf("the state's error does not name the address and the refusal: %v", serr)
	}
	// A call: one more try at once, then the state, well before its
	// deadline.
	dctx, dcancel := context.WithTimeout(t.Context(), time.Minute)
	defer dcancel()
	err = pool.Do(dctx, "a", func(context.Context, *Client) error { return nil })
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("Do on an unreachable account: %v", err)
	}
	// (The local API answers it 503 "unreachable": localapi's
	// TestWriteErrorRPC.)
	// The server is back on the same address: a call does not wait for
	// the back-off (an hour at most here, a second by now).
	srv, err := devserver.Open(devserver.Options{Dir: dir, Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx) }()
	defer func() {
		scancel()
		<-served
		srv.Close()
	}()
	time.Sleep(2500 * time.Millisecond) // past the first back-off: the account is waiting its second
	for err := errors.New("first"); err != nil; {
		err = pool.Do(dctx, "a", func(ctx context.Context, c *Client) error {
			_, err := c.Self(ctx)
			return err
		})
		if err != nil && !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Do once the server is back: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPoolSilentServer: a server that accepts connections and never
// answers is the connect deadline's: retrying with ErrConnectTimeout, and
// a call that runs out of time names the state it waited in.
func TestPoolSilentServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	opts := serverOptions(srv)
	opts.Server.Addr = ln.Addr().String()
	opts.ConnectTimeout = 200 * time.Millisecond
	retries := make(chan error, 16)
	pool := NewPool(PoolOptions{Client: opts, OnStatus: func(_ string, s Status, err error) {
		if s == StatusRetrying {
			select {
			case retries <- err:
			default:
			}
		}
	}})
	m := mttest.NewMemory(t)
	mttest.SeedStore(t, m, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	if err := pool.Add("a", m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	for range 2 {
		if err := <-retries; !errors.Is(err, ErrConnectTimeout) {
			t.Errorf("retry cause: %v", err)
		}
	}
	dctx, dcancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer dcancel()
	err = pool.Do(dctx, "a", func(context.Context, *Client) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "account still") {
		t.Errorf("Do while retrying: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
