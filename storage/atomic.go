package storage

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data so that a crash at any moment
// leaves either the old file or the new one, never a torn one: write a
// temp file in the same directory (mode 0600), fsync it, rename it over
// path, fsync the directory.
func WriteFileAtomic(path string, data []byte) error {
	t, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := t.sync(); err != nil {
		return err
	}
	if err := t.rename(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// tempFile is a new file written beside path, not yet in its place.
type tempFile struct {
	path string // where it goes
	tmp  string
	f    *os.File // open until sync
}

// writeTemp writes data to a new temp file in path's directory (mode
// 0600, created with O_EXCL), not synced.
func writeTemp(path string, data []byte) (*tempFile, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	t := &tempFile{path: path, tmp: filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(rnd[:]))}
	f, err := os.OpenFile(t.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: create temp file: %w", err)
	}
	t.f = f
	if _, err := f.Write(data); err != nil {
		t.remove()
		return nil, fmt.Errorf("storage: write: %w", err)
	}
	return t, nil
}

// sync fsyncs and closes the temp file; on error it is removed.
func (t *tempFile) sync() error {
	if err := t.f.Sync(); err != nil {
		t.remove()
		return fmt.Errorf("storage: fsync: %w", err)
	}
	err := t.f.Close()
	t.f = nil
	if err != nil {
		t.remove()
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// rename puts the synced temp file in its place; on error it is removed.
func (t *tempFile) rename() error {
	if err := os.Rename(t.tmp, t.path); err != nil {
		t.remove()
		return fmt.Errorf("storage: rename: %w", err)
	}
	return nil
}

// remove closes (if open) and deletes the temp file.
func (t *tempFile) remove() {
	if t.f != nil {
		_ = t.f.Close()
		t.f = nil
	}
	_ = os.Remove(t.tmp)
}
