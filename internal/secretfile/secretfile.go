// Package secretfile reads the small files that hold a secret for
// tgvault (a passphrase file, an identity file, a proxy URL file) and
// tells whether users other than the owner can read them: a group or
// other read bit. Windows' ACLs are no modes; there nothing is reported.
// What to say about such a file is the caller's (cmd/tgvault warns).
//
// Layer rule (docs/ARCHITECTURE.md): a leaf; it imports the standard
// library only.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
)

// MaxSize bounds what Read reads: far more than any passphrase, identity
// or proxy URL, far less than a mistake (a device, a large file) would
// make it hold in memory.
const MaxSize = 1 << 20

// ErrTooLarge is a file larger than MaxSize.
var ErrTooLarge = errors.New("secretfile: larger than 1 MiB: not a secret file")

// Read returns the content of the file at path, and its permission bits
// when users other than its owner can read it (0 when they cannot, and
// always on Windows). The mode is returned with a read error too, once
// the file is open. Errors are the os package's (they name the path,
// never the content) or ErrTooLarge. The caller wipes the content.
func Read(path string) (secret []byte, exposed fs.FileMode, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		exposed = Exposed(fi.Mode())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		clear(b)
		return nil, exposed, err
	}
	if len(b) > MaxSize {
		clear(b)
		return nil, exposed, fmt.Errorf("%w: %s", ErrTooLarge, path)
	}
	return b, exposed, nil
}

// Exposed returns mode's permission bits when they let users other than
// the owner read the file (a group or other read bit), else 0; always 0
// on Windows.
func Exposed(mode fs.FileMode) fs.FileMode {
	if runtime.GOOS == "windows" || mode.Perm()&0o044 == 0 {
		return 0
	}
	return mode.Perm()
}
