package vault

import (
	"fmt"

	"github.com/tgvault/tgvault/storage"
)

// CheckNewAccount says, before a caller does what it cannot undo to get a
// new account's session (a login makes an authorization on the server),
// whether CreateAccount would refuse name or cannot run: an invalid name
// (ErrInvalidName), a name an account has (ErrExists), a locked vault
// (ErrLocked), a vault migrated elsewhere (*MigratedError, unless
// AllowMigrated). An import meanwhile may still take the name; CreateAccount
// refuses it then.
func (v *Vault) CheckNewAccount(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	st, err := v.unlock()
	if err != nil {
		return err
	}
	x, err := v.loadIndex(st)
	if err != nil {
		return err
	}
	if err := v.refuseMigrated(x, false); err != nil {
		return err
	}
	if x.find(name) >= 0 {
		return fmt.Errorf("%w: an account has that name", ErrExists)
	}
	return nil
}

// CreateAccount adds an account made from snap, the store of a fresh login
// (`tgvault login`): under the write lock it writes the account file, then
// the index entry. The session must hold an auth key; a name in use is
// refused with ErrNameTaken, a key the vault holds already (which a fresh
// key exchange cannot make, but a seeded or copied session can) with a
// *DuplicateKeyError before anything is written. source says where the
// account came from (shown by list and show).
func (v *Vault) CreateAccount(name string, snap *storage.Snapshot, source string) (Account, error) {
	if err := checkName(name); err != nil {
		return Account{}, err
	}
	if snap == nil || snap.Session.AuthKey.IsZero() {
		return Account{}, fmt.Errorf("%w: the session has no auth key", ErrBadInput)
	}
	t, err := v.beginImport(ImportOptions{})
	if err != nil {
		return Account{}, err
	}
	defer t.end()
	kid := snap.Session.AuthKey.ID()
	if _, err := t.checkKey(kid, false); err != nil {
		return Account{}, err
	}
	if t.idx.find(name) >= 0 {
		return Account{}, nameTaken(name)
	}
	id := newID(16)
	b := storage.Binding{VaultID: v.meta.VaultID, AccountID: id, Revision: 1}
	f, err := v.newAccountFile(id, t.sealer, b, snap)
	if err != nil {
		return Account{}, fmt.Errorf("vault: write account file: %w", err)
	}
	rev := f.Revision()
	peers, err := f.PeerCount()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = v.removeAccount(id)
		return Account{}, err
	}
	now := v.now().UTC()
	row := snap.Session
	a := Account{
		Name: name, ID: id, UserID: row.UserID, DCID: row.DCID, IsBot: row.IsBot,
		TestMode: row.TestMode, APIID: row.APIID, Status: StatusActive,
		Peers: peers, Revision: rev, Source: source, Created: now, Updated: now,
	}
	a.setKeyID(kid)
	if err := t.add(&ImportReport{Account: a}, ImportOptions{Name: name}); err != nil {
		_ = v.removeAccount(id)
		return Account{}, err
	}
	if err := t.save(); err != nil {
		_ = v.removeAccount(id)
		return Account{}, err
	}
	return a, nil
}
