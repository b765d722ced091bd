package privdir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestEnsure(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		t.Fatalf("not made: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %04o, want 0700", fi.Mode().Perm())
	}
	if err := Ensure(dir); err != nil {
		t.Errorf("second Ensure: %v", err)
	}
}

func TestCheckRefuses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	t.Parallel()
	root := t.TempDir()
	open := filepath.Join(root, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{open: "mode 0755", link: "symbolic link", file: "not a directory"} {
		err := Ensure(dir)
		var pe *Error
		if !errors.Is(err, ErrNotPrivate) || !errors.As(err, &pe) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("Ensure(%s) = %v, want %q", dir, err, want)
		}
	}
	if err := Check(filepath.Join(root, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Check(missing) = %v", err)
	}
}

// TestCheckOtherOwner: a directory another user made is refused, however
// private its mode. Needs root to give a directory away (the reliability
// harness does the same through the binary as a second user).
func TestCheckOtherOwner(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		t.Skip("needs root to chown a directory to another user")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := Ensure(dir)
	if !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), "owned by uid 65534, not by you (uid 0)") || !strings.Contains(err.Error(), "rm -r "+dir) {
		t.Errorf("Ensure = %v", err)
	}
}
