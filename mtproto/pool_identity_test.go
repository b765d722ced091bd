package mtproto

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// TestPoolLearnsIdentity: an account whose store lacks the user id, bot
// flag and test mode (an imported Telethon string) gets them recorded on
// its first connect, from the server's answer to "who am I" and the
// environment of its config; a store whose known field the server
// contradicts is not changed, and the account fails with
// ErrIdentityMismatch naming the field.
func TestPoolLearnsIdentity(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(4)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		final = map[string]error{}
		done  = make(chan struct{})
	)
	const accounts = 4
	pool := NewPool(PoolOptions{Client: serverOptions(srv), OnStatus: func(name string, s Status, err error) {
		mu.Lock()
		defer mu.Unlock()
		if s != StatusReady && !s.Final() {
			return
		}
		if _, seen := final[name]; seen {
			return
		}
		if s == StatusReady {
			err = nil
		} else if err == nil {
			err = errors.New(s.String())
		}
		final[name] = err
		if len(final) == accounts {
			close(done)
		}
	}})
	stores := map[string]*storage.Memory{}
	add := func(name string, r storage.SessionRow) {
		m := mttest.NewMemory(t)
		if err := m.SetSession(r); err != nil {
			t.Fatal(err)
		}
		stores[name] = m
		if err := pool.Add(name, m); err != nil {
			t.Fatal(err)
		}
	}
	bare := func(i int) storage.SessionRow {
		return storage.SessionRow{DCID: seeds[i].DC, AuthKey: seeds[i].Key}
	}
	add("bare", bare(0))
	wrongUser := bare(1)
	wrongUser.UserID = sessionstring.Some(seeds[1].UserID + 1)
	add("wrong-user", wrongUser)
	wrongBot := bare(2)
	wrongBot.IsBot = sessionstring.Some(true)
	add("wrong-bot", wrongBot)
	wrongTest := bare(3)
	wrongTest.TestMode = sessionstring.Some(true) // the dev server's config says production
	add("wrong-test", wrongTest)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = pool.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(2 * mttest.ConnectTimeout()):
		t.Fatal("accounts did not settle")
	}
	mu.Lock()
	defer mu.Unlock()
	if err := final["bare"]; err != nil {
		t.Fatalf("bare: %v", err)
	}
	r := row(t, stores["bare"])
	if r.UserID != sessionstring.Some(seeds[0].UserID) || r.IsBot != sessionstring.Some(false) || r.TestMode != sessionstring.Some(false) {
		t.Errorf("bare after connect: user %v bot %v test %v; want %d false false", r.UserID, r.IsBot, r.TestMode, seeds[0].UserID)
	}
	for name, want := range map[string]storage.SessionRow{"wrong-user": wrongUser, "wrong-bot": wrongBot, "wrong-test": wrongTest} {
		if err := final[name]; !errors.Is(err, ErrIdentityMismatch) {
			t.Errorf("%s: %v, want ErrIdentityMismatch", name, err)
		}
		got := row(t, stores[name])
		if got.UserID != want.UserID || got.IsBot != want.IsBot || got.TestMode != want.TestMode {
			t.Errorf("%s: the store changed: user %v bot %v test %v", name, got.UserID, got.IsBot, got.TestMode)
		}
	}
}
