//go:build !linux && !windows

package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Where the OS has no byte-range lock that belongs to an open file (macOS
// and the BSDs have flock, and POSIX record locks that belong to the
// process), each account's ownership lock is a flock on its own file,
// owners/<id>.lock, which also holds the holder's record: a run serving N
// accounts keeps N more files open (raise the open-file limit for a large
// vault). Linux and Windows use one file (ownerlock_ranges.go).

// lockOwners takes the locks of ids it can at once; busy are the ones
// another open file holds.
func (d DirBackend) lockOwners(ids []string, rec []byte) (taken map[string]func() error, busy []string, err error) {
	taken = make(map[string]func() error, len(ids))
	for _, id := range ids {
		f, err := os.OpenFile(d.ownerPath(id, ownerExt), os.O_RDWR|os.O_CREATE, fileMode)
		if err != nil {
			return taken, nil, tooManyFiles(err)
		}
		switch err := tryLock(f); {
		case errors.Is(err, errWouldBlock):
			_ = f.Close()
			busy = append(busy, id)
			continue
		case err != nil:
			_ = f.Close()
			return taken, nil, err
		}
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt(rec, 0)
		}
		taken[id] = (&heldLock{f: f}).release
	}
	return taken, busy, nil
}

// tooManyFiles says what to do when the open-file limit is reached.
func tooManyFiles(err error) error {
	if errors.Is(err, syscall.EMFILE) {
		return fmt.Errorf("%w (run holds a lock file per account it serves here: raise the open-file limit, ulimit -n)", err)
	}
	return err
}

// ownerRecord reads the holder record of an account's lock.
func (d DirBackend) ownerRecord(id string) LockHolder {
	h, _ := readHolder(d.ownerPath(id, ownerExt))
	return h
}

// AccountHolders probes every lock file under owners/.
func (d DirBackend) AccountHolders() (map[string]LockHolder, error) {
	ents, err := os.ReadDir(d.path(ownersDir))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]LockHolder{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vault: owner locks: %w", err)
	}
	out := map[string]LockHolder{}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ownerExt)
		if !ok || !validID(id) || !e.Type().IsRegular() {
			continue
		}
		if h, held := probeLock(filepath.Join(d.path(ownersDir), e.Name())); held {
			out[id] = h
		}
	}
	return out, nil
}

// removeOwnerLock deletes an account's lock file (rm, with the lock
// held).
func (d DirBackend) removeOwnerLock(id string) {
	if validID(id) {
		_ = os.Remove(d.ownerPath(id, ownerExt))
	}
}
