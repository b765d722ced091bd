package localapi

import (
	"context"
	"errors"
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto"
)

// waitFor polls cond until it holds or the test's connect budget runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * mttest.ConnectTimeout())
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	p := startAPIPool(t, 2, 0, mtproto.PoolOptions{KeepAlive: 50 * time.Millisecond})
	p.waitSettled(t)
	getState := uint32(tdtg.UpdatesGetStateRequestTypeID)
	waitFor(t, "keep-alive calls on the server", func() bool { return p.srv.Stats().Calls[getState] >= 6 })
	if got := p.scrape(t)[`tgvault_keepalives_total{outcome="ok"}`]; got < 6 {
		t.Errorf("keep-alives counted %v, want >= 6", got)
	}

	// A keep-alive that finds the session revoked ends the account.
	if err := p.srv.RevokeKey(p.seeds[1].Key.ID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a1 to be unauthorized", func() bool {
		st, _ := p.pool.Status("a1")
		return st == mtproto.StatusUnauthorized
	})
	if _, err := p.pool.Status("a1"); !errors.Is(err, mtproto.ErrUnauthorized) {
		t.Errorf("a1's error = %v, want ErrUnauthorized", err)
	}
	if st, _ := p.pool.Status("a0"); st != mtproto.StatusReady {
		t.Errorf("a0 is %s, want ready", st)
	}
}

func TestKeepAliveOff(t *testing.T) {
	t.Parallel()
	p := startAPIPool(t, 1, 0, mtproto.PoolOptions{KeepAlive: -1})
	p.waitSettled(t)
	// Calls of the client itself, after the keep-alive would have run
	// many times over.
	if err := p.pool.Do(t.Context(), "a0", func(ctx context.Context, c *mtproto.Client) error {
		time.Sleep(200 * time.Millisecond)
		_, err := c.Self(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := p.srv.Stats().Calls[uint32(tdtg.UpdatesGetStateRequestTypeID)]; got != 0 {
		t.Errorf("%d updates.getState calls with keep-alives off", got)
	}
}
