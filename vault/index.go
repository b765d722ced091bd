package vault

import (
	"errors"
	"fmt"
	"sort"

	"github.com/tgvault/tgvault/crypto"
)

// index is the sealed index.age: every account's entry, by name.
type index struct {
	Version  int
	VaultID  string
	Accounts []Account
}

func (x *index) find(name string) int {
	for i := range x.Accounts {
		if x.Accounts[i].Name == name {
			return i
		}
	}
	return -1
}

func (x *index) byID(id string) int {
	for i := range x.Accounts {
		if x.Accounts[i].ID == id {
			return i
		}
	}
	return -1
}

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
		return nil, translateOpen("the index", err)
	}
	defer clear(plain)
	x, err := unmarshalIndex(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: the index is not readable", ErrCorrupt)
	}
	if x.VaultID != v.meta.VaultID {
		return nil, fmt.Errorf("%w: the index belongs to another vault", ErrCorrupt)
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
	return t, nil
}

func (t *tx) save() error { return t.v.saveIndex(t.st, t.idx) }

func (t *tx) end() { _ = t.lk.release() }

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
