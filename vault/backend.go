package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tgvault/tgvault/internal/atomicfile"
	"github.com/tgvault/tgvault/storage"
)

// Backend is where a vault keeps its sealed blobs and its locks: a
// directory (DirBackend, the default) or a database (package pgvault).
// The vault seals everything before it reaches a Backend, so a Backend
// never sees a plaintext key, account name or phone number; only
// vault.json is public.
//
// Blob names are slash-separated and relative to the vault: "vault.json",
// "slots/passphrase.age", "slots/rekey.age", "index.age" and
// "accounts/<id>.age". A Backend must be safe for concurrent use.
type Backend interface {
	// Location names the vault for people (a directory, or a URL without
	// its password).
	Location() string
	// Prepare creates what an empty vault needs (directories 0700).
	Prepare() error
	// Read returns a blob; an error matching fs.ErrNotExist when missing.
	Read(name string) ([]byte, error)
	// Write replaces a blob atomically (a crash leaves the old blob or the
	// new one), creating it when missing.
	Write(name string, data []byte) error
	// Remove deletes a blob; a missing one is not an error.
	Remove(name string) error
	// List returns the names of the blobs in dir ("accounts"), as Read
	// takes them, in any order.
	List(dir string) ([]string, error)
	// Blob is the storage.Blob of an account image, for storage.File.
	Blob(name string) storage.Blob
	// Lock takes lock (LockWrite or LockRun) for h without waiting long:
	// a lock held elsewhere gives a *BusyError naming its holder.
	Lock(lock string, h LockHolder) (release func() error, err error)
	// Probe reports whether someone holds lock, and who.
	Probe(lock string) (LockHolder, bool)
	// LockAccounts takes the ownership locks of the accounts ids (their
	// random ids) for h, without waiting long: a `tgvault run` holds the
	// lock of each account it serves for its whole life, a command that
	// exports, moves, removes or renames an account holds it for that
	// moment, so that exactly one of them has the account. It returns a
	// release function for each lock taken and the holder of each one
	// held elsewhere. A lock whose holder dies is freed (by the kernel,
	// or by expiry).
	LockAccounts(ids []string, h LockHolder) (taken map[string]func() error, busy map[string]LockHolder, err error)
	// AccountHolders returns the holder of every ownership lock held now,
	// by account id.
	AccountHolders() (map[string]LockHolder, error)
}

// The locks of a Backend.
const (
	// ownersDir holds a DirBackend's account ownership locks,
	// owners/<account-id>.lock.
	ownersDir = "owners"
	ownerExt  = ".lock"

	// LockWrite serialises the writers of the vault.
	LockWrite = "lock"
	// LockRun was the vault-wide lock of a running pool before ownership
	// became per account (LockAccounts); a PostgreSQL vault still has its
	// row, and its Probe reports a live worker lease under it.
	LockRun = "run.lock"
)

// ThisProcess is the LockHolder record of this process, since now.
func ThisProcess(now time.Time) LockHolder {
	host, _ := os.Hostname()
	return LockHolder{PID: os.Getpid(), Command: command(), Host: host, Since: now.UTC()}
}

// DirBackend is the directory backend: every blob a file under dir, the
// locks advisory locks on lock files (released by the kernel when the
// process dies).
type DirBackend string

var _ Backend = DirBackend("")

func (d DirBackend) path(name string) string {
	return filepath.Join(string(d), filepath.FromSlash(name))
}

// Location returns the directory.
func (d DirBackend) Location() string { return string(d) }

// Prepare creates the directory, slots/ and accounts/, all 0700.
func (d DirBackend) Prepare() error {
	for _, p := range []string{string(d), d.path(slotsDir), d.path(accountsDir)} {
		if err := os.MkdirAll(p, dirMode); err != nil {
			return err
		}
		if err := os.Chmod(p, dirMode); err != nil {
			return err
		}
	}
	return nil
}

// Read reads a file.
func (d DirBackend) Read(name string) ([]byte, error) { return os.ReadFile(d.path(name)) }

// Write replaces a file atomically (atomicfile.WriteFile).
func (d DirBackend) Write(name string, data []byte) error {
	return atomicfile.WriteFile(d.path(name), data)
}

// Remove removes a file.
func (d DirBackend) Remove(name string) error {
	if err := os.Remove(d.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// List lists the regular files of dir, leaving out hidden ones (the temp
// files of atomic writes).
func (d DirBackend) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(d.path(dir))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, dir+"/"+e.Name())
		}
	}
	return names, nil
}

// Blob is the file's storage.FileBlob.
func (d DirBackend) Blob(name string) storage.Blob { return storage.FileBlob(d.path(name)) }

// Lock takes the advisory lock of the lock file named lock.
func (d DirBackend) Lock(lock string, h LockHolder) (func() error, error) {
	l, err := acquireLock(d.path(lock), h)
	if err != nil {
		return nil, err
	}
	return l.release, nil
}

// Probe tests the lock file named lock.
func (d DirBackend) Probe(lock string) (LockHolder, bool) { return probeLock(d.path(lock)) }

// LockAccounts takes the ownership locks of ids (ownerlock_*.go: byte-
// range locks on one file where the OS has them per open file, else a
// lock file per account), retrying busy ones a few times together (a
// prober may hold a lock for an instant).
func (d DirBackend) LockAccounts(ids []string, h LockHolder) (map[string]func() error, map[string]LockHolder, error) {
	for _, id := range ids {
		if !validID(id) {
			return nil, nil, fmt.Errorf("vault: owner lock: bad account id")
		}
	}
	if err := os.MkdirAll(d.path(ownersDir), dirMode); err != nil {
		return nil, nil, fmt.Errorf("vault: owner locks: %w", err)
	}
	rec, _ := json.Marshal(h)
	rec = append(rec, '\n')
	taken := make(map[string]func() error, len(ids))
	pending := ids
	for try := 0; len(pending) > 0; try++ {
		got, again, err := d.lockOwners(pending, rec)
		for id, rel := range got {
			taken[id] = rel
		}
		if err != nil {
			for _, rel := range taken {
				_ = rel()
			}
			return nil, nil, fmt.Errorf("vault: owner lock: %w", err)
		}
		pending = again
		if len(pending) == 0 || try >= lockTries {
			break
		}
		time.Sleep(lockRetry)
	}
	busy := make(map[string]LockHolder, len(pending))
	for _, id := range pending {
		busy[id] = d.ownerRecord(id)
	}
	return taken, busy, nil
}

// ownerPath is the file of an account's ownership lock or record.
func (d DirBackend) ownerPath(id, ext string) string {
	return filepath.Join(d.path(ownersDir), id+ext)
}

// validID reports whether id is an account id as newID makes them (hex),
// so that it is safe in a path.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// backendErr wraps a backend failure for the operation what.
func backendErr(what string, err error) error {
	return fmt.Errorf("vault: %s: %w", what, err)
}
