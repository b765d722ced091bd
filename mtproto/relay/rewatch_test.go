package relay

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// swapAccounts are test accounts whose Account a test may replace while
// the relay runs (the pool serving an account again after it stopped).
type swapAccounts struct {
	mu sync.Mutex
	m  map[string]*testAccount
}

func (s *swapAccounts) Account(_ context.Context, name string) (Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.m[name]
	if !ok {
		return nil, errors.New("test accounts: no such account")
	}
	return a, nil
}

func (s *swapAccounts) set(name string, a *testAccount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[name] = a
}

// TestRelayAccountServedAgain: the relay revokes the sessions of the
// Account that stopped, not of its name: a session minted on the account
// served again (a new Account, before the old one's stop was handled)
// stays and works, and is revoked when that Account stops in its turn.
func TestRelayAccountServedAgain(t *testing.T) {
	t.Parallel()
	accs := &swapAccounts{}
	f := capFixture{newRelayFixtureOn(t, mttest.StartServer(t, devserver.Options{}), func(c *Config) {
		accs.m = map[string]*testAccount(c.Accounts.(testAccounts))
		c.Accounts = accs
	}), t}
	old := f.mint("alice", Policy{})
	again := &testAccount{seed: f.acc.seed, addrs: f.acc.addrs, pub: f.acc.pub, done: make(chan struct{})}
	accs.set("alice", again)
	s := f.mint("alice", Policy{})
	open := func() []string {
		var ids []string
		for _, i := range f.relay.Sessions() {
			ids = append(ids, i.ID)
		}
		return ids
	}
	waitGone := func(id string) {
		t.Helper()
		deadline := time.Now().Add(testTimeout())
		for slices.Contains(open(), id) {
			if time.Now().After(deadline) {
				t.Fatalf("session %s was not revoked", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	close(f.acc.done) // the first Account stops
	waitGone(old.ID)
	if !slices.Contains(open(), s.ID) {
		t.Fatal("the session minted on the account served again was revoked with the old Account's")
	}
	if err := f.getMe(f.dial(s)); err != nil {
		t.Fatalf("the session of the account served again: %v", err)
	}
	close(again.done)
	waitGone(s.ID)
}
