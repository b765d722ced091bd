package vault

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// One key, one account: Telegram kills an auth key used from two places at
// once (AUTH_KEY_DUPLICATED), and two accounts of one vault holding the
// same key would be two places as soon as `run` connects both. The index
// records each account's key id (Account.KeyID), and every way a key comes
// in (import in every form, a sealed hand-off, tdata, login) is checked
// against it under the write lock.

// keyID parses Account.KeyID.
func (a *Account) keyID() (sessionstring.KeyID, bool) {
	if len(a.KeyID) != 16 {
		return 0, false
	}
	b, err := hex.DecodeString(a.KeyID)
	if err != nil {
		return 0, false
	}
	return sessionstring.KeyID(binary.LittleEndian.Uint64(b)), true
}

// setKeyID sets Account.KeyID; 0 (no key) clears it.
func (a *Account) setKeyID(id sessionstring.KeyID) {
	if id == 0 {
		a.KeyID = ""
		return
	}
	a.KeyID = id.String()
}

// keyOwner returns the index position of the account holding key id, or
// -1. The map is built once per transaction and kept up to date by add
// and drop.
func (t *tx) keyOwner(id sessionstring.KeyID) int {
	if t.keys == nil {
		t.keys = make(map[sessionstring.KeyID]string, len(t.idx.Accounts))
		for i := range t.idx.Accounts {
			if k, ok := t.idx.Accounts[i].keyID(); ok {
				t.keys[k] = t.idx.Accounts[i].ID
			}
		}
	}
	acct, ok := t.keys[id]
	if !ok {
		return -1
	}
	return t.idx.byID(acct)
}

// checkKey refuses a key that an account of the vault holds, unless
// replace allows replacing that account. It returns the position of the
// account to replace (-1 for none).
func (t *tx) checkKey(id sessionstring.KeyID, replace bool) (int, error) {
	i := t.keyOwner(id)
	if i < 0 {
		return -1, nil
	}
	if !replace {
		a := &t.idx.Accounts[i]
		return -1, &DuplicateKeyError{Account: a.Name, KeyID: a.KeyID}
	}
	return i, nil
}

// recordKey fills an index entry's key id from the store's session row.
func recordKey(a *Account, row storage.SessionRow) bool {
	id := row.AuthKey.ID()
	if id == 0 {
		return false
	}
	if k, ok := a.keyID(); ok && k == id {
		return false
	}
	a.setKeyID(id)
	return true
}

// Duplicates returns the groups of accounts that hold the same auth key,
// by key id (Doctor lists them). It reads the index only.
func duplicates(accts []Account) map[string][]string {
	by := map[string][]string{}
	for _, a := range accts {
		if a.KeyID != "" {
			by[a.KeyID] = append(by[a.KeyID], a.Name)
		}
	}
	for k, names := range by {
		if len(names) < 2 {
			delete(by, k)
		}
	}
	return by
}

// describeDuplicates is Doctor's text for one group.
func describeDuplicates(keyID string, names []string) string {
	return fmt.Sprintf("key id %s is in %d accounts: %q", keyID, len(names), names)
}
