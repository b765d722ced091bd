package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestWriteFile: the file is replaced whole, private, with no temp file
// left beside it; a write into a missing directory fails and leaves
// nothing.
func TestWriteFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, data := range []string{"a long first version", "short", ""} {
		if err := WriteFile(p, []byte(data)); err != nil {
			t.Fatalf("WriteFile: %v", err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != data {
			t.Fatalf("read back %q, %v; want %q", got, err, data)
		}
	}
	if fi, err := os.Stat(p); err != nil {
		t.Fatal(err)
	} else if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries in the directory, want the file only", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f"), []byte("x")); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

// TestStage: a staged file is hidden beside its target until Rename, and
// the target keeps its old content until then.
func TestStage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	tmp, err := Stage(p, []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	if tmp.Path() != p {
		t.Errorf("Path = %q, want %q", tmp.Path(), p)
	}
	if err := tmp.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Errorf("before Rename the file holds %q, want the old content", got)
	}
	if err := tmp.Rename(); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "new" {
		t.Errorf("after Rename the file holds %q, want the new content", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries in the directory, want the file only", len(ents))
	}
}
