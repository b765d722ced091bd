package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		name    string
		mode    fs.FileMode
		exposed fs.FileMode // on a system with modes
	}{
		{"owner only", 0o600, 0},
		{"owner read-only", 0o400, 0},
		{"group readable", 0o640, 0o640},
		{"world readable", 0o644, 0o644},
		{"other readable only", 0o604, 0o604},
		{"group writable, not readable", 0o620, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			if err := os.WriteFile(p, []byte("s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			want := tt.exposed
			if runtime.GOOS == "windows" {
				want = 0
			}
			b, exposed, err := Read(p)
			if err != nil || string(b) != "s3cret\n" || exposed != want {
				t.Fatalf("Read = %q, %04o, %v; want the content, %04o", b, exposed, err, want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	b, exposed, err := Read(big)
	if !errors.Is(err, ErrTooLarge) || b != nil {
		t.Errorf("a file over MaxSize: %d bytes, %v", len(b), err)
	}
	if runtime.GOOS != "windows" && exposed != 0o644 {
		t.Errorf("a file over MaxSize: exposed %04o, want 0644 with the error", exposed)
	}
	ok := filepath.Join(dir, "max")
	if err := os.WriteFile(ok, make([]byte, MaxSize), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _, err := Read(ok); err != nil || len(b) != MaxSize {
		t.Errorf("a file of MaxSize: %d bytes, %v", len(b), err)
	}
}
