package daemon

import (
	"bytes"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/storage"
)

// xorSealer is a test sealer: not encryption, but not plaintext either.
type xorSealer struct{}

func (xorSealer) Seal(p []byte) ([]byte, error) { return xorBytes(p), nil }
func (xorSealer) Open(c []byte) ([]byte, error) { return xorBytes(c), nil }

func xorBytes(b []byte) []byte {
	out := bytes.Clone(b)
	for i := range out {
		out[i] ^= 0x5a
	}
	return out
}

func TestLazyStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "acct.age")
	bind := storage.Binding{VaultID: "v1", AccountID: "a1", Revision: 1}
	f, err := storage.CreateFile(path, xorSealer{}, bind, &storage.Snapshot{Session: storage.SessionRow{DCID: 2}}, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		commits   int
		commitErr error
		clock     = time.Unix(1_000_000, 0)
	)
	s := newLazyStore(f,
		func() (*storage.File, error) { return storage.OpenFile(path, xorSealer{}, bind, storage.Options{}) },
		&commitFunc{do: func(f *storage.File, fn func(*storage.SaveBatch) error) error {
			if commitErr != nil {
				return commitErr
			}
			commits++
			return fn(nil)
		}})
	s.now = func() time.Time { return clock }
	t.Cleanup(func() { _ = s.shut() })

	if err := s.UpdatePeers([]storage.Peer{storage.UserPeer(777, 42, false, "lazy", nil, "")}); err != nil {
		t.Fatal(err)
	}
	if closed, err := s.closeIdle(time.Minute); closed || err != nil || !s.isOpen() {
		t.Fatalf("closed a store just used: %v %v", closed, err)
	}

	// Idle with unsaved peers and a failing save: stays open, stays dirty.
	clock = clock.Add(2 * time.Minute)
	commitErr = errors.New("test: vault busy")
	if closed, err := s.closeIdle(time.Minute); closed || err == nil || !s.isOpen() {
		t.Fatalf("closed a store whose save failed: %v %v", closed, err)
	}
	commitErr = nil

	// Idle: saved through commit, closed.
	if closed, err := s.closeIdle(time.Minute); !closed || err != nil || s.isOpen() {
		t.Fatalf("idle store not closed: %v %v", closed, err)
	}
	if commits != 1 {
		t.Errorf("%d commits on close, want 1 (the peers)", commits)
	}

	// The next use reopens it, with the peers saved before the close.
	p, err := s.PeerByID(777)
	if err != nil || p.AccessHash != 42 || !s.isOpen() || s.opens.Load() != 1 {
		t.Fatalf("after reopen: %+v %v (open %v, opens %d)", p, err, s.isOpen(), s.opens.Load())
	}
	row, err := s.Session()
	if err != nil {
		t.Fatal(err)
	}
	row.DCID = 4
	if err := s.SetSession(row); err != nil {
		t.Fatal(err)
	}
	if commits != 2 {
		t.Errorf("%d commits after SetSession, want 2", commits)
	}

	// A clean idle store closes without a commit; shut is idempotent.
	clock = clock.Add(2 * time.Minute)
	if closed, err := s.closeIdle(time.Minute); !closed || err != nil {
		t.Fatalf("clean idle store: %v %v", closed, err)
	}
	if commits != 2 {
		t.Errorf("%d commits closing a clean store, want 2", commits)
	}
	if err := s.shut(); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Session(); err != nil || r.DCID != 4 {
		t.Errorf("session after reopen: dc %d, %v; want 4", r.DCID, err)
	}
	if s.opens.Load() != 2 {
		t.Errorf("%d opens, want 2", s.opens.Load())
	}
}

// TestLazyStoreConcurrent closes the store over and over while it is
// used: no use may fail or lose a peer.
func TestLazyStoreConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "acct.age")
	bind := storage.Binding{VaultID: "v1", AccountID: "a1", Revision: 1}
	f, err := storage.CreateFile(path, xorSealer{}, bind, &storage.Snapshot{Session: storage.SessionRow{DCID: 2}}, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // vault.Commit is serialized by run's vaultWriter
	s := newLazyStore(f,
		func() (*storage.File, error) { return storage.OpenFile(path, xorSealer{}, bind, storage.Options{}) },
		&commitFunc{do: func(_ *storage.File, fn func(*storage.SaveBatch) error) error {
			mu.Lock()
			defer mu.Unlock()
			return fn(nil)
		}})
	t.Cleanup(func() { _ = s.shut() })
	stop := make(chan struct{})
	closerDone := make(chan struct{})
	go func() {
		defer close(closerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.closeIdle(0); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id := int64(w*1000 + i + 1)
				if err := s.UpdatePeers([]storage.Peer{storage.UserPeer(id, id, false, "", nil, "")}); err != nil {
					t.Error(err)
					return
				}
				if p, err := s.PeerByID(id); err != nil || p.AccessHash != id {
					t.Errorf("peer %d right after writing it: %+v %v", id, p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// On a loaded machine the writers can finish before the closer ran
	// once: let it close the store, then read through a reopen, so the
	// test always exercises closing (it flaked with the store never
	// reopened).
	for deadline := time.Now().Add(10 * time.Second); s.isOpen() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if p, err := s.PeerByID(1); err != nil || p.AccessHash != 1 {
		t.Errorf("peer 1 after the closer closed the store: %+v %v", p, err)
	}
	close(stop)
	<-closerDone
	if err := s.shut(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PeerCount(); err != nil || n != 200 {
		t.Errorf("%d peers after reopening, want 200 (%v)", n, err)
	}
	if s.opens.Load() < 2 {
		t.Errorf("the store was reopened %d times: the test did not exercise closing", s.opens.Load())
	}
}

// CacheMeta (gotd's address and config on an account's first connect)
// costs no commit of its own: run's next flush saves it, through commit.
func TestLazyStoreCacheMeta(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "acct.age")
	bind := storage.Binding{VaultID: "v1", AccountID: "a1", Revision: 1}
	f, err := storage.CreateFile(path, xorSealer{}, bind, &storage.Snapshot{Session: storage.SessionRow{DCID: 2}}, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var commits int
	s := newLazyStore(f,
		func() (*storage.File, error) { return storage.OpenFile(path, xorSealer{}, bind, storage.Options{}) },
		&commitFunc{do: func(f *storage.File, fn func(*storage.SaveBatch) error) error { commits++; return fn(nil) }})
	t.Cleanup(func() { _ = s.shut() })
	var _ mtproto.MetaCacher = s
	onDisk := func() bool {
		t.Helper()
		g, err := storage.OpenFile(path, xorSealer{}, storage.Binding{VaultID: "v1", AccountID: "a1"}, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		_, ok, err := g.Meta(mtproto.MetaGotd)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := s.CacheMeta(mtproto.MetaGotd, []byte(`{"salt":1}`)); err != nil {
		t.Fatal(err)
	}
	if commits != 0 || onDisk() {
		t.Fatalf("CacheMeta committed at once (%d commits)", commits)
	}
	if v, ok, err := s.Meta(mtproto.MetaGotd); err != nil || !ok || string(v) != `{"salt":1}` {
		t.Fatalf("Meta: %q %v %v", v, ok, err)
	}
	if failed := flushAll([]*lazyStore{s}); len(failed) != 0 {
		t.Fatal(failed)
	}
	if commits != 1 || !onDisk() {
		t.Fatalf("the flush: %d commits, on disk %v; want 1 and true", commits, onDisk())
	}
	if failed := flushAll([]*lazyStore{s}); len(failed) != 0 || commits != 1 {
		t.Fatalf("a flush with nothing cached committed (%d commits)", commits)
	}
}

// commitFunc is a committer of one function, which commitAll calls for
// each request in turn (the tests' committer).
type commitFunc struct {
	do    func(f *storage.File, fn func(*storage.SaveBatch) error) error
	batch int // the max of the last commitAll
}

func (c *commitFunc) commit(f *storage.File, fn func(*storage.SaveBatch) error) error {
	return c.do(f, fn)
}

func (c *commitFunc) commitAll(reqs []*commitReq, max int) {
	c.batch = max
	for _, r := range reqs {
		r.done <- c.do(r.f, r.fn)
	}
}

// isOpen reports whether the file is open.
func (s *lazyStore) isOpen() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.f != nil
}
