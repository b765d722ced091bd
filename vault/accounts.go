package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// AccountError reports an account whose file fails to open: damaged,
// swapped for another account's, rolled back, or missing. It matches
// ErrBinding or ErrCorrupt (or ErrWrongKey). The other accounts are not
// affected.
type AccountError struct {
	ID     string // the account id (file name); names are not put in errors
	Reason string // fixed text
	Err    error  // ErrBinding, ErrCorrupt or ErrWrongKey
}

func (e *AccountError) Error() string {
	return fmt.Sprintf("%v: account %s: %s", e.Err, e.ID, e.Reason)
}

// Unwrap returns ErrBinding, ErrCorrupt or ErrWrongKey.
func (e *AccountError) Unwrap() error { return e.Err }

// accountBlob names an account's image in the backend.
func accountBlob(id string) string { return accountsDir + "/" + id + accountExt }

// accountPath is the account's file, for a directory vault (tests).
func (v *Vault) accountPath(id string) string {
	return vaultName(v.be, accountBlob(id))
}

// removeAccount deletes an account's image (best effort where the caller
// undoes a write).
func (v *Vault) removeAccount(id string) error { return v.be.Remove(accountBlob(id)) }

func (v *Vault) storageOptions() storage.Options {
	return storage.Options{Now: v.opts.Now}
}

// openFile opens an account's sealed file, checking its authentication
// and its binding against the index entry. A readOnly store cannot save:
// see readOnlySealer.
func (v *Vault) openFile(s *crypto.VaultSealer, readOnly bool, a *Account) (*storage.File, error) {
	return v.openBlob(s, readOnly, a, nil)
}

// accountSealer is s for the account id's file.
func (v *Vault) accountSealer(s *crypto.VaultSealer, readOnly bool, id string) storage.Sealer {
	as := v.sealerFor(s, accountBlob(id))
	if readOnly {
		return readOnlySealer{as}
	}
	return keepingSealer{as}
}

// openBlob is openFile for the image in b (the vault's own when nil).
func (v *Vault) openBlob(s *crypto.VaultSealer, readOnly bool, a *Account, b storage.Blob) (*storage.File, error) {
	if b == nil {
		b = v.be.Blob(accountBlob(a.ID))
	}
	want := storage.Binding{VaultID: v.meta.VaultID, AccountID: a.ID, Revision: a.Revision}
	f, err := storage.OpenBlob(b, v.accountSealer(s, readOnly, a.ID), want, v.storageOptions())
	if err == nil {
		return f, nil
	}
	var be *storage.BindingError
	switch {
	case errors.As(err, &be):
		return nil, &AccountError{ID: a.ID, Reason: "the file " + be.Reason, Err: ErrBinding}
	case errors.Is(err, fs.ErrNotExist):
		return nil, &AccountError{ID: a.ID, Reason: "the file is missing", Err: ErrCorrupt}
	case errors.Is(err, crypto.ErrWrongKey):
		return nil, &AccountError{ID: a.ID, Reason: "the vault key does not open the file", Err: ErrWrongKey}
	case errors.Is(err, crypto.ErrUnauthenticated):
		return nil, &AccountError{ID: a.ID, Reason: "the file is not authenticated by the vault key for this account (sealed by someone without the key, or another account's file)", Err: ErrCorrupt}
	case errors.Is(err, crypto.ErrCorrupt), errors.Is(err, storage.ErrCorrupt), errors.Is(err, storage.ErrUnsupported):
		return nil, &AccountError{ID: a.ID, Reason: "the file is damaged or tampered with", Err: ErrCorrupt}
	default:
		return nil, fmt.Errorf("vault: account %s: %w", a.ID, err)
	}
}

// readOpts say how readAccount opens an account.
type readOpts struct {
	readOnly bool      // a store that cannot save (readOnlySealer)
	own      bool      // take the ownership lock first (a *HeldError if held)
	policy   usePolicy // which states are accepted
	force    bool      // a migrated vault or account is used anyway
}

// readAccount opens an account without the write lock, after taking its
// ownership lock when o.own (release then gives it back; nil otherwise).
// The account's state is read from its file (the index's is a cache) and
// refused under o.policy: a handed-off account always, a migrated one
// unless o.force.
func (v *Vault) readAccount(name string, o readOpts) (f *storage.File, a *Account, release func() error, err error) {
	st, x, ap, release, err := v.holdAccount(name, o.own)
	if err != nil {
		return nil, nil, nil, err
	}
	acct := *ap
	fail := func(err error) (*storage.File, *Account, func() error, error) {
		_ = release()
		return nil, nil, nil, err
	}
	force := o.force || v.allowMigrated.Load()
	if x.MigratedTo != "" && !force {
		return fail(&MigratedError{To: x.MigratedTo})
	}
	if acct.Status == StatusHandedOff {
		// Whatever the file says: a handed-off account is used again only
		// once both agree (reclaim writes both).
		return fail(stateError(acct.Status, acct.Reason, o.policy, force, x.MigratedTo))
	}
	s, err := st.sealer()
	if err != nil {
		return fail(err)
	}
	f, err = v.openFile(s, o.readOnly, &acct)
	if err != nil {
		_ = release()
		v.noteOpen(acct.ID, opened{}, err)
		return nil, nil, nil, err
	}
	op, err := openedOf(f)
	if err != nil {
		dropStore(f)
		_ = release()
		return nil, nil, nil, err
	}
	// The index catches up with the file (a file ahead, a state it
	// records). A read-only use does so only in a vault already in the
	// current format: a write from a read must not be the one that
	// upgrades (and so authenticates) whatever the directory holds.
	if op.differs(&acct) && (!o.readOnly || st.format >= formatCurrent) {
		v.noteOpen(acct.ID, op, nil)
	}
	status, reason := effectiveState(&acct, op.state, op.hasState)
	if err := stateError(status, reason, o.policy, force, x.MigratedTo); err != nil {
		dropStore(f)
		_ = release()
		return nil, nil, nil, err
	}
	return f, &acct, release, nil
}

// opened is what opening an account file found: what the index caches.
type opened struct {
	rev      uint64
	peers    int
	keyID    sessionstring.KeyID
	state    fileState
	hasState bool
}

// openedOf reads what the index caches from an open store.
func openedOf(f *storage.File) (opened, error) {
	n, err := f.PeerCount()
	if err != nil {
		return opened{}, err
	}
	row, err := f.Session()
	if err != nil {
		return opened{}, err
	}
	fs, ok, err := stateOf(f)
	if err != nil {
		return opened{}, err
	}
	return opened{rev: f.Revision(), peers: n, keyID: row.AuthKey.ID(), state: fs, hasState: ok}, nil
}

// differs reports whether the index entry a is behind what was opened.
func (o opened) differs(a *Account) bool {
	if o.rev != a.Revision || o.peers != a.Peers || a.Status == StatusBroken {
		return true
	}
	// A key id the index lacks (an index of format 1) is no reason to
	// write: reading never upgrades; the first write does (tx.upgrade).
	if k, ok := a.keyID(); ok && o.keyID != 0 && k != o.keyID {
		return true
	}
	return o.hasState && (o.state.Status != a.Status || o.state.Reason != a.Reason)
}

// OpenAccount opens an account's store for the pool, which owns the
// account (it holds its ownership lock). It refuses a handed-off account
// (and one of a migrated vault, unless AllowMigrated), checks the file's
// binding and revision against the index (a file behind the index, or
// bound elsewhere, fails with an *AccountError), and accepts a file ahead
// of the index, repairing the index when the write lock is free. The
// caller owns the returned store and must Close it; its writes bump the
// file's revision, which the index catches up with on the next open or
// write.
func (v *Vault) OpenAccount(name string) (*storage.File, error) {
	f, _, _, err := v.readAccount(name, readOpts{policy: useExport})
	return f, err
}

// AllowMigrated makes this Vault use a vault (and its accounts) that
// `tgvault migrate` copied to PostgreSQL, as --force asks; call it before
// any other use.
func (v *Vault) AllowMigrated() { v.allowMigrated.Store(true) }

// noteOpen records the outcome of opening an account file in the index,
// if the write lock is free: a file ahead of the index (its revision, peer
// count, key id and state), a broken file (status broken with the
// reason), or a broken file that opens again. It is best effort: a busy
// vault is repaired on a later open.
func (v *Vault) noteOpen(id string, op opened, openErr error) {
	t, err := v.begin()
	if err != nil {
		return
	}
	defer t.end()
	if t.note(id, op, openErr) {
		_ = t.save()
	}
}

// note is noteOpen's change of the index in t; it reports whether the
// index changed.
func (t *tx) note(id string, op opened, openErr error) bool {
	i := t.idx.byID(id)
	if i < 0 {
		return false
	}
	a := &t.idx.Accounts[i]
	var ae *AccountError
	switch {
	case openErr == nil:
		if op.rev < a.Revision || !op.differs(a) {
			return false
		}
		if a.Status == StatusBroken {
			a.Status, a.Reason = StatusActive, ""
		}
		a.Revision, a.Peers = op.rev, op.peers
		t.noteKey(a, op.keyID)
		if op.hasState {
			a.Status, a.Reason = op.state.Status, op.state.Reason
		}
	case errors.As(openErr, &ae) && a.Status != StatusHandedOff && a.Status != StatusMigrated:
		if a.Status == StatusBroken && a.Reason == ae.Reason {
			return false
		}
		a.Status, a.Reason = StatusBroken, ae.Reason
	default:
		return false
	}
	a.Updated = t.v.now().UTC()
	return true
}

// noteKey records an account's key id in t's index (and its key map).
func (t *tx) noteKey(a *Account, id sessionstring.KeyID) {
	if id == 0 {
		return
	}
	if old, ok := a.keyID(); ok && old == id {
		return
	}
	if old, ok := a.keyID(); ok && t.keys != nil && t.keys[old] == a.ID {
		delete(t.keys, old)
	}
	a.setKeyID(id)
	if t.keys != nil {
		t.keys[id] = a.ID
	}
}

// Reclaim makes a handed-off account active again: in its file first (the
// record that a rolled-back index cannot undo), then in the index. Use it
// only when the session is no longer used where it was handed to. It
// takes the account's ownership lock.
func (v *Vault) Reclaim(name string) error {
	return v.writeState(name, StatusActive, "", func(cur AccountStatus) bool { return cur == StatusHandedOff })
}

// SetStatus records an account's state in its file and the index (logout
// marks an account revoked; StatusActive clears a mark). reason is shown
// by list and show and must not hold secrets. It takes the account's
// ownership lock: the pool marks the accounts it serves through its own
// stores instead (MarkStore).
func (v *Vault) SetStatus(name string, s AccountStatus, reason string) error {
	return v.writeState(name, s, reason, nil)
}

// writeState records a state in the account's file, then in the index,
// under the write lock and the account's ownership lock. when, if not nil,
// says from which current state the change applies (else nothing is
// written).
func (v *Vault) writeState(name string, s AccountStatus, reason string, when func(AccountStatus) bool) error {
	if !s.valid() {
		return fmt.Errorf("vault: %q is not a state an account can be set to", s)
	}
	t, err := v.begin()
	if err != nil {
		return err
	}
	defer t.end()
	a, err := t.account(name)
	if err != nil {
		return err
	}
	if err := t.own(a.ID); err != nil {
		return err
	}
	f, err := v.openFile(t.sealer, false, a)
	if err != nil {
		return err
	}
	defer f.Close()
	op, err := openedOf(f)
	if err != nil {
		return err
	}
	cur, _ := effectiveState(a, op.state, op.hasState)
	if when != nil && !when(cur) {
		// Nothing to change in the file; the index may still be behind it.
		if t.note(a.ID, op, nil) {
			return t.save()
		}
		return nil
	}
	if err := setState(f, s, reason, v.now()); err != nil {
		return err
	}
	if _, err := t.record(f); err != nil {
		return err
	}
	return t.save()
}

// Rename renames an account (the index only; the file keeps its id). It
// takes the account's ownership lock: a pool serving it knows it by name.
func (v *Vault) Rename(oldName, newName string) error {
	if err := checkName(newName); err != nil {
		return err
	}
	t, err := v.begin()
	if err != nil {
		return err
	}
	defer t.end()
	a, err := t.account(oldName)
	if err != nil {
		return err
	}
	if oldName == newName {
		return nil
	}
	if t.idx.find(newName) >= 0 {
		return ErrNameTaken
	}
	if err := t.own(a.ID); err != nil {
		return err
	}
	a.Name = newName
	t.idx.renamed()
	a.Updated = v.now().UTC()
	return t.save()
}

// Remove deletes an account: its index entry first, then its file (a
// crash between the two leaves an orphan file that Doctor reports). It
// takes the account's ownership lock.
func (v *Vault) Remove(name string) error {
	t, err := v.begin()
	if err != nil {
		return err
	}
	defer t.end()
	i := t.idx.find(name)
	if i < 0 {
		return notFound(name)
	}
	id := t.idx.Accounts[i].ID
	if err := t.own(id); err != nil {
		return err
	}
	t.drop(i)
	if err := t.save(); err != nil {
		return err
	}
	if err := v.removeAccount(id); err != nil {
		return fmt.Errorf("vault: remove account file: %w", err)
	}
	if d, ok := v.be.(DirBackend); ok {
		d.removeOwnerLock(id)
	}
	return nil
}

// drop removes the entry at position i from t's index.
func (t *tx) drop(i int) {
	t.forgetKey(i)
	t.idx.remove(i)
}

// forgetKey drops the key of the entry at position i from t's key map.
func (t *tx) forgetKey(i int) {
	if k, ok := t.idx.Accounts[i].keyID(); ok && t.keys != nil && t.keys[k] == t.idx.Accounts[i].ID {
		delete(t.keys, k)
	}
}

// checkName validates an account name.
func checkName(name string) error {
	if name == "" || len(name) > 256 {
		return fmt.Errorf("%w: it must be 1 to 256 bytes", ErrInvalidName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: it must not hold control characters", ErrInvalidName)
		}
	}
	return nil
}

// readOnlySealer opens but refuses to seal: the stores of read-only uses
// (export, doctor) are opened with it, so that they can never write an
// account file without the write lock. storage.File re-saves a store on
// Close once its peers were loaded, even if nothing changed; with this
// sealer that save fails and the file is left as it was, and such a store
// is dropped with dropStore instead of Close.
type readOnlySealer struct{ s storage.Sealer }

var errReadOnly = errors.New("vault: read-only store")

func (r readOnlySealer) Seal([]byte) ([]byte, error) { return nil, errReadOnly }

func (r readOnlySealer) Open(b []byte) ([]byte, error) { return r.s.Open(b) }

// dropStore releases a read-only store: Close fails to save (nothing
// changed) and the garbage collector frees it.
func dropStore(f *storage.File) {
	_ = f.Close()
}

// Commit runs fn, the pool's writes to a store that OpenAccount returned
// (SetSession, SetMeta, Flush, ...), under the vault's write lock, then
// records the store's revision and peer count in the index. `tgvault run`
// holds the accounts for its whole life but the write lock only inside
// Commit, so other commands can write between its saves.
func (v *Vault) Commit(f *storage.File, fn func() error) error {
	t, err := v.begin()
	if err != nil {
		return err
	}
	defer t.end()
	if err := fn(); err != nil {
		return err
	}
	changed, err := t.record(f)
	if err != nil || !changed {
		return err
	}
	return t.save()
}

// CommitAll is Commit for many stores at once: one write lock, one round
// of fsyncs for their files and at most one index write, however many
// stores there are (a Commit per store would fsync each file in turn and
// reseal the whole index each time, which grows with the square of the
// accounts). fn runs once for each store, concurrently (as many at a time
// as there are cores); it may stage the store's save in the batch it is
// given (storage.File.FlushIn), which CommitAll makes durable
// (storage.SaveBatch.Sync) before it records the stores in the index, so
// that the index never names a revision its file does not have yet. It
// returns one error per store of fs (nil: the store's write and its index
// entry are durable; a store that failed keeps its entry as it was) and
// the error that concerns them all (the lock, or the index write). Keep
// batches short enough for other writers: they wait for the lock
// meanwhile. fs must not hold a store twice.
func (v *Vault) CommitAll(fs []*storage.File, fn func(*storage.File, *storage.SaveBatch) error) ([]error, error) {
	if len(fs) == 0 {
		return nil, nil
	}
	seen := make(map[*storage.File]bool, len(fs))
	for _, f := range fs {
		if seen[f] {
			return nil, errors.New("vault: CommitAll: a store given twice")
		}
		seen[f] = true
	}
	t, err := v.begin()
	if err != nil {
		return nil, err
	}
	defer t.end()
	errs := make([]error, len(fs))
	// Each file's fsync and rename start once it is sealed and written:
	// the file system's waits overlap the sealing of the next ones.
	batch := &storage.SaveBatch{Early: true}
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, f := range fs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(f, batch)
		})
	}
	wg.Wait()
	failed := batch.Sync()
	changed := false
	for i, f := range fs {
		if errs[i] == nil {
			errs[i] = failed[f]
		}
		if errs[i] != nil {
			continue
		}
		ch, err := t.record(f)
		errs[i] = err
		changed = changed || ch
	}
	if changed {
		if err := t.save(); err != nil {
			return errs, err
		}
	}
	return errs, nil
}

// record puts what a store holds into the index entry of its account
// (revision, peer count, the identity fields, the key id and the state
// its file records), and reports whether the entry changed.
func (t *tx) record(f *storage.File) (changed bool, err error) {
	id := strings.TrimSuffix(filepath.Base(f.Path()), accountExt)
	i := t.idx.byID(id)
	if i < 0 {
		return false, ErrNotFound // removed meanwhile
	}
	a := &t.idx.Accounts[i]
	op, err := openedOf(f)
	if err != nil {
		return false, err
	}
	row, err := f.Session()
	if err != nil {
		return false, err
	}
	// What a login or the server filled in (an imported Telethon session
	// has no user id until the pool asks) reaches the index too.
	learned := sessionFields(a, row)
	if op.keyID != 0 {
		if k, ok := a.keyID(); !ok || k != op.keyID {
			t.noteKey(a, op.keyID)
			learned = true
		}
	}
	if op.hasState && (a.Status != op.state.Status || a.Reason != op.state.Reason) {
		a.Status, a.Reason, learned = op.state.Status, op.state.Reason, true
	}
	if a.Revision == op.rev && a.Peers == op.peers && !learned {
		return false, nil
	}
	a.Revision, a.Peers, a.Updated = max(a.Revision, op.rev), op.peers, t.v.now().UTC()
	return true, nil
}

// sessionFields copies the session row's identity fields into a, and
// reports whether a changed.
func sessionFields(a *Account, row storage.SessionRow) bool {
	changed := false
	if row.UserID.Known() && a.UserID != row.UserID {
		a.UserID, changed = row.UserID, true
	}
	if row.IsBot.Known() && a.IsBot != row.IsBot {
		a.IsBot, changed = row.IsBot, true
	}
	if row.TestMode.Known() && a.TestMode != row.TestMode {
		a.TestMode, changed = row.TestMode, true
	}
	if row.APIID.Known() && a.APIID != row.APIID {
		a.APIID, changed = row.APIID, true
	}
	if row.DCID != 0 && a.DCID != row.DCID {
		a.DCID, changed = row.DCID, true
	}
	return changed
}

// createAccount seals snap as a new account image; a blob that exists
// already is refused (ids are random: it would be a bug).
func (v *Vault) newAccountFile(id string, s *crypto.VaultSealer, b storage.Binding, snap *storage.Snapshot) (*storage.File, error) {
	return v.newAccountFileIn(nil, id, s, b, snap)
}

// newAccountFileIn is newAccountFile through batch (storage.CreateIn): the
// file is in place once batch.Sync returns (at once when batch is nil).
func (v *Vault) newAccountFileIn(batch *storage.SaveBatch, id string, s *crypto.VaultSealer, b storage.Binding, snap *storage.Snapshot) (*storage.File, error) {
	name := accountBlob(id)
	if _, err := v.be.Read(name); err == nil {
		return nil, fmt.Errorf("storage: create %s: %w", name, fs.ErrExist)
	}
	return storage.CreateIn(batch, v.be.Blob(name), v.accountSealer(s, false, id), b, snap, v.storageOptions())
}

// OpenAccounts opens the stores of many accounts that List returned, with
// one unlock and no further index read: OpenAccount reads and decrypts the
// whole index for each account, which for every account of a large vault
// costs the square of the accounts. It checks each account as OpenAccount
// does, and serves active ones only: the state its file records is the
// authority (an account handed off, revoked or key-lost in the file fails,
// whatever the index said); files[i] is nil where errs[i] says why. The
// caller holds the accounts (ClaimAccounts, or a fleet worker's leases).
// The index is then repaired in one write, if the write lock is free
// (files ahead of it, accounts broken or opening again).
//
// blob, when not nil, gives the place of an account's image instead of the
// vault's own (a fleet worker's lease-fenced blob); it may return nil for
// the vault's own.
func (v *Vault) OpenAccounts(accts []Account, blob func(Account) storage.Blob) (files []*storage.File, errs []error, err error) {
	files, errs = make([]*storage.File, len(accts)), make([]error, len(accts))
	err = v.OpenAccountsEach(accts, blob, func(i int, f *storage.File, err error) { files[i], errs[i] = f, err })
	if err != nil {
		return nil, nil, err
	}
	return files, errs, nil
}

// OpenAccountsEach is OpenAccounts that hands each account over as soon as
// it is open: each(i, f, err) is called once for every accts[i], with its
// store or (f nil) why it is not served, in no set order and from several
// goroutines at once (it must be safe for that), so that the caller can
// start using the first accounts while the rest are still decrypted (run
// connects each account as it opens). OpenAccountsEach returns once every
// call of each returned and the index repair (as OpenAccounts) is done; when
// it returns an error (the vault cannot be unlocked), each was not called.
//
// Long: checking each account, the parallel open and the one index repair
// share the unlocked state and the per-account results; split up, they
// would hand those slices from function to function.
func (v *Vault) OpenAccountsEach(accts []Account, blob func(Account) storage.Blob, each func(i int, f *storage.File, err error)) error {
	st, err := v.unlock()
	if err != nil {
		return err
	}
	s, err := st.sealer()
	if err != nil {
		return err
	}
	force := v.allowMigrated.Load()
	type note struct {
		id  string
		op  opened
		err error
	}
	blobs := make([]storage.Blob, len(accts))
	if blob != nil {
		for i := range accts {
			if accts[i].Status != StatusHandedOff {
				blobs[i] = blob(accts[i])
			}
		}
	}
	// Opening is mostly decryption (an X25519 unwrap per file): on every
	// core at once.
	found := make([]*note, len(accts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range accts {
		a := &accts[i]
		if a.Status == StatusHandedOff {
			// Served only once the index and the file both say active.
			each(i, nil, stateError(a.Status, a.Reason, useServe, force, ""))
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f, err := v.openBlob(s, false, a, blobs[i])
			if err != nil {
				found[i] = &note{id: a.ID, err: err}
				each(i, nil, err)
				return
			}
			op, err := openedOf(f)
			if err != nil {
				dropStore(f)
				each(i, nil, err)
				return
			}
			if op.differs(a) {
				found[i] = &note{id: a.ID, op: op}
			}
			status, reason := effectiveState(a, op.state, op.hasState)
			if err := stateError(status, reason, useServe, force, ""); err != nil {
				dropStore(f)
				each(i, nil, err)
				return
			}
			each(i, f, nil)
		})
	}
	wg.Wait()
	var notes []note
	for _, n := range found {
		if n != nil {
			notes = append(notes, *n)
		}
	}
	if len(notes) > 0 {
		if t, err := v.begin(); err == nil {
			changed := false
			for _, n := range notes {
				changed = t.note(n.id, n.op, n.err) || changed
			}
			if changed {
				_ = t.save()
			}
			t.end()
		}
	}
	return nil
}
