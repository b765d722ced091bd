// Package privdir makes and checks the private directories tgvault keeps
// its sockets in: a directory of the user's own, mode 0700, not a symbolic
// link. Under a shared temporary directory another local user can create
// the directory first (and serve a fake socket in it), so a directory that
// exists with another owner or a looser mode is refused, with an error
// that names the fix. It is a leaf: it imports only the standard library
// and holds no state.
package privdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNotPrivate marks a directory that is not the user's own private one.
var ErrNotPrivate = errors.New("not a private directory")

// Error is a directory refused by Check or Ensure. It matches
// ErrNotPrivate.
type Error struct {
	Dir     string
	Problem string // what is wrong, in words
	Fix     string // what to do about it
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s is %v: %s; %s", e.Dir, ErrNotPrivate, e.Problem, e.Fix)
}

// Unwrap returns ErrNotPrivate.
func (e *Error) Unwrap() error { return ErrNotPrivate }

// Ensure makes dir with mode 0700 when it is missing (its parents as
// needed) and checks it as Check does.
func Ensure(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	return Check(dir)
}

// Check reports whether dir, which must exist, is a directory (not a
// symbolic link to one) owned by the effective user and closed to
// everyone else (no group or other permission bits). It returns an
// *Error naming the problem and the fix, or the error of looking at it
// (fs.ErrNotExist when it is missing).
func Check(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	fix := "remove it (rm -r " + dir + ") and run again, or point tgvault elsewhere (XDG_RUNTIME_DIR, --socket, TGVAULT_AGENT_SOCKET)"
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return &Error{Dir: dir, Problem: "a symbolic link", Fix: fix}
	case !fi.IsDir():
		return &Error{Dir: dir, Problem: "not a directory", Fix: fix}
	}
	if uid, mine := owner(fi); !mine {
		return &Error{Dir: dir, Problem: fmt.Sprintf("owned by uid %d, not by you (uid %d): another user may have made it to catch your connections", uid, os.Geteuid()), Fix: fix}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && checkModes {
		return &Error{Dir: dir, Problem: fmt.Sprintf("mode %04o, open to other users", perm), Fix: "chmod 700 " + dir + " if nothing else should use it, else " + fix}
	}
	return nil
}
