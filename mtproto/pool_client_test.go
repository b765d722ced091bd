package mtproto

import (
	"context"
	"errors"
	"testing"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// TestPoolAddClient checks that an account added with its own options
// connects with them, beside a pool whose shared options lead nowhere.
func TestPoolAddClient(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	m := mttest.NewMemory(t)
	mttest.SeedStore(t, m, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	// The pool's own options name no server: only AddClient's can work.
	pool := NewPool(PoolOptions{Client: Options{Server: Server{Addr: "127.0.0.1:1"}}})
	opts := serverOptions(srv)
	opts.Session.AllowNewKey = true // ignored: a pool never creates keys
	if err := pool.AddClient("a", m, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = pool.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	var id Identity
	callCtx, stop := context.WithTimeout(ctx, 2*mttest.ConnectTimeout())
	defer stop()
	if err := pool.Do(callCtx, "a", func(ctx context.Context, c *Client) error {
		var e error
		id, e = c.Self(ctx)
		return e
	}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if id.UserID != seeds[0].UserID {
		t.Errorf("self = %d, want %d", id.UserID, seeds[0].UserID)
	}
	if st := srv.Stats(); st.KeyExchanges != 0 {
		t.Errorf("%d key exchanges, want 0", st.KeyExchanges)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	store, _ := loginBot(t, srv)
	key := row(t, store).AuthKey
	ctx, cancel := context.WithTimeout(t.Context(), 2*mttest.ConnectTimeout())
	defer cancel()
	if err := Logout(ctx, store, serverOptions(srv)); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if uid, known := srv.KeyUser(key.ID()); !known || uid != 0 {
		t.Errorf("after logout the key is logged in as %d (known %v), want 0", uid, known)
	}
	if got := row(t, store).AuthKey; got.ID() != key.ID() {
		t.Errorf("the stored key changed: %v, want %v", got.ID(), key.ID())
	}
	if err := Logout(ctx, store, serverOptions(srv)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("second Logout: %v, want ErrUnauthorized", err)
	}
}
