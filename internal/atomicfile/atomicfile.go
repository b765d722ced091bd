// Package atomicfile writes files so that a crash at any moment leaves the
// old file or the new one, never a torn one: a temp file in the same
// directory (mode 0600, created exclusively), fsync, rename over the
// target, fsync of the directory (restic's local backend does the same).
// Storage, the vault's directory backend and the dev server write every
// file through it; a batch of writes can share their fsyncs (Stage, then
// Sync and Rename of each, then one SyncDir per directory).
//
// Layer rule (docs/ARCHITECTURE.md): the standard library only.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data so that a crash at any moment leaves
// either the old file or the new one, never a torn one: write a temp file
// in the same directory (mode 0600), fsync it, rename it over path, fsync
// the directory.
func WriteFile(path string, data []byte) error {
	t, err := Stage(path, data)
	if err != nil {
		return err
	}
	if err := t.Sync(); err != nil {
		return err
	}
	if err := t.Rename(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Temp is a new file written beside its target, not yet in its place.
type Temp struct {
	path string // where it goes
	tmp  string
	f    *os.File // open until Sync
}

// Path is the file the temp file replaces.
func (t *Temp) Path() string { return t.path }

// Stage writes data to a new temp file in path's directory (mode 0600,
// created with O_EXCL; hidden: ".NAME.tmp-RANDOM"), not synced.
func Stage(path string, data []byte) (*Temp, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	t := &Temp{path: path, tmp: filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(rnd[:]))}
	f, err := os.OpenFile(t.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: create temp file: %w", err)
	}
	t.f = f
	if _, err := f.Write(data); err != nil {
		t.remove()
		return nil, fmt.Errorf("atomicfile: write: %w", err)
	}
	return t, nil
}

// Sync fsyncs and closes the temp file; on error it is removed.
func (t *Temp) Sync() error {
	if err := t.f.Sync(); err != nil {
		t.remove()
		return fmt.Errorf("atomicfile: fsync: %w", err)
	}
	err := t.f.Close()
	t.f = nil
	if err != nil {
		t.remove()
		return fmt.Errorf("atomicfile: close: %w", err)
	}
	return nil
}

// Rename puts the synced temp file in its place (durable once its
// directory is synced); on error it is removed. On Linux it holds the file
// it replaces open across the rename and lets go of it after: the file
// system frees a replaced file's inode and blocks when its last reference
// goes, which would otherwise happen inside the rename, under the
// directory's lock (on ext4 without a journal and mounted with discard,
// as on the benchmark host, with a discard of the blocks waited for
// there), so that the renames of a batch queued behind each other's frees;
// held, the free happens in the close, and the renames of a batch's
// workers free their files at once. (On NFS a file replaced while open is
// kept as a hidden .nfsXXXX file until the close; a crash in between
// leaves that sealed old copy in the directory, as any open reader would.)
func (t *Temp) Rename() error {
	old := holdReplaced(t.path)
	err := os.Rename(t.tmp, t.path)
	if old != nil {
		_ = old.Close()
	}
	if err != nil {
		t.remove()
		return fmt.Errorf("atomicfile: rename: %w", err)
	}
	return nil
}

// remove closes (if open) and deletes the temp file.
func (t *Temp) remove() {
	if t.f != nil {
		_ = t.f.Close()
		t.f = nil
	}
	_ = os.Remove(t.tmp)
}
