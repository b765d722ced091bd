package vault

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
)

// errIndexWrite is failIndexBackend's failure.
var errIndexWrite = errors.New("test: the index write failed")

// failIndexBackend is the vault's directory whose index writes fail while
// fail is set.
type failIndexBackend struct {
	DirBackend
	fail atomic.Bool
}

func (b *failIndexBackend) Write(name string, data []byte) error {
	if name == indexName && b.fail.Load() {
		return errIndexWrite
	}
	return b.DirBackend.Write(name, data)
}

// exists reports whether path is there.
func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// TestImportFilesRemoveSource: with RemoveSource, ImportFiles removes a
// batch's sources (and their SQLite companions) once the batch's index
// write succeeded, and none of them when it failed: those files are
// reported with the index write's error and stay where they were.
func TestImportFilesRemoveSource(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failIndex  bool
		wantRemove bool
	}{
		{"index saved", false, true},
		{"index save fails", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tv := newTestVault(t)
			paths := makeSessionFiles(t, t.TempDir(), 5)
			for _, p := range paths {
				if err := os.WriteFile(p+"-journal", []byte("part of it"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			be := &failIndexBackend{DirBackend: DirBackend(tv.Dir())}
			be.fail.Store(tc.failIndex)
			v := tv.reopen(t, Options{Backend: be, Keyring: tv.kr})
			reported := 0
			err := v.ImportFiles(paths, ImportOptions{RemoveSource: true}, func(n int, r ImportReport, err error) {
				reported++
				switch {
				case tc.failIndex && (!errors.Is(err, errIndexWrite) || r.Removed):
					t.Errorf("file %d: %+v, %v; want the index write's error", n, r, err)
				case !tc.failIndex && (err != nil || !r.Removed || r.PlaintextRemains):
					t.Errorf("file %d: removed %v, plaintext remains %v, %v; want removed", n, r.Removed, r.PlaintextRemains, err)
				}
			})
			if tc.failIndex != errors.Is(err, errIndexWrite) {
				t.Errorf("ImportFiles: %v", err)
			}
			if reported != len(paths) {
				t.Errorf("%d files reported, want %d", reported, len(paths))
			}
			for _, p := range paths {
				if exists(t, p) == tc.wantRemove || exists(t, p+"-journal") == tc.wantRemove {
					t.Errorf("%s: there %v, its journal there %v; want removed %v", filepath.Base(p), exists(t, p), exists(t, p+"-journal"), tc.wantRemove)
				}
			}
			list, err := tv.List()
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 0, false: len(paths)}[tc.failIndex]; len(list) != want {
				t.Errorf("%d accounts in the index, want %d", len(list), want)
			}
		})
	}
}

// TestImportFileRemoveSource: ImportFile removes its source only once the
// account is in the saved index; not when the save fails, not without
// RemoveSource, not when the key was in the vault already (SkipExisting).
func TestImportFileRemoveSource(t *testing.T) {
	tv := newTestVault(t)
	be := &failIndexBackend{DirBackend: DirBackend(tv.Dir())}
	v := tv.reopen(t, Options{Backend: be, Keyring: tv.kr})
	paths := makeSessionFiles(t, t.TempDir(), 3)

	be.fail.Store(true)
	if _, err := v.ImportFile(paths[0], ImportOptions{RemoveSource: true}); !errors.Is(err, errIndexWrite) {
		t.Fatalf("ImportFile with a failing index write: %v", err)
	}
	if !exists(t, paths[0]) {
		t.Fatal("the source was removed although the index save failed")
	}
	be.fail.Store(false)

	r, err := v.ImportFile(paths[1], ImportOptions{})
	if err != nil || r.Removed || !r.PlaintextRemains || !exists(t, paths[1]) {
		t.Fatalf("without RemoveSource: %+v, %v; the source there %v", r, err, exists(t, paths[1]))
	}

	r, err = v.ImportFile(paths[0], ImportOptions{RemoveSource: true})
	if err != nil || !r.Removed || r.PlaintextRemains || exists(t, paths[0]) {
		t.Fatalf("saved: %+v, %v; the source there %v", r, err, exists(t, paths[0]))
	}
	if _, err := tv.Show(r.Account.Name); err != nil {
		t.Fatalf("the removed source's account: %v", err)
	}

	// The same key again, from a copy: the vault has it, the copy stays.
	dup := filepath.Join(t.TempDir(), "copy.session")
	b, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dup, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err = v.ImportFile(dup, ImportOptions{RemoveSource: true, SkipExisting: true})
	if err != nil || r.Existing == "" || r.Removed || !exists(t, dup) {
		t.Fatalf("existing key: %+v, %v; the copy there %v", r, err, exists(t, dup))
	}
}

// TestImportFileRemoveSourceFails: a source that cannot be removed is a
// *RemoveSourceError returned with the report of the imported account.
func TestImportFileRemoveSourceFails(t *testing.T) {
	if os.Getuid() == 0 || runtime.GOOS == "windows" {
		t.Skip("root (and Windows) removes files from a read-only directory")
	}
	tv := newTestVault(t)
	dir := t.TempDir()
	p := makeSessionFiles(t, dir, 1)[0]
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	r, err := tv.ImportFile(p, ImportOptions{RemoveSource: true})
	var re *RemoveSourceError
	if !errors.As(err, &re) || re.Path != p || r.Account.Name == "" || r.Removed || !r.PlaintextRemains {
		t.Fatalf("%+v, %v; want a *RemoveSourceError with the report", r, err)
	}
	if _, err := tv.Show(r.Account.Name); err != nil {
		t.Fatalf("the account: %v", err)
	}
}
