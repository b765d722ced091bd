package vault

import (
	"fmt"

	"github.com/tgvault/tgvault/storage"
)

// CreateAccount adds an account made from snap, the store of a fresh login
// (`tgvault login`): under the write lock it writes the account file, then
// the index entry. The session must hold an auth key; a name in use is
// refused with ErrExists. source says where the account came from (shown by
// list and show).
func (v *Vault) CreateAccount(name string, snap *storage.Snapshot, source string) (Account, error) {
	if err := checkName(name); err != nil {
		return Account{}, err
	}
	if snap == nil || snap.Session.AuthKey.IsZero() {
		return Account{}, fmt.Errorf("%w: the session has no auth key", ErrBadInput)
	}
	t, err := v.begin()
	if err != nil {
		return Account{}, err
	}
	defer t.end()
	if t.idx.find(name) >= 0 {
		return Account{}, fmt.Errorf("%w: an account has that name", ErrExists)
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
	if err := t.add(a); err != nil {
		_ = v.removeAccount(id)
		return Account{}, err
	}
	if err := t.save(); err != nil {
		_ = v.removeAccount(id)
		return Account{}, err
	}
	return a, nil
}
