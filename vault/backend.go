package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

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
}

// The locks of a Backend.
const (
	// LockWrite serialises the writers of the vault.
	LockWrite = "lock"
	// LockRun marks a running pool (`tgvault run`).
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

// Write replaces a file atomically (storage.WriteFileAtomic).
func (d DirBackend) Write(name string, data []byte) error {
	return storage.WriteFileAtomic(d.path(name), data)
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

// backendErr wraps a backend failure for the operation what.
func backendErr(what string, err error) error {
	return fmt.Errorf("vault: %s: %w", what, err)
}
