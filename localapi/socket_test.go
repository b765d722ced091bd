//go:build unix

package localapi

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tgvault/tgvault/internal/privdir"
)

// TestDefaultSocket: the runtime directory's socket, its directory made
// private when missing and refused when open to others; TGVAULT_SOCKET
// taken as it is, nothing made.
func TestDefaultSocket(t *testing.T) {
	t.Parallel()
	rt := t.TempDir()
	env := map[string]string{"XDG_RUNTIME_DIR": rt}
	getenv := func(k string) string { return env[k] }
	sock, err := DefaultSocket(getenv)
	if err != nil || sock != filepath.Join(rt, "tgvault", "run.sock") {
		t.Fatalf("DefaultSocket = %q, %v", sock, err)
	}
	if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the socket directory: %v, %v; want made 0700", fi, err)
	}
	if err := os.Chmod(filepath.Dir(sock), 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := DefaultSocket(getenv); !errors.Is(err, privdir.ErrNotPrivate) {
		t.Errorf("a socket directory open to all: %v, want privdir.ErrNotPrivate", err)
	}
	named := filepath.Join(t.TempDir(), "none", "my.sock")
	env["TGVAULT_SOCKET"] = named
	if sock, err := DefaultSocket(getenv); err != nil || sock != named {
		t.Errorf("with TGVAULT_SOCKET: %q, %v", sock, err)
	}
	if _, err := os.Stat(filepath.Dir(named)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the named socket's directory was made: %v", err)
	}
}
