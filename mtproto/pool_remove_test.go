package mtproto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/storage"
)

// connCounter is a client's dialer that counts the client's open
// connections, as the client sees them: a connection counts until the
// client closes it.
type connCounter struct{ open atomic.Int64 }

func (c *connCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	return &countedConn{Conn: conn, c: c}, nil
}

type countedConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.c.open.Add(-1) })
	return c.Conn.Close()
}

// removeFixture is a running pool over a dev server that rejects
// duplicated keys, with counted connections per account.
type removeFixture struct {
	t      *testing.T
	srv    *devserver.Server
	pool   *Pool
	stores map[string]storage.Storage
	conns  map[string]*connCounter
}

func newRemoveFixture(t *testing.T, n int) *removeFixture {
	t.Helper()
	srv := mttest.StartServer(t, devserver.Options{RejectDuplicates: true})
	seeds, err := srv.SeedAccounts(n)
	if err != nil {
		t.Fatal(err)
	}
	f := &removeFixture{t: t, srv: srv, pool: NewPool(PoolOptions{MaxConnecting: 4}), stores: map[string]storage.Storage{}, conns: map[string]*connCounter{}}
	for i, s := range seeds {
		name := fmt.Sprint("acct", i)
		m := mttest.NewMemory(t)
		mttest.SeedStore(t, m, s.Key, s.DC, s.UserID)
		f.stores[name] = m
		f.add(name)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.pool.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	for name := range f.stores {
		f.ready(name)
	}
	f.serverOpen(n)
	return f
}

// add adds name with a fresh connection counter.
func (f *removeFixture) add(name string) {
	f.t.Helper()
	c := &connCounter{}
	f.conns[name] = c
	opts := serverOptions(f.srv)
	opts.Dial = c.dial
	if err := f.pool.AddClient(name, f.stores[name], opts); err != nil {
		f.t.Fatal(err)
	}
}

// ready waits until name is ready and answers a call.
func (f *removeFixture) ready(name string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 2*mttest.ConnectTimeout())
	defer cancel()
	if err := f.pool.Do(ctx, name, func(ctx context.Context, c *Client) error {
		_, err := c.Self(ctx)
		return err
	}); err != nil {
		f.t.Fatalf("%s: %v", name, err)
	}
}

// serverOpen waits until the server counts n open connections. The
// server notices a client's close asynchronously (it reads the FIN later),
// so this side is polled; the client side is asserted exactly.
func (f *removeFixture) serverOpen(n int) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := f.srv.Stats().Open
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the server has %d open connections, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// removed checks that name is gone and that its client closed every
// connection: right after Remove, with no waiting.
func (f *removeFixture) removed(name string) {
	f.t.Helper()
	if n := f.conns[name].open.Load(); n != 0 {
		f.t.Errorf("%s: %d connections still open after Remove", name, n)
	}
	if _, err := f.pool.Status(name); !errors.Is(err, ErrUnknownAccount) {
		f.t.Errorf("%s: Status after Remove: %v, want ErrUnknownAccount", name, err)
	}
}

// stillReady checks that name is ready with one open connection.
func (f *removeFixture) stillReady(name string) {
	f.t.Helper()
	if st, err := f.pool.Status(name); st != StatusReady {
		f.t.Errorf("%s: %v (%v), want ready", name, st, err)
	}
	if n := f.conns[name].open.Load(); n != 1 {
		f.t.Errorf("%s: %d open connections, want 1", name, n)
	}
}

// TestPoolRemove removes one ready account of a running pool: its
// connection is closed when Remove returns, the others stay, and the name
// added again with its store connects without a duplicated key.
func TestPoolRemove(t *testing.T) {
	t.Parallel()
	const n = 4
	f := newRemoveFixture(t, n)

	start := time.Now()
	if err := f.pool.Remove(t.Context(), "acct1"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	t.Logf("Remove took %v", time.Since(start))
	f.removed("acct1")
	f.serverOpen(n - 1)
	for _, name := range []string{"acct0", "acct2", "acct3"} {
		f.stillReady(name)
	}
	if err := f.pool.Do(t.Context(), "acct1", func(context.Context, *Client) error { return nil }); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("Do after Remove: %v, want ErrUnknownAccount", err)
	}
	if err := f.pool.Remove(t.Context(), "acct1"); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("second Remove: %v, want ErrUnknownAccount", err)
	}

	// Added again, the account connects with the same key: the server
	// saw no key used twice at once (it would reject it).
	f.add("acct1")
	f.ready("acct1")
	f.stillReady("acct1")
	f.serverOpen(n)
	if d := f.srv.Stats().Duplicates; d != 0 {
		t.Errorf("%d duplicated connections, want 0", d)
	}
	if got := f.pool.metrics.removals.Load(); got != 1 {
		t.Errorf("removals = %d, want 1", got)
	}
}

// TestPoolRemoveAll removes many accounts at once, with an unknown name
// among them.
func TestPoolRemoveAll(t *testing.T) {
	t.Parallel()
	const n, keep = 12, 2
	f := newRemoveFixture(t, n)
	var names []string
	for i := keep; i < n; i++ {
		names = append(names, fmt.Sprint("acct", i))
	}
	start := time.Now()
	if err := f.pool.RemoveAll(t.Context(), append(names, "nobody")); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("RemoveAll with an unknown name: %v, want ErrUnknownAccount", err)
	}
	t.Logf("RemoveAll of %d took %v", len(names), time.Since(start))
	for _, name := range names {
		f.removed(name)
	}
	for i := range keep {
		f.stillReady(fmt.Sprint("acct", i))
	}
	f.serverOpen(keep)
	if err := f.pool.RemoveAll(t.Context(), []string{"acct0", "acct1"}); err != nil {
		t.Errorf("RemoveAll: %v", err)
	}
	f.removed("acct0")
	f.removed("acct1")
	f.serverOpen(0)
	if d := f.srv.Stats().Duplicates; d != 0 {
		t.Errorf("%d duplicated connections, want 0", d)
	}
}

// TestPoolRemoveNotRunning removes accounts of a pool that does not run,
// and an unknown name; the removed account's update streams end.
func TestPoolRemoveNotRunning(t *testing.T) {
	t.Parallel()
	pool := NewPool(PoolOptions{})
	if err := pool.Remove(t.Context(), "nobody"); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("Remove of an unknown name: %v, want ErrUnknownAccount", err)
	}
	m := mttest.NewMemory(t)
	if err := pool.Add("a", m); err != nil {
		t.Fatal(err)
	}
	hub, err := pool.updates("a")
	if err != nil {
		t.Fatal(err)
	}
	sub := hub.subscribe(1)
	if err := pool.Remove(t.Context(), "a"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	select {
	case <-sub.dropped:
		if sub.reason != dropRemoved {
			t.Errorf("stream dropped as %q, want %q", sub.reason, dropRemoved)
		}
	default:
		t.Error("the update stream of a removed account is still open")
	}
	if late := hub.subscribe(1); !isClosed(late.dropped) {
		t.Error("a stream subscribed to a removed account's hub stays open")
	}
	if _, err := pool.Status("a"); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("Status after Remove: %v", err)
	}
	if _, err := pool.updates("a"); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("updates after Remove: %v", err)
	}
	if err := pool.Remove(t.Context(), "a"); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("second Remove: %v, want ErrUnknownAccount", err)
	}
	if err := pool.Add("a", m); err != nil {
		t.Errorf("Add after Remove: %v", err)
	}
	if st, err := pool.Status("a"); err != nil || st != StatusWaiting {
		t.Errorf("re-added: %v, %v", st, err)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestPoolRemoveWhileDoWaits removes a retrying account while a Do waits
// for it, from two goroutines at once, with a stop held back so that the
// first Removes run out of time: the name stays taken until the account
// stopped, and a later Remove waits for the end.
func TestPoolRemoveWhileDoWaits(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	opts := serverOptions(srv)
	opts.Server.Addr = "127.0.0.1:1" // nothing listens there: the account retries
	opts.ConnectTimeout = 200 * time.Millisecond
	retrying := make(chan struct{})
	var retryOnce, stopOnce sync.Once
	hold, stopping := make(chan struct{}), make(chan struct{})
	pool := NewPool(PoolOptions{Client: opts, OnStatus: func(name string, s Status, _ error) {
		switch s {
		case StatusRetrying, StatusUnreachable:
			retryOnce.Do(func() { close(retrying) })
		case StatusStopped:
			stopOnce.Do(func() { close(stopping) })
			<-hold // the account's goroutine cannot end yet
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
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	defer func() {
		release()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-retrying

	doErr := make(chan error, 1)
	go func() {
		doErr <- pool.Do(t.Context(), "a", func(context.Context, *Client) error { return errors.New("the account was called") })
	}()
	rctx, rcancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer rcancel()
	removeErrs := make(chan error, 2)
	for range 2 {
		go func() { removeErrs <- pool.Remove(rctx, "a") }()
	}
	for range 2 {
		if err := <-removeErrs; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Remove with a held stop: %v, want DeadlineExceeded", err)
		}
	}
	select {
	case err := <-doErr:
		if !errors.Is(err, ErrUnknownAccount) {
			t.Errorf("Do waiting during Remove: %v, want ErrUnknownAccount", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Do still waits for a removed account")
	}
	<-stopping
	if err := pool.Add("a", m); !errors.Is(err, ErrAccountRemoving) {
		t.Errorf("Add while the account stops: %v, want ErrAccountRemoving", err)
	}
	if st, _ := pool.Status("a"); st != StatusStopped {
		t.Errorf("Status while the account stops: %v, want stopped", st)
	}

	// Another Remove waits again, for as long as the stop is held.
	rctx2, rcancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer rcancel2()
	if err := pool.Remove(rctx2, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Remove again with a held stop: %v, want DeadlineExceeded", err)
	}
	wait := make(chan error, 1)
	go func() { wait <- pool.Remove(t.Context(), "a") }()
	release()
	// nil, or the name is already gone: the account's goroutine deletes
	// it as it ends, when this Remove came too late to wait.
	if err := <-wait; err != nil && !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("Remove after the stop: %v", err)
	}
	if _, err := pool.Status("a"); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("Status after Remove: %v", err)
	}
}
