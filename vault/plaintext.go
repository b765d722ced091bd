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
