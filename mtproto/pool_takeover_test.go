package mtproto

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// statusLog records a pool's status changes.
type statusLog struct {
	mu  sync.Mutex
	seq []Status
	err []error
}

func (l *statusLog) record(_ string, s Status, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq = append(l.seq, s)
	l.err = append(l.err, err)
}

func (l *statusLog) count(s Status) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.seq {
		if x == s {
			n++
		}
	}
	return n
}

func (l *statusLog) last() (Status, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seq) == 0 {
		return -1, nil
	}
	return l.seq[len(l.seq)-1], l.err[len(l.err)-1]
}

// holdKey keeps a client connected over seed until release is called;
// it returns once the client answered a call.
func holdKey(t *testing.T, srv *devserver.Server, seed devserver.Seed) (release func()) {
	t.Helper()
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, seed.Key, seed.DC, seed.UserID)
	c, err := NewClient(store, serverOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(ctx context.Context) error {
			if _, err := c.Self(ctx); err != nil {
				return err
			}
			close(ready)
			<-ctx.Done()
			return nil
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(release)
	return release
}

// runPool runs a pool with one account over seed and opts until the test
// ends.
func runPool(t *testing.T, seed devserver.Seed, opts Options, log *statusLog) *Pool {
	t.Helper()
	p := NewPool(PoolOptions{OnStatus: log.record, KeepAlive: -1})
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, seed.Key, seed.DC, seed.UserID)
	if err := p.AddClient("acct", store, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

func waitStatus(t *testing.T, p *Pool, want Status, d time.Duration) error {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if s, err := p.Status("acct"); s == want {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, err := p.Status("acct")
	t.Fatalf("status %v (%v), want %v within %v", s, err, want, d)
	return nil
}

// TestPoolNotBefore: an account does not connect before Options.NotBefore.
func TestPoolNotBefore(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	opts := serverOptions(srv)
	opts.NotBefore = time.Now().Add(1500 * time.Millisecond)
	p := runPool(t, seeds[0], opts, &statusLog{})
	time.Sleep(time.Second)
	if n := srv.Stats().Connections[seeds[0].Key.ID()]; n != 0 {
		t.Fatalf("the account connected %d times before NotBefore", n)
	}
	if s, _ := p.Status("acct"); s != StatusWaiting {
		t.Errorf("status %v before NotBefore, want waiting", s)
	}
	waitStatus(t, p, StatusReady, 2*mttest.ConnectTimeout())
	if time.Now().Before(opts.NotBefore) {
		t.Error("ready before NotBefore")
	}
}

// TestPoolDuplicateWait: with DuplicateWait, an AUTH_KEY_DUPLICATED that
// goes away (the other connection closed meanwhile, as a taken-over
// worker's does when the server's dead-man switch fires) is waited out
// and the account gets ready; one that persists on DuplicateTries
// connects is final, and its error says so. Without DuplicateWait the
// first is final.
func TestPoolDuplicateWait(t *testing.T) {
	t.Parallel()
	const wait = 500 * time.Millisecond
	for _, tc := range []struct {
		name      string
		wait      time.Duration
		releaseAt time.Duration // when the other connection closes; 0: never
		want      Status
		waits     int // duplicate_wait states at least
	}{
		{"transient", wait, wait / 2, StatusReady, 1},
		{"persistent", wait, 0, StatusDuplicated, DuplicateTries - 1},
		{"no wait", 0, 0, StatusDuplicated, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mttest.StartServer(t, devserver.Options{RejectDuplicates: true})
			seeds, err := srv.SeedAccounts(1)
			if err != nil {
				t.Fatal(err)
			}
			release := holdKey(t, srv, seeds[0])
			opts := serverOptions(srv)
			opts.DuplicateWait = tc.wait
			log := &statusLog{}
			p := runPool(t, seeds[0], opts, log)
			if tc.releaseAt > 0 {
				deadline := time.Now().Add(2 * mttest.ConnectTimeout())
				for log.count(StatusDuplicateWait) == 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(tc.releaseAt)
				release()
			}
			err = waitStatus(t, p, tc.want, 2*mttest.ConnectTimeout()+DuplicateTries*wait)
			if n := log.count(StatusDuplicateWait); n < tc.waits || tc.waits == 0 && n != 0 {
				t.Errorf("%d duplicate_wait states, want %d", n, tc.waits)
			}
			if tc.want == StatusDuplicated {
				if !errors.Is(err, ErrKeyDuplicated) {
					t.Errorf("final error %v, want ErrKeyDuplicated", err)
				}
				if persisted := strings.Contains(err.Error(), "connects in a row"); persisted != (tc.wait > 0) {
					t.Errorf("final error %q: says it persisted: %v, want %v", err, persisted, tc.wait > 0)
				}
				if s, _ := log.last(); s != StatusDuplicated {
					t.Errorf("last status %v", s)
				}
			}
		})
	}
}
