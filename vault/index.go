package vault

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
)

// index is the sealed index.age: every account's entry, by name.
type index struct {
	Version int
	VaultID string
	// MigratedTo is where `migrate` copied the vault (a URL without its
	// password); "" if it was not migrated.
	MigratedTo string
	Accounts   []Account

	// names and ids map an entry's name and id to its position in
	// Accounts, so that a bulk import of thousands of accounts does not
	// scan the whole index for every one (quadratic). Built on first use
	// and trusted as far as they can be checked: a hit is confirmed
	// against the entry it names (sort moves entries; a stale hit gets
	// the maps rebuilt), and a miss only while Accounts has the length
	// they know (an append or removal not made by add or remove changes
	// it). A rename in place calls renamed; an entry's id never changes.
	names, ids map[string]int
	mapped     int // len(Accounts) that names and ids describe
	remaps     int // times they were built (tests check it stays small)
}

// find returns the position of the entry named name, or -1.
func (x *index) find(name string) int {
	return x.lookup(name, func(a *Account) string { return a.Name }, &x.names)
}

// byID returns the position of the entry with account id id, or -1.
func (x *index) byID(id string) int {
	return x.lookup(id, func(a *Account) string { return a.ID }, &x.ids)
}

// lookup finds key in *m (x.names or x.ids; remap sets both).
func (x *index) lookup(key string, field func(*Account) string, m *map[string]int) int {
	for attempt := 0; ; attempt++ {
		if x.names == nil || x.mapped != len(x.Accounts) {
			x.remap()
		}
		i, ok := (*m)[key]
		switch {
		case !ok:
			return -1
		case i < len(x.Accounts) && field(&x.Accounts[i]) == key:
			return i
		case attempt > 0:
			// Rebuilt and still wrong: cannot happen; scan to be safe.
			return slices.IndexFunc(x.Accounts, func(a Account) bool { return field(&a) == key })
		}
		x.names = nil // stale (entries moved): rebuild both
	}
}

// remap builds names and ids from Accounts. Two entries with one name
// (an index written before names were checked) map to the first.
func (x *index) remap() {
	x.names = make(map[string]int, len(x.Accounts))
	x.ids = make(map[string]int, len(x.Accounts))
	for i := len(x.Accounts) - 1; i >= 0; i-- {
		x.names[x.Accounts[i].Name] = i
		x.ids[x.Accounts[i].ID] = i
	}
	x.mapped = len(x.Accounts)
	x.remaps++
}

// add appends an entry, keeping the maps.
func (x *index) add(a Account) {
	synced := x.names != nil && x.mapped == len(x.Accounts)
	x.Accounts = append(x.Accounts, a)
	if synced {
		i := len(x.Accounts) - 1
		if _, ok := x.names[a.Name]; !ok {
			x.names[a.Name] = i
		}
		if _, ok := x.ids[a.ID]; !ok {
			x.ids[a.ID] = i
		}
		x.mapped++
	}
}

// set replaces the entry at position i, keeping the maps.
func (x *index) set(i int, a Account) {
	old := &x.Accounts[i]
	if x.names != nil && x.mapped == len(x.Accounts) {
		if x.names[old.Name] == i {
			delete(x.names, old.Name)
		}
		if x.ids[old.ID] == i {
			delete(x.ids, old.ID)
		}
		if _, ok := x.names[a.Name]; !ok {
			x.names[a.Name] = i
		}
		if _, ok := x.ids[a.ID]; !ok {
			x.ids[a.ID] = i
		}
	}
	*old = a
}

// remove deletes the entry at position i; later entries move down, so
// the maps are rebuilt on the next lookup.
func (x *index) remove(i int) {
	x.Accounts = slices.Delete(x.Accounts, i, i+1)
	x.names = nil
}

// renamed is called after an entry changed its name in place.
func (x *index) renamed() { x.names = nil }

func (x *index) sort() {
	sort.Slice(x.Accounts, func(i, j int) bool { return x.Accounts[i].Name < x.Accounts[j].Name })
}

// translateOpen maps a crypto failure to open a vault file.
func translateOpen(what string, err error) error {
	if errors.Is(err, crypto.ErrWrongKey) {
		return fmt.Errorf("%w: it does not open %s", ErrWrongKey, what)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
}

// loadIndex opens index.age. A file the identity does not open gives
// ErrWrongKey: the identity is not this vault's. One it did not
// authenticate gives ErrCorrupt.
func (v *Vault) loadIndex(st *unlocked) (*index, error) {
	sealed, err := v.be.Read(indexName)
	if err != nil {
		return nil, fmt.Errorf("vault: read index: %w", err)
	}
	s, err := st.sealer()
	if err != nil {
		return nil, err
	}
	plain, err := v.sealerFor(s, indexName).Open(sealed)
	if err != nil {
		return nil, fileErr(indexName, translateOpen("the index", err))
	}
	defer clear(plain)
	x, err := unmarshalIndex(plain)
	if err != nil {
		return nil, fileErr(indexName, fmt.Errorf("%w: the index is not readable", ErrCorrupt))
	}
	if x.VaultID != v.meta.VaultID {
		return nil, fileErr(indexName, fmt.Errorf("%w: the index belongs to another vault", ErrCorrupt))
	}
	return x, nil
}

// saveIndex seals (authenticated) and replaces index.age.
func (v *Vault) saveIndex(st *unlocked, x *index) error {
	x.sort()
	s, err := st.sealer()
	if err != nil {
		return err
	}
	plain := marshalIndex(x)
	sealed, err := v.sealerFor(s, indexName).Seal(plain)
	clear(plain)
	if err != nil {
		return err
	}
	if err := v.be.Write(indexName, sealed); err != nil {
		return fmt.Errorf("vault: write index: %w", err)
	}
	return nil
}

// tx is one write: the lock, the identity, the index.
type tx struct {
	v      *Vault
	lk     *heldLock
	st     *unlocked
	idx    *index
	sealer *crypto.VaultSealer // without a context: see Vault.sealerFor

	keys  map[sessionstring.KeyID]string // key id -> account id (keyOwner)
	owned []func() error                 // ownership locks taken inside, released by end
	// gone are the files of replaced accounts, removed once the index
	// that no longer lists them is saved.
	gone []string
}

// begin takes the write lock, unlocks and loads the index. A vault still
// in format 1 is upgraded first (format.go).
func (v *Vault) begin() (*tx, error) {
	st, err := v.unlock()
	if err != nil {
		return nil, err
	}
	lk, err := v.writeLock()
	if err != nil {
		return nil, err
	}
	t := &tx{v: v, lk: lk, st: st}
	switch {
	case st.rekeyErr != nil:
		t.end()
		return nil, st.rekeyErr
	case len(st.ids) > 1 || v.rekeyPending():
		t.end()
		return nil, ErrRekeyPending
	}
	if st.format < formatCurrent {
		// Decided before the lock was taken: ask again under it.
		if st.legacy, st.format, err = v.fileModeMeta(st.ids); err != nil {
			t.end()
			return nil, err
		}
	}
	if t.idx, err = v.loadIndex(st); err != nil {
		t.end()
		return nil, err
	}
	if t.sealer, err = st.sealer(); err != nil {
		t.end()
		return nil, err
	}
	if st.format < formatCurrent {
		if err := t.upgradeFormat(); err != nil {
			t.end()
			return nil, fmt.Errorf("vault: upgrading the vault to format %d: %w", formatCurrent, err)
		}
	}
	if t.idx.Version < indexVersion {
		if err := t.upgrade(); err != nil {
			t.end()
			return nil, err
		}
	}
	return t, nil
}

// upgrade brings an index of version 1 up to this version, at the first
// write after it was read: every account's key id is read from its file
// (one decryption per account, once), and the state of a handed-off,
// revoked or key-lost account, which version 1 kept in the index only, is
// written into its file, where a rolled-back index cannot undo it. Such
// an account is not served, so no pool holds its store open. A file that
// does not open keeps its entry as it is (Doctor reports it). The index
// is saved at once.
func (t *tx) upgrade() error {
	for i := range t.idx.Accounts {
		a := &t.idx.Accounts[i]
		if a.Status == StatusBroken {
			continue
		}
		f, err := t.v.openFile(t.sealer, true, a)
		if err != nil {
			continue
		}
		op, err := openedOf(f)
		dropStore(f)
		if err != nil {
			continue
		}
		t.noteKey(a, op.keyID)
		if op.hasState || a.Status == StatusActive || !a.Status.valid() {
			continue
		}
		wf, err := t.v.openFile(t.sealer, false, a)
		if err != nil {
			continue
		}
		if err := setState(wf, a.Status, a.Reason, t.v.now()); err == nil {
			_, _ = t.record(wf)
		}
		_ = wf.Close()
	}
	t.idx.Version = indexVersion
	return t.save()
}

// save writes the index, then removes the files of the accounts it no
// longer lists (a crash in between leaves orphans, which Doctor reports).
func (t *tx) save() error {
	if err := t.v.saveIndex(t.st, t.idx); err != nil {
		return err
	}
	for _, id := range t.gone {
		_ = t.v.removeAccount(id)
	}
	t.gone = nil
	return nil
}

// end releases the write lock, then the ownership locks taken inside.
func (t *tx) end() {
	_ = t.lk.release()
	for _, rel := range t.owned {
		_ = rel()
	}
	t.owned = nil
}

// own takes the ownership lock of the account with id until end: a
// *HeldError while another process holds it. It does not wait: the
// caller holds the write lock, which the holder may be waiting for.
func (t *tx) own(id string) error {
	rel, err := t.v.lockAccount(id, 0)
	if err != nil {
		return err
	}
	t.owned = append(t.owned, rel)
	return nil
}

// account returns the index entry named name.
func (t *tx) account(name string) (*Account, error) {
	i := t.idx.find(name)
	if i < 0 {
		return nil, notFound(name)
	}
	return &t.idx.Accounts[i], nil
}

func notFound(name string) error {
	_ = name // names are sensitive: not in errors
	return ErrNotFound
}

// List returns every account, sorted by name. It opens the index only: no
// account file is decrypted, and no lock is taken.
func (v *Vault) List() ([]Account, error) {
	st, err := v.unlock()
	if err != nil {
		return nil, err
	}
	x, err := v.loadIndex(st)
	if err != nil {
		return nil, err
	}
	x.sort()
	return x.Accounts, nil
}

// Show returns one account's index entry.
func (v *Vault) Show(name string) (Account, error) {
	st, err := v.unlock()
	if err != nil {
		return Account{}, err
	}
	x, err := v.loadIndex(st)
	if err != nil {
		return Account{}, err
	}
	i := x.find(name)
	if i < 0 {
		return Account{}, notFound(name)
	}
	return x.Accounts[i], nil
}
