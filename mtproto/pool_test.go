package mtproto

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

func TestPool(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
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
		m := newMemory(t)
		seedStore(t, m, s.Key, s.DC, s.UserID)
		add(fmt.Sprint("ok", i), m, StatusReady)
	}
	revoked := newMemory(t)
	seedStore(t, revoked, seeds[9].Key, seeds[9].DC, seeds[9].UserID)
	if err := srv.RevokeKey(seeds[9].Key.ID()); err != nil {
		t.Fatal(err)
	}
	add("revoked", revoked, StatusUnauthorized)
	lost := newMemory(t)
	seedStore(t, lost, seeds[10].Key, seeds[10].DC, seeds[10].UserID)
	if err := srv.ForgetKey(seeds[10].Key.ID()); err != nil {
		t.Fatal(err)
	}
	add("lost", lost, StatusKeyLost)
	add("empty", newMemory(t), StatusNoSession)
	add("broken", failingStore{newMemory(t), errBroken}, StatusFailed)
	// An imported session without a user id (a Telethon string, say).
	anon := newMemory(t)
	if err := anon.SetSession(storage.SessionRow{DCID: seeds[11].DC, AuthKey: seeds[11].Key, TestMode: sessionstring.Some(false)}); err != nil {
		t.Fatal(err)
	}
	add("anon", anon, StatusReady)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	select {
	case <-allFinal:
	case <-time.After(2 * connectTimeout()):
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

func TestPoolRetriesUnreachable(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	opts := serverOptions(srv)
	opts.Server.Addr = "127.0.0.1:1" // nothing listens there
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
	m := newMemory(t)
	seedStore(t, m, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
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
	if err := pool.Do(dctx, "a", func(context.Context, *Client) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do while retrying: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
