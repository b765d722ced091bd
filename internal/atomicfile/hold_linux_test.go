package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHoldReplaced: what Rename holds across a rename on Linux is the file
// in the target's place (its old content readable through it); a symlink
// there is not followed, and a FIFO there does not block (Rename returns
// at once and replaces it).
func TestHoldReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	old := holdReplaced(p)
	if old == nil {
		t.Fatal("holdReplaced held nothing")
	}
	if err := WriteFile(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(old); string(got) != "old" {
		t.Fatalf("the held file reads %q, want the replaced content", got)
	}
	old.Close()
	if holdReplaced(filepath.Join(dir, "missing")) != nil {
		t.Fatal("holdReplaced held a missing file")
	}

	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	if f := holdReplaced(link); f != nil {
		f.Close()
		t.Fatal("holdReplaced followed a symlink")
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tmp, err := Stage(fifo, []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tmp.Sync(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tmp.Rename() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Rename blocked on a FIFO in the target's place")
	}
	if got, _ := os.ReadFile(fifo); string(got) != "new" {
		t.Fatalf("the FIFO's place holds %q, want the new file", got)
	}
}
