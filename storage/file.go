package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/tgvault/tgvault/internal/atomicfile"
	"github.com/tgvault/tgvault/storage/internal/sqlitefile"
)

// Sealer encrypts and decrypts whole images. The vault hands the file
// engine a *crypto.Sealer; storage itself never imports age. Implementations
// must be safe for concurrent use, and Open must return no plaintext with
// an error.
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(ciphertext []byte) ([]byte, error)
}

// InPlaceOpener is what a Sealer may also do: decrypt into the
// ciphertext's own buffer, overwriting it, and return the plaintext in that
// buffer (clearing it on error). OpenFile uses it when the sealer has it,
// which saves a second buffer as large as the file.
type InPlaceOpener interface {
	OpenInPlace(ciphertext []byte) ([]byte, error)
}

// KeepingSealer is what a Sealer may also do: keep what it unwrapped of a
// file's header between saves of that file, so that a save does not wrap a
// new file key (for an age X25519 recipient, two X25519 operations: most
// of the CPU a save of a small file costs). OpenKeeping is OpenInPlace that
// also returns the file's key; SealKeeping seals under the key it is given
// when it can, and returns the key for the next save (the same one, or a
// new one). A File keeps the key while it is open and destroys it at
// Close. The sealer decides when a header may be reused; the file is
// still replaced whole at every save, so the crash rule is unchanged.
type KeepingSealer interface {
	OpenKeeping(ciphertext []byte) (plaintext []byte, key FileKey, err error)
	SealKeeping(plaintext []byte, key FileKey) (sealed []byte, next FileKey, err error)
}

// FileKey is a KeepingSealer's secret for one file; the File only holds it
// and hands it back. Destroy clears it.
type FileKey interface{ Destroy() }

// BindingError reports a sealed image bound elsewhere: to another vault,
// another account, or an older revision (a rollback).
type BindingError struct {
	Reason    string
	Want, Got Binding
}

func (e *BindingError) Error() string {
	return fmt.Sprintf("storage: sealed file %s (want vault %s account %s revision >= %d, file has vault %s account %s revision %d)",
		e.Reason, e.Want.VaultID, e.Want.AccountID, e.Want.Revision, e.Got.VaultID, e.Got.AccountID, e.Got.Revision)
}

func (e *BindingError) Unwrap() error { return ErrBinding }

// File is the sealed file engine: one account's Pyrogram v3 database,
// decrypted into memory on open and sealed back on save. Nothing is ever
// written in plaintext: saving writes a sealed temp file, fsyncs it and
// renames it over the old one. Session and meta changes are saved at once;
// peer writes (and CacheMeta) are batched until Flush or Close. Each save
// bumps the binding revision.
//
// File is safe for concurrent use.
type File struct {
	*core
	blob   Blob
	sealer Sealer

	saveMu  sync.Mutex // one save at a time; held with core.mu
	binding Binding    // as last saved

	// staged is set while a save waits in a SaveBatch (guarded by mu).
	staged bool

	// fkey is the file's key of a KeepingSealer, for the next save: from
	// the open or the last seal; nil without one. Guarded like img.
	fkey FileKey

	// img is the image of the last save (or the one opened), kept when
	// it is large (keepMinPages): the next save patches the rows changed
	// since (core's dirty marks) into its peer pages and rewrites only what
	// follows them. Guarded by saveMu and core.mu; cleared at close.
	img *keptImage
}

var _ Storage = (*File)(nil)

// Blob is where a File's sealed image lives: a file (FileBlob, what
// CreateFile and OpenFile use) or a row of a database. Implementations
// must be safe for concurrent use.
type Blob interface {
	// Name names the image in errors and Path: a path, or the blob's
	// name in its store; it never holds a secret.
	Name() string
	// ReadBlob returns the sealed image; an error matching
	// fs.ErrNotExist when there is none.
	ReadBlob() ([]byte, error)
	// WriteBlob replaces the sealed image atomically: a reader, or a
	// crash, sees the old image or the new one, never a mix. A store that
	// fences its writers (a lease that moved elsewhere) fails it.
	WriteBlob(sealed []byte) error
}

// FileBlob is the Blob of a sealed file at a path: read into a pooled
// buffer, replaced by atomicfile.WriteFile.
type FileBlob string

// Name returns the path.
func (p FileBlob) Name() string { return string(p) }

// ReadBlob reads the file.
func (p FileBlob) ReadBlob() ([]byte, error) { return readSealed(string(p)) }

// WriteBlob replaces the file atomically.
func (p FileBlob) WriteBlob(sealed []byte) error { return atomicfile.WriteFile(string(p), sealed) }

// stageBlob writes the image to a temp file beside the file, for a
// SaveBatch to make durable and put in place.
func (p FileBlob) stageBlob(sealed []byte) (*atomicfile.Temp, error) {
	return atomicfile.Stage(string(p), sealed)
}

// stagingBlob is a Blob whose writes a SaveBatch can group.
type stagingBlob interface {
	stageBlob(sealed []byte) (*atomicfile.Temp, error)
}

// CreateFile seals snap into a new file at path, bound to b (whose
// Revision is the first revision, normally 1). It fails if path exists.
func CreateFile(path string, s Sealer, b Binding, snap *Snapshot, opts Options) (*File, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("storage: create %s: %w", path, fs.ErrExist)
	}
	return CreateBlob(FileBlob(path), s, b, snap, opts)
}

// CreateBlob is CreateFile for any Blob; the caller makes sure that the
// blob is new.
func CreateBlob(blob Blob, s Sealer, b Binding, snap *Snapshot, opts Options) (*File, error) {
	return CreateIn(nil, blob, s, b, snap, opts)
}

// CreateIn is CreateBlob through batch (as FlushIn is Flush): the new
// store's image is sealed and written to its temp file, and is in place
// and durable once batch.Sync returns without an error for the store; its
// Revision is b.Revision from then on. A bulk import creates thousands of
// stores so, with their fsyncs together and one directory fsync. A store
// whose blob is not a file, or any store when batch is nil, is saved at
// once. A store whose staged save failed still holds its rows: Close
// saves them again, Abandon drops them.
func CreateIn(batch *SaveBatch, blob Blob, s Sealer, b Binding, snap *Snapshot, opts Options) (*File, error) {
	f := &File{core: newCore(opts), blob: blob, sealer: s, binding: b}
	f.trackDirty = true
	if err := f.core.fill(snap); err != nil {
		return nil, err
	}
	f.binding.Revision-- // save writes Revision+1
	if err := f.saveIn(batch); err != nil {
		return nil, err
	}
	return f, nil
}

// OpenFile opens the sealed file at path. Its binding must name want's
// vault and account, and its revision must be at least want.Revision: an
// older one is a rollback and fails with a *BindingError. A newer one is
// accepted (a crash between saving the account and the index); the caller
// reads it with Revision and repairs its index.
func OpenFile(path string, s Sealer, want Binding, opts Options) (*File, error) {
	return OpenBlob(FileBlob(path), s, want, opts)
}

// OpenBlob is OpenFile for any Blob.
//
// Long: read, open (keeping the file key when the sealer can), check the
// binding against want, then load the image; every failure after the open
// must scrub the plaintext, and in one function each path's scrub stays
// beside the step that can fail.
func OpenBlob(blob Blob, s Sealer, want Binding, opts Options) (*File, error) {
	sealed, err := blob.ReadBlob()
	if err != nil {
		return nil, fmt.Errorf("storage: open sealed file: %w", err)
	}
	var (
		img  []byte
		fkey FileKey
	)
	switch o := s.(type) {
	case KeepingSealer:
		img, fkey, err = o.OpenKeeping(sealed)
	case InPlaceOpener:
		img, err = o.OpenInPlace(sealed)
	default:
		img, err = s.Open(sealed)
	}
	if err != nil {
		putSealedBuf(sealed)
		return nil, fmt.Errorf("storage: open sealed file: %w", err)
	}
	// scrub drops the plaintext, and with it the buffer of the file (which
	// holds the plaintext when it was decrypted in place).
	inPlace := len(img) > 0 && len(sealed) > 0 && &img[0] == &sealed[0]
	scrub := func() {
		if !inPlace {
			clear(img)
		}
		putSealedBuf(sealed) // clears it
	}
	head, err := decodeImageHead(img)
	if err != nil {
		destroyKey(fkey)
		scrub()
		return nil, err
	}
	got := Binding{}
	if head.binding != nil {
		got = *head.binding
	}
	var reason string
	switch {
	case head.binding == nil:
		reason = "has no binding"
	case got.VaultID != want.VaultID:
		reason = "belongs to another vault"
	case got.AccountID != want.AccountID:
		reason = "belongs to another account"
	case got.Revision < want.Revision:
		reason = "is older than expected (rolled back)"
	}
	if reason != "" {
		destroyKey(fkey)
		scrub()
		return nil, &BindingError{Reason: reason, Want: want, Got: got}
	}
	c := newCore(opts)
	c.trackDirty = true
	c.session = head.session
	c.meta = head.meta
	for _, u := range head.updates {
		c.updates[u.ID] = u
	}
	f := &File{core: c, blob: blob, sealer: s, binding: got, fkey: fkey}
	c.load = func() ([]Peer, error) {
		peers, err := head.readPeers()
		if err == nil {
			// A large image stays for the next save to patch; what
			// follows its peer pages (the session row) goes now.
			if k, ok := adoptImage(img, head); ok {
				if !inPlace {
					putSealedBuf(sealed)
				}
				clear(k.buf[k.end*sqlitefile.PageSize : cap(k.buf)])
				k.buf = k.buf[:k.end*sqlitefile.PageSize]
				f.img = k
				return peers, nil
			}
		}
		scrub()
		return peers, err
	}
	c.release = scrub
	return f, nil
}

// sealedBufs keeps the buffer of a closed store's file for the next open:
// a fresh buffer as large as the file costs more to allocate and fault in
// than reading the file does. Buffers are cleared before they are pooled,
// since with an in-place sealer they held the plaintext.
var sealedBufs sync.Pool // of *[]byte

// readSealed reads the file at path into a pooled buffer.
func readSealed(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	size := 512
	if st, err := fh.Stat(); err == nil && st.Size() > 0 && st.Size() < 1<<32 {
		size = int(st.Size()) + 1 // +1: see the end at once
	}
	var buf []byte
	if p, ok := sealedBufs.Get().(*[]byte); ok && cap(*p) >= size {
		buf = (*p)[:0]
	} else {
		buf = make([]byte, 0, size)
	}
	for {
		n, err := fh.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// putSealedBuf clears buf (all of it: an in-place sealer leaves plaintext
// beyond the image's end) and pools it.
func putSealedBuf(buf []byte) {
	buf = buf[:cap(buf)]
	clear(buf)
	sealedBufs.Put(&buf)
}

// Path returns the file's path (its Blob's name).
func (f *File) Path() string { return f.blob.Name() }

// Revision returns the binding revision of the last save.
func (f *File) Revision() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.binding.Revision
}

// saveLocked seals the model at the next revision and replaces the file.
// Caller holds f.mu for writing, with the peers loaded.
func (f *File) saveLocked() error { return f.saveIn(nil) }

// errSaving refuses a save of a file whose last save waits in a SaveBatch.
var errSaving = errors.New("storage: a save of this file is waiting for its batch to sync")

// saveIn saves as saveLocked does, or, with a batch and a blob that can be
// staged, seals the image and writes it to a temp file for batch.Sync to
// make durable. Caller holds f.mu for writing, with the peers loaded.
func (f *File) saveIn(batch *SaveBatch) error {
	if f.staged {
		return errSaving
	}
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	sealed, b, err := f.sealLocked()
	if err != nil {
		return err
	}
	if sb, ok := f.blob.(stagingBlob); ok && batch != nil {
		t, err := sb.stageBlob(sealed)
		if err != nil {
			return err
		}
		f.staged = true
		batch.add(&stagedSave{f: f, b: b, changes: f.changes, t: t})
		return nil
	}
	if err := f.blob.WriteBlob(sealed); err != nil {
		return err
	}
	f.binding = b
	f.peersDirty = false
	return nil
}

// sealLocked builds the image at the next revision (patching the kept one
// when it can) and seals it. Caller holds f.mu for writing and f.saveMu.
func (f *File) sealLocked() ([]byte, Binding, error) {
	b := f.binding
	b.Revision++
	kept := f.img
	if kept != nil && f.ndirty > 0 {
		if !patchLimit(f.ndirty, len(f.recs)) {
			kept = nil
		} else if err := kept.patch(f.core); err != nil {
			patchFallbacks.Add(1)
			kept = nil
		} else {
			patchesDone.Add(1)
		}
	}
	if kept == nil {
		f.dropImage()
		f.clearDirty() // the build writes every row
	}
	img, kept, err := buildImage(f.snapshotLocked(), &b, kept, 0)
	if err != nil {
		f.dropImage()
		return nil, b, err
	}
	sealed, err := f.seal(img)
	// The peer pages may stay for the next save; the rest (the session
	// row with the auth key) goes now.
	clear(kept.tail(img))
	if kept.keep() {
		f.img = kept
	} else {
		kept.drop()
		f.img = nil
	}
	if err != nil {
		return nil, b, fmt.Errorf("storage: seal: %w", err)
	}
	return sealed, b, nil
}

// seal seals img, under the file's kept key when the sealer keeps one.
// Caller holds f.saveMu.
func (f *File) seal(img []byte) ([]byte, error) {
	ks, ok := f.sealer.(KeepingSealer)
	if !ok {
		return f.sealer.Seal(img)
	}
	sealed, next, err := ks.SealKeeping(img, f.fkey)
	if err != nil {
		return nil, err
	}
	if next != f.fkey {
		destroyKey(f.fkey)
		f.fkey = next
	}
	return sealed, nil
}

// destroyKey destroys k, if any.
func destroyKey(k FileKey) {
	if k != nil {
		k.Destroy()
	}
}

// SaveBatch makes the saves of many files durable together. A file saved
// through a batch (FlushIn) is sealed and written to its temp file as
// usual, but not fsynced; Sync then fsyncs every temp file of the batch
// at once (concurrently: the file system commits them together, where one
// fsync after another costs a commit each), renames each into place as
// soon as its own fsync returned, and fsyncs each directory once. The
// crash rule of a save holds for every file: a crash leaves its old image
// or its new one, whole, and none is in place before it is durable; a
// caller that records the files' revisions elsewhere (the vault's index)
// does so after Sync.
//
// A file staged in a batch refuses other saves until Sync. Staging is safe
// for concurrent use; Sync is called once, when every staging returned.
type SaveBatch struct {
	// Early, set before the first staging, starts each file's fsync and
	// rename as soon as it is staged (syncParallel at a time), while the
	// next files are still being sealed, instead of all of them in Sync:
	// the file system's waits overlap the sealing, and a batch holds only
	// the temp files in flight open. Sync then waits for them and fsyncs
	// the directories. The crash rule is the same; what differs is that a
	// file may be in place before Sync is called (durable, at its new
	// revision, its directory entry not yet synced).
	Early bool

	mu      sync.Mutex
	pending []*stagedSave
	work    chan *stagedSave // Early: the staged files, to the workers
	wg      sync.WaitGroup   // Early: the workers
}

type stagedSave struct {
	f       *File
	b       Binding // what f is at once its image is in place
	changes uint64  // f.changes when staged
	t       *atomicfile.Temp
	err     error
	renamed bool
}

// syncParallel is how many fsyncs a SaveBatch keeps in flight.
const syncParallel = 32

func (sb *SaveBatch) add(s *stagedSave) {
	sb.mu.Lock()
	sb.pending = append(sb.pending, s)
	if sb.Early && sb.work == nil {
		work := make(chan *stagedSave, syncParallel)
		sb.work = work
		for range syncParallel {
			sb.wg.Go(func() {
				for s := range work {
					s.place()
				}
			})
		}
	}
	work := sb.work
	sb.mu.Unlock()
	if work != nil {
		work <- s // waits while the workers are busy: the files in flight stay bounded
	}
}

// place makes s's temp file durable and, once it is, renames it into
// place (its directory is synced by Sync).
func (s *stagedSave) place() {
	if s.err = s.t.Sync(); s.err == nil {
		s.err = s.t.Rename()
		s.renamed = s.err == nil
	}
}

// Sync makes every staged save durable and puts it in place, and returns
// the files it could not save, with their errors (nil when all were
// saved). A file that failed keeps its changes for the next save.
func (sb *SaveBatch) Sync() map[*File]error {
	sb.mu.Lock()
	pending, work := sb.pending, sb.work
	sb.pending, sb.work = nil, nil
	sb.mu.Unlock()
	if work != nil {
		close(work)
		sb.wg.Wait()
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, syncParallel)
		for _, s := range pending {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				s.place()
			})
		}
		wg.Wait()
	}
	dirs := map[string]error{}
	for _, s := range pending {
		if s.renamed {
			dirs[filepath.Dir(s.t.Path())] = nil
		}
	}
	for dir := range dirs {
		dirs[dir] = atomicfile.SyncDir(dir)
	}
	var failed map[*File]error
	for _, s := range pending {
		if s.err == nil {
			s.err = dirs[filepath.Dir(s.t.Path())]
		}
		f := s.f
		f.mu.Lock()
		f.staged = false
		if s.renamed {
			// In place, if perhaps not durable: the next save goes on from
			// its revision, never writes another image under it.
			f.binding = s.b
		}
		if s.err == nil && f.changes == s.changes {
			f.peersDirty = false
		}
		f.mu.Unlock()
		if s.err != nil {
			if failed == nil {
				failed = map[*File]error{}
			}
			failed[f] = s.err
		}
	}
	return failed
}

// FlushIn is Flush through batch: the file's batched writes, if any, are
// sealed and staged in batch, and durable once batch.Sync returns. A file
// whose blob is not a file (a database row) is saved at once, and so is
// every file when batch is nil (as Flush does).
func (f *File) FlushIn(batch *SaveBatch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if !f.peersDirty {
		return nil
	}
	return f.saveIn(batch)
}

// dropImage clears and drops the kept image.
func (f *File) dropImage() {
	if f.img != nil {
		f.img.drop()
		f.img = nil
	}
}

// mutate runs fn under the write lock and saves at once.
func (f *File) mutate(fn func()) error {
	if err := f.lockPeers(); err != nil {
		return err
	}
	defer f.mu.Unlock()
	fn()
	return f.saveLocked()
}

// SetSession replaces the sessions row and saves at once.
func (f *File) SetSession(r SessionRow) error {
	return f.mutate(func() { f.session = r })
}

// SetMeta stores a value (nil deletes it) and saves at once.
func (f *File) SetMeta(key string, value []byte) error {
	return f.mutate(func() { setMeta(f.meta, key, value) })
}

// CacheMeta stores a value (nil deletes it) like SetMeta, but does not save
// it: like a peer write, it is durable after the next Flush or Close (or a
// save for another change). It is for values that can be had again when a
// crash loses them, such as what a server sends on every connect; anything
// else belongs in SetMeta.
func (f *File) CacheMeta(key string, value []byte) error {
	if err := f.lockPeers(); err != nil {
		return err
	}
	defer f.mu.Unlock()
	if cur, ok := f.meta[key]; ok == (value != nil) && bytes.Equal(cur, value) {
		return nil
	}
	setMeta(f.meta, key, value)
	// Flush and Close save what is batched: the peers, and now this.
	f.peersDirty = true
	f.changes++
	return nil
}

// SetUpdateStates stores update state rows and saves at once.
func (f *File) SetUpdateStates(us []UpdateState) error {
	return f.mutate(func() {
		for _, u := range us {
			f.updates[u.ID] = u
		}
	})
}

// Flush saves the batched peer writes, if any.
func (f *File) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if !f.peersDirty {
		return nil
	}
	return f.saveLocked()
}

// Close flushes and releases the store. A failed flush is returned and the
// store stays open, so the caller can retry: batched writes are not lost
// silently.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	if f.peersDirty {
		if err := f.saveLocked(); err != nil {
			return err
		}
	}
	f.release()
	return nil
}

// release drops the kept image and destroys the kept file key, then closes
// the store: what Close does after its save, and all Abandon does.
func (f *File) release() {
	f.saveMu.Lock()
	f.dropImage()
	destroyKey(f.fkey)
	f.fkey = nil
	f.saveMu.Unlock()
	f.closeLocked()
}

// Abandon releases the store without saving what it has not saved: a
// store made by CreateIn whose batch failed to sync it, which its creator
// removes.
func (f *File) Abandon() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.release()
}

// ExportPyrogram writes a plain (unencrypted) Pyrogram v3 session file,
// peers included, at path (mode 0600, atomically). It refuses a session
// Pyrogram would throw away (see PlainPyrogram).
func (f *File) ExportPyrogram(path string) error {
	snap, err := f.Snapshot()
	if err != nil {
		return err
	}
	return WritePyrogramFile(path, snap)
}

func setMeta(m map[string][]byte, key string, value []byte) {
	if value == nil {
		delete(m, key)
		return
	}
	m[key] = append([]byte(nil), value...)
}

// MissingFieldError reports a session field a Pyrogram file needs but the
// session does not carry: Pyrogram discards a session whose user_id,
// is_bot, test_mode or auth_key is NULL, and asks for a NULL api_id.
type MissingFieldError struct{ Field string }

func (e *MissingFieldError) Error() string {
	return "storage: a Pyrogram session file needs " + e.Field + ", which this session does not carry"
}

// ErrMissingField is matched by every *MissingFieldError.
var ErrMissingField = errors.New("storage: missing session field")

func (e *MissingFieldError) Unwrap() error { return ErrMissingField }

// PlainPyrogram returns the image of a plain Pyrogram v3 file for snap, or
// a *MissingFieldError naming the first field Pyrogram needs and snap lacks.
func PlainPyrogram(snap *Snapshot) ([]byte, error) {
	r := snap.Session
	switch {
	case r.AuthKey.IsZero():
		return nil, &MissingFieldError{Field: "auth_key"}
	case !r.UserID.Known():
		return nil, &MissingFieldError{Field: "user_id"}
	case !r.IsBot.Known():
		return nil, &MissingFieldError{Field: "is_bot"}
	case !r.TestMode.Known():
		return nil, &MissingFieldError{Field: "test_mode"}
	case !r.APIID.Known():
		return nil, &MissingFieldError{Field: "api_id"}
	}
	return encodeImage(snap, nil)
}

// WritePyrogramFile writes a plain Pyrogram v3 session file (mode 0600,
// atomically). The file is NOT encrypted: it is for handing a session to
// Pyrogram itself.
func WritePyrogramFile(path string, snap *Snapshot) error {
	img, err := PlainPyrogram(snap)
	if err != nil {
		return err
	}
	defer clear(img)
	return atomicfile.WriteFile(path, img)
}
