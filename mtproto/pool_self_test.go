package mtproto

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// TestPoolOneSelfPerConnect: a pool's connect asks the server who the
// account is once. gotd asks on every connect in updates mode (a pool runs
// in it), and the pool takes that answer (connectSelf) instead of asking
// again: each ready account cost two users.getUsers before, in the pool
// and on the server.
func TestPoolOneSelfPerConnect(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	const n = 4
	seeds, err := srv.SeedAccounts(n)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ready := map[string]bool{}
	all := make(chan struct{})
	pool := NewPool(PoolOptions{
		Client: serverOptions(srv),
		OnStatus: func(name string, s Status, err error) {
			mu.Lock()
			defer mu.Unlock()
			if s == StatusReady && !ready[name] {
				if ready[name] = true; len(ready) == n {
					close(all)
				}
			}
		},
	})
	for i, s := range seeds {
		m := mttest.NewMemory(t)
		mttest.SeedStore(t, m, s.Key, s.DC, s.UserID)
		if err := pool.Add(fmt.Sprint("a", i), m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	select {
	case <-all:
	case <-time.After(2 * mttest.ConnectTimeout()):
		t.Fatal("accounts did not get ready")
	}
	// gotd's own call ends with the answer the pool took; nothing else
	// runs on a ready account (keep-alives are 20 minutes apart).
	if ok, failed := pool.metrics.rpcOK.Load(), pool.metrics.rpcFailed.Load(); ok != n || failed != 0 {
		t.Errorf("%d calls answered and %d failed for %d connects; want one users.getUsers each", ok, failed, n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
