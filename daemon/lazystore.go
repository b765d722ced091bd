package daemon

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/tgvault/tgvault/storage"
)

// lazyStore is an account's store for `tgvault run` (and for a one-shot
// command such as logout, which never calls closeIdle): every save goes
// through commit, under the vault's write lock; peer writes and CacheMeta
// stay in memory until Flush. run's is open only while it is in use:
// closeIdle saves (through commit), closes and forgets a store unused for
// a while, and the next use opens it again, so that idle accounts' peer
// caches do not stay in memory.
type lazyStore struct {
	open func() (*storage.File, error)
	w    committer
	now  func() time.Time

	mu    sync.RWMutex // held shared by every use, exclusively to open and close
	f     *storage.File
	dirty atomic.Bool
	last  atomic.Int64 // unix nanoseconds of the last use
	opens atomic.Int64 // how many times the file was opened
}

var _ storage.Storage = (*lazyStore)(nil)

// committer is how a lazyStore's writes reach the vault: one at a time,
// or many queued at once (flushAll). *vaultWriter is the one run uses.
type committer interface {
	commit(f *storage.File, fn func(*storage.SaveBatch) error) error
	commitAll(reqs []*commitReq, max int) // in batches of up to max
}

// newLazyStore starts with f open (nil: opened on first use).
func newLazyStore(f *storage.File, open func() (*storage.File, error), w committer) *lazyStore {
	s := &lazyStore{open: open, w: w, now: time.Now, f: f}
	s.last.Store(s.now().UnixNano())
	return s
}

// use calls fn with the open file, opening it first when needed.
func (s *lazyStore) use(fn func(f *storage.File) error) error {
	for {
		s.mu.RLock()
		if f := s.f; f != nil {
			s.last.Store(s.now().UnixNano())
			err := fn(f)
			s.mu.RUnlock()
			return err
		}
		s.mu.RUnlock()
		s.mu.Lock()
		if s.f == nil {
			f, err := s.open()
			if err != nil {
				s.mu.Unlock()
				return err
			}
			s.f = f
			s.opens.Add(1)
		}
		s.mu.Unlock()
	}
}

func (s *lazyStore) Session() (r storage.SessionRow, err error) {
	err = s.use(func(f *storage.File) error { r, err = f.Session(); return err })
	return r, err
}

func (s *lazyStore) SetSession(r storage.SessionRow) error {
	return s.use(func(f *storage.File) error { return s.w.commit(f, now(func() error { return f.SetSession(r) })) })
}

func (s *lazyStore) UpdatePeers(peers []storage.Peer) error {
	return s.use(func(f *storage.File) error {
		// Dirty after the write: set before it, a flush running meanwhile
		// could clear the mark and leave the write to Close, which saves
		// outside the vault's write lock.
		err := f.UpdatePeers(peers)
		s.dirty.Store(true)
		return err
	})
}

func (s *lazyStore) PeerByID(id int64) (p storage.Peer, err error) {
	err = s.use(func(f *storage.File) error { p, err = f.PeerByID(id); return err })
	return p, err
}

func (s *lazyStore) PeerByUsername(u string) (p storage.Peer, err error) {
	err = s.use(func(f *storage.File) error { p, err = f.PeerByUsername(u); return err })
	return p, err
}

func (s *lazyStore) PeerByPhone(phone string) (p storage.Peer, err error) {
	err = s.use(func(f *storage.File) error { p, err = f.PeerByPhone(phone); return err })
	return p, err
}

func (s *lazyStore) PeerCount() (n int, err error) {
	err = s.use(func(f *storage.File) error { n, err = f.PeerCount(); return err })
	return n, err
}

func (s *lazyStore) UpdateStates() (us []storage.UpdateState, err error) {
	err = s.use(func(f *storage.File) error { us, err = f.UpdateStates(); return err })
	return us, err
}

func (s *lazyStore) SetUpdateStates(us []storage.UpdateState) error {
	return s.use(func(f *storage.File) error { return s.w.commit(f, now(func() error { return f.SetUpdateStates(us) })) })
}

func (s *lazyStore) Meta(key string) (v []byte, ok bool, err error) {
	err = s.use(func(f *storage.File) error { v, ok, err = f.Meta(key); return err })
	return v, ok, err
}

func (s *lazyStore) SetMeta(key string, value []byte) error {
	return s.use(func(f *storage.File) error { return s.w.commit(f, now(func() error { return f.SetMeta(key, value) })) })
}

// CacheMeta stores a meta value that waits for the next Flush like the
// peers do (mtproto.MetaCacher): what gotd learns on an account's first
// connect (its server address and config) is then saved by run's periodic
// flush, group-committed with the other accounts', instead of one sealed
// commit per account before it is ready.
func (s *lazyStore) CacheMeta(key string, value []byte) error {
	return s.use(func(f *storage.File) error {
		if err := f.CacheMeta(key, value); err != nil {
			return err
		}
		// After the write: a flush that saw the flag clear saved it.
		s.dirty.Store(true)
		return nil
	})
}

// Flush saves the peers written since the last flush, if the file is open
// (a closed one was saved when it was closed).
func (s *lazyStore) Flush() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.flushLocked()
}

func (s *lazyStore) flushLocked() error {
	if s.f == nil || !s.dirty.Swap(false) {
		return nil
	}
	if err := s.w.commit(s.f, s.f.FlushIn); err != nil {
		s.dirty.Store(true)
		return err
	}
	return nil
}

// flushRequest returns the request that saves the store's batched writes
// (nil when there are none, or the file is closed), holding the store
// open until flushDone.
func (s *lazyStore) flushRequest() *commitReq {
	s.mu.RLock()
	if s.f == nil || !s.dirty.Swap(false) {
		s.mu.RUnlock()
		return nil
	}
	return &commitReq{f: s.f, fn: s.f.FlushIn, done: make(chan error, 1)}
}

// flushDone ends what flushRequest began, with the write's outcome.
func (s *lazyStore) flushDone(err error) {
	if err != nil {
		s.dirty.Store(true)
	}
	s.mu.RUnlock()
}

// Close is the owner's (run's) business, not the pool's: see closeIdle
// and shut.
func (s *lazyStore) Close() error { return nil }

// closeIdle saves and closes the file when it was not used for idle; it
// reports whether it closed it. A file whose save failed stays open
// (closing would save it without the vault's write lock). It never waits:
// a store in use (a write waiting for the vault's group commit holds it
// for seconds while thousands of accounts connect) is not idle, and
// waiting for it would hold up every other use of it meanwhile (a pending
// writer blocks new readers) and run's loop with it.
func (s *lazyStore) closeIdle(idle time.Duration) (bool, error) {
	if s.now().UnixNano()-s.last.Load() < int64(idle) || !s.mu.TryLock() {
		return false, nil
	}
	defer s.mu.Unlock()
	if s.f == nil || s.now().UnixNano()-s.last.Load() < int64(idle) {
		return false, nil
	}
	err := s.closeLocked()
	return err == nil, err
}

// shut saves and closes the file for good (until the next use).
func (s *lazyStore) shut() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

func (s *lazyStore) closeLocked() error {
	if s.f == nil {
		return nil
	}
	if err := s.flushLocked(); err != nil {
		return err
	}
	if err := s.f.Close(); err != nil {
		return err
	}
	s.f = nil
	return nil
}
