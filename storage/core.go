package storage

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// UsernameTTL is how long a cached username is trusted: Pyrogram's
// USERNAME_TTL. Older rows (and rows dated in the future) are expired.
const UsernameTTL = 8 * time.Hour

// maxFieldLen bounds usernames and phone numbers (Telegram's are 32 and
// about 15 characters): a longer value is an error, not a stored row.
const maxFieldLen = 255

// Storage is the session-database contract, with Pyrogram's semantics. Both
// engines (Memory and File) satisfy it and one conformance suite tests
// both. All methods are safe for concurrent use.
type Storage interface {
	// Session returns the sessions row.
	Session() (SessionRow, error)
	// SetSession replaces the sessions row; it is durable on return.
	SetSession(SessionRow) error
	// UpdatePeers stores peers with REPLACE semantics: each row replaces
	// the one with the same marked id, and is stamped with the current time.
	// Rows are durable after Flush or Close.
	UpdatePeers([]Peer) error
	// PeerByID finds a peer by marked id.
	PeerByID(id int64) (Peer, error)
	// PeerByUsername finds the newest row with the username, or
	// ErrUsernameExpired when that row is older than UsernameTTL.
	PeerByUsername(username string) (Peer, error)
	// PeerByPhone finds a peer by phone number.
	PeerByPhone(phone string) (Peer, error)
	// PeerCount returns the number of cached peers.
	PeerCount() (int, error)
	// UpdateStates returns the stored update state rows.
	UpdateStates() ([]UpdateState, error)
	// SetUpdateStates replaces the rows with the same ids.
	SetUpdateStates([]UpdateState) error
	// Meta returns a value stored by tgvault beside the session (device
	// parameters, server, ...); ok is false when the key is absent.
	Meta(key string) (value []byte, ok bool, err error)
	// SetMeta stores a value (nil deletes it); it is durable on return.
	SetMeta(key string, value []byte) error
	// Flush makes every change durable.
	Flush() error
	// Close flushes and releases the store.
	Close() error
}

// Options tune a store. The zero value is ready to use.
type Options struct {
	// Now is the clock for last_update_on and the username TTL (time.Now
	// when nil). Tests inject their own.
	Now func() time.Time
}

// unixForTTL is the current time in unix seconds for the username TTL.
// With the real clock it reads a coarse clock (below): reading the time
// costs ~65 ns on the VMs this was measured on, a quarter of a lookup,
// and a TTL of eight hours needs no better than a second.
func (o Options) unixForTTL() int64 {
	if o.Now != nil {
		return o.Now().Unix()
	}
	return coarseUnix()
}

// coarse is a process-wide clock in unix seconds, refreshed four times a
// second by one goroutine started on first use and kept for the life of
// the process.
var coarse struct {
	once sync.Once
	unix atomic.Int64
}

func coarseUnix() int64 {
	coarse.once.Do(func() {
		coarse.unix.Store(time.Now().Unix())
		go func() {
			for range time.Tick(time.Second / 4) {
				coarse.unix.Store(time.Now().Unix())
			}
		}()
	})
	return coarse.unix.Load()
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// slot indexes core.recs.
type slot = int32

// nameIndex maps a username or phone to the rows holding it. Almost always
// one row: first holds it as slot+1, negated when more rows share the key;
// the others are in more. A lookup is then one probe sequence.
type nameIndex struct {
	first nameTable
	more  map[string][]slot
}

// newNameIndex returns an index of the Username (or with phone, the Phone)
// of rows, sized for n keys.
func newNameIndex(n int, rows *[]Peer, phone bool) nameIndex {
	return nameIndex{first: newNameTable(n, rows, phone), more: map[string][]slot{}}
}

func (x *nameIndex) add(key string, i slot) {
	c, created := x.first.insert(key, i+1)
	if created {
		return
	}
	if c.val > 0 {
		c.val = -c.val
	}
	x.more[key] = append(x.more[key], i)
}

func (x *nameIndex) remove(key string, i slot) {
	c := x.first.find(key)
	if c == nil {
		return
	}
	if c.val > 0 {
		if c.val-1 == i {
			x.first.remove(c)
		}
		return
	}
	more := x.more[key]
	if -c.val-1 == i {
		c.val = -(more[len(more)-1] + 1)
		more = more[:len(more)-1]
	} else if j := slices.Index(more, i); j >= 0 {
		more = slices.Delete(more, j, j+1)
	}
	if len(more) == 0 {
		delete(x.more, key)
		c.val = -c.val
	} else {
		x.more[key] = more
	}
}

// lookup returns the rows holding key.
func (x *nameIndex) lookup(key string) (first slot, more []slot, ok bool) {
	c := x.first.find(key)
	switch {
	case c == nil:
		return 0, nil, false
	case c.val > 0:
		return c.val - 1, nil, true
	}
	return -c.val - 1, x.more[key], true
}

// core is the in-memory model both engines share: the session row and a
// write-back peer index that serves every lookup from maps. The engines
// persist it (SQLite in memory, or a sealed image).
type core struct {
	mu   sync.RWMutex
	opts Options

	closed  bool
	session SessionRow
	meta    map[string][]byte
	updates map[int64]UpdateState

	// peers and their indexes; loaded lazily by load when non-nil.
	load    func() ([]Peer, error)
	loadErr error
	release func() // drops what load would have read, at close
	// recs holds every peer row; rows are replaced in place, never removed.
	recs       []Peer
	byID       idTable
	byUsername nameIndex
	byPhone    nameIndex

	// peersDirty marks batched changes not saved yet: peer rows, and
	// the File's cached meta values (File.CacheMeta).
	peersDirty bool
	// changes counts the times peersDirty was set: a save that waited for
	// its batch to sync clears peersDirty only if nothing changed since.
	changes uint64
	// dirty marks changed rows by slot (a bit each), kept only when
	// trackDirty is set (the memory engine writes them to SQLite one by
	// one, the file engine patches them into its last image); ndirty
	// counts the set bits.
	trackDirty bool
	dirty      []uint64
	ndirty     int
}

func newCore(opts Options) *core {
	c := &core{
		opts:    opts,
		meta:    map[string][]byte{},
		updates: map[int64]UpdateState{},
	}
	c.byID = newIDTable(0, &c.recs)
	c.byUsername = newNameIndex(0, &c.recs, false)
	c.byPhone = newNameIndex(0, &c.recs, true)
	return c
}

// fill sets the model from a snapshot (peers may be loaded later).
func (c *core) fill(snap *Snapshot) error {
	c.session = snap.Session
	for k, v := range snap.Meta {
		c.meta[k] = bytes.Clone(v)
	}
	for _, u := range snap.UpdateState {
		c.updates[u.ID] = u
	}
	return c.putPeers(snap.Peers, false)
}

// ensurePeers loads the peers on first use. Caller holds c.mu for writing.
func (c *core) ensurePeersLocked() error {
	if c.load == nil {
		return c.loadErr
	}
	load := c.load
	c.load, c.release = nil, nil
	peers, err := load()
	if err != nil {
		c.loadErr = err
		return err
	}
	// Rows read from the file are not changes: reading must never make a
	// store save (and bump its revision) on Close.
	dirty := c.peersDirty
	err = c.putPeers(peers, false)
	c.peersDirty = dirty
	c.clearDirty()
	c.hugeIndexes()
	return err
}

// hugeIndexes backs the rows and the hash tables with huge pages where
// they span some (hugePages): a store of 100,000 peers holds 7 MB of rows
// and 12 MB of tables, read in a random order.
func (c *core) hugeIndexes() {
	huge := func(p unsafe.Pointer, n uintptr) {
		if n >= 2*hugePageSize {
			hugePages(p, n)
		}
	}
	if cap(c.recs) > 0 {
		huge(unsafe.Pointer(unsafe.SliceData(c.recs)), uintptr(cap(c.recs))*unsafe.Sizeof(Peer{}))
	}
	if n := len(c.byID.cells); n > 0 {
		huge(unsafe.Pointer(&c.byID.cells[0]), uintptr(n)*unsafe.Sizeof(idCell{}))
	}
	for _, t := range []*nameTable{&c.byUsername.first, &c.byPhone.first} {
		if n := len(t.cells); n > 0 {
			huge(unsafe.Pointer(&t.cells[0]), uintptr(n)*unsafe.Sizeof(nameCell{}))
		}
	}
}

// rlockPeers takes the read lock with the peers loaded.
func (c *core) rlockPeers() error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	if c.load == nil {
		if c.loadErr != nil {
			c.mu.RUnlock()
			return c.loadErr
		}
		return nil
	}
	c.mu.RUnlock()
	c.mu.Lock()
	err := c.ensurePeersLocked()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.rlockPeers()
}

func (c *core) lockPeers() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if err := c.ensurePeersLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	return nil
}

func validatePeer(p *Peer) error {
	switch p.Type {
	case PeerUser, PeerBot, PeerGroup, PeerChannel, PeerSupergroup,
		"direct", "forum", "community": // Kurigram's channel kinds
	default:
		return &PeerTypeError{Type: p.Type.String()}
	}
	if len(p.Username) > maxFieldLen || len(p.Phone) > maxFieldLen {
		return fmt.Errorf("storage: peer username or phone longer than %d bytes", maxFieldLen)
	}
	return nil
}

// putPeers applies REPLACE semantics. stamp sets last_update_on to now.
// Caller holds c.mu for writing (or owns c exclusively).
// RefreshAfter is how stale a peer's last_update_on may grow before an
// UpdatePeers that changes nothing else about it stamps it again. Pyrogram
// stamps every write; here a peer seen again within an hour keeps its
// stamp, so that the account's own user and the peers of every repeated
// call do not make a save each time. The username TTL (UsernameTTL, 8
// hours) is measured from a stamp at most this much older.
const RefreshAfter = time.Hour

// unchangedFresh reports whether p, about to replace old, differs from it
// only by a stamp less than RefreshAfter newer.
func unchangedFresh(old, p *Peer) bool {
	return old.AccessHash == p.AccessHash && old.Type == p.Type && old.Username == p.Username && old.Phone == p.Phone &&
		p.LastUpdateOn >= old.LastUpdateOn && p.LastUpdateOn-old.LastUpdateOn < int64(RefreshAfter/time.Second)
}

// putPeers stores a batch of peers in the in-memory tables, stamping them
// with now when stamp is set: all of it or none.
//
// Long: validate all, then grow the tables once, then apply, over the same
// batch and indexes; the phases are what makes a bad row reject the whole
// batch, and read best together.
func (c *core) putPeers(peers []Peer, stamp bool) error {
	var now int64
	if stamp {
		now = c.opts.now().Unix()
	}
	if len(c.recs) == 0 && len(peers) > c.byID.len() {
		// A bulk load: size the indexes once.
		c.byID = newIDTable(len(peers), &c.recs)
		c.byUsername = newNameIndex(len(peers), &c.recs, false)
		c.byPhone = newNameIndex(len(peers)/4, &c.recs, true)
	}
	// Validate the whole batch first: a bad row rejects the batch, it does
	// not leave half of it applied.
	for i := range peers {
		if err := validatePeer(&peers[i]); err != nil {
			return err
		}
	}
	if need := len(c.recs) + len(peers); need > cap(c.recs) {
		// Double: append grows a large slice by a quarter, copying every
		// row (and its pointers, under write barriers) each time.
		c.recs = slices.Grow(c.recs, max(need, 2*cap(c.recs))-len(c.recs))
	}
	skipped := 0
	for i := range peers {
		p := peers[i]
		if stamp {
			p.LastUpdateOn = now
			if strings.ContainsFunc(p.Username, isUpper) {
				p.Username = strings.ToLower(p.Username)
			}
			if len(p.Phone) > 0 && p.Phone[0] == '+' {
				p.Phone = p.Phone[1:]
			}
		}
		if len(c.recs) >= math.MaxInt32 {
			return errors.New("storage: too many peers")
		}
		i, ok := c.byID.upsert(p.ID, slot(len(c.recs)))
		if ok {
			// The name tables read their keys from the rows: the old keys
			// go while the row holds them, the new ones once it does.
			old := &c.recs[i]
			if stamp && unchangedFresh(old, &p) {
				// The same peer seen again within RefreshAfter: not worth
				// a save (every connect brings the account's own user).
				skipped++
				continue
			}
			newUser, newPhone := old.Username != p.Username, old.Phone != p.Phone
			if newUser && old.Username != "" {
				c.byUsername.remove(old.Username, i)
			}
			if newPhone && old.Phone != "" {
				c.byPhone.remove(old.Phone, i)
			}
			*old = p
			if newUser && p.Username != "" {
				c.byUsername.add(p.Username, i)
			}
			if newPhone && p.Phone != "" {
				c.byPhone.add(p.Phone, i)
			}
		} else {
			c.recs = append(c.recs, p)
			if p.Username != "" {
				c.byUsername.add(p.Username, i)
			}
			if p.Phone != "" {
				c.byPhone.add(p.Phone, i)
			}
		}
		if c.trackDirty {
			c.markDirty(i)
		}
	}
	if len(peers) > skipped {
		c.peersDirty = true
		c.changes++
	}
	return nil
}

func isUpper(r rune) bool {
	return 'A' <= r && r <= 'Z' || r > 0x7f && strings.ToLower(string(r)) != string(r)
}

func (c *core) Session() (SessionRow, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return SessionRow{}, ErrClosed
	}
	return c.session, nil
}

func (c *core) UpdatePeers(peers []Peer) error {
	if err := c.lockPeers(); err != nil {
		return err
	}
	defer c.mu.Unlock()
	return c.putPeers(peers, true)
}

func (c *core) PeerByID(id int64) (Peer, error) {
	if err := c.rlockPeers(); err != nil {
		return Peer{}, err
	}
	defer c.mu.RUnlock()
	i, ok := c.byID.get(id)
	if !ok {
		return Peer{}, ErrNotFound
	}
	return c.recs[i], nil
}

func (c *core) PeerByUsername(username string) (Peer, error) {
	username = normalizeUsername(username)
	if err := c.rlockPeers(); err != nil {
		return Peer{}, err
	}
	defer c.mu.RUnlock()
	first, more, ok := c.byUsername.lookup(username)
	if !ok {
		return Peer{}, ErrNotFound
	}
	// Newest last_update_on first, as Pyrogram orders.
	best := &c.recs[first]
	for _, i := range more {
		if p := &c.recs[i]; p.LastUpdateOn > best.LastUpdateOn {
			best = p
		}
	}
	age := c.opts.unixForTTL() - best.LastUpdateOn
	if age < 0 {
		age = -age
	}
	if age > int64(UsernameTTL/time.Second) {
		return Peer{}, ErrUsernameExpired
	}
	return *best, nil
}

func normalizeUsername(u string) string {
	// Fast path: a plain lowercase ASCII name, as callers usually pass.
	plain := len(u) > 0 && u[0] != '@'
	for i := 0; plain && i < len(u); i++ {
		c := u[i]
		plain = c > ' ' && c < 0x80 && (c < 'A' || c > 'Z')
	}
	if plain {
		return u
	}
	u = strings.TrimPrefix(strings.TrimSpace(u), "@")
	if strings.ContainsFunc(u, isUpper) {
		u = strings.ToLower(u)
	}
	return u
}

func (c *core) PeerByPhone(phone string) (Peer, error) {
	phone = strings.TrimPrefix(strings.TrimSpace(phone), "+")
	if err := c.rlockPeers(); err != nil {
		return Peer{}, err
	}
	defer c.mu.RUnlock()
	first, more, ok := c.byPhone.lookup(phone)
	if !ok {
		return Peer{}, ErrNotFound
	}
	// SQLite's index order: the lowest rowid first.
	best := &c.recs[first]
	for _, i := range more {
		if p := &c.recs[i]; p.ID < best.ID {
			best = p
		}
	}
	return *best, nil
}

func (c *core) PeerCount() (int, error) {
	if err := c.rlockPeers(); err != nil {
		return 0, err
	}
	defer c.mu.RUnlock()
	return len(c.recs), nil
}

func (c *core) UpdateStates() ([]UpdateState, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	out := slices.Collect(maps.Values(c.updates))
	slices.SortFunc(out, func(a, b UpdateState) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (c *core) Meta(key string) ([]byte, bool, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, false, ErrClosed
	}
	v, ok := c.meta[key]
	return bytes.Clone(v), ok, nil
}

// snapshotLocked returns the full model (peers loaded). Caller holds c.mu.
func (c *core) snapshotLocked() *Snapshot {
	s := &Snapshot{
		Session:     c.session,
		Peers:       c.recs,
		UpdateState: slices.Collect(maps.Values(c.updates)),
		Meta:        c.meta,
	}
	return s
}

// Snapshot returns a copy of everything the store holds.
func (c *core) Snapshot() (*Snapshot, error) {
	if err := c.lockPeers(); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	s := c.snapshotLocked()
	s.Meta = maps.Clone(s.Meta)
	s.Peers = slices.Clone(s.Peers)
	return s, nil
}

// markDirty records that row i changed.
func (c *core) markDirty(i slot) {
	w := int(i) / 64
	for w >= len(c.dirty) {
		c.dirty = append(c.dirty, 0)
	}
	if bit := uint64(1) << (uint(i) % 64); c.dirty[w]&bit == 0 {
		c.dirty[w] |= bit
		c.ndirty++
	}
}

// eachDirty calls fn for every changed row, then clears the marks.
func (c *core) eachDirty(fn func(*Peer) error) error {
	for w, word := range c.dirty {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			if err := fn(&c.recs[i]); err != nil {
				return err
			}
			word &= word - 1
		}
	}
	clear(c.dirty)
	c.ndirty = 0
	return nil
}

// clearDirty clears the marks of changed rows.
func (c *core) clearDirty() {
	clear(c.dirty)
	c.ndirty = 0
}

// closeLocked marks the store closed and drops the model. Caller holds c.mu.
func (c *core) closeLocked() {
	c.closed = true
	if c.release != nil {
		c.release()
	}
	c.load, c.release = nil, nil
	c.recs, c.byID, c.meta, c.updates, c.dirty = nil, idTable{}, nil, nil, nil
	c.byUsername, c.byPhone = nameIndex{}, nameIndex{}
	c.session = SessionRow{}
}

// String lets PeerType print in errors.
func (t PeerType) String() string { return string(t) }

// hugePageSize is the x86-64 and arm64 huge page.
const hugePageSize = 2 << 20
