package vault

import (
	"errors"
	"io/fs"
	"os"
)

// RemovePlaintext deletes an imported plaintext session file and the
// SQLite companions that may hold parts of it (-journal, -wal, -shm). A
// companion that is not there is no error.
func RemovePlaintext(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	for _, suf := range []string{"-journal", "-wal", "-shm"} {
		if err := os.Remove(path + suf); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// IsNoKeyring reports whether the vault that o locates was made with
// --no-keyring (InitOptions.NoKeyring). Such a vault must never touch the
// keyring (a headless host has none, and a desktop one may pop up an
// unlock prompt), but Open consults Options.Keyring when nothing else
// unlocks it; so a caller asks first. It opens the vault without keyring,
// identity or passphrase and reads vault.json only, nothing secret; a
// vault that does not open is no such vault.
func IsNoKeyring(o Options) bool {
	v, err := Open(Options{Dir: o.Dir, Backend: o.Backend})
	if err != nil {
		return false
	}
	defer v.Close()
	st, err := v.Status()
	return err == nil && st.NoKeyring
}
