package peercred

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestUID: the peer of a socket this process dialled is this process's
// user; where the OS has no peer credentials, UID says so.
func TestUID(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Skipf("no unix sockets here: %v", err)
	}
	defer ln.Close()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	uid, err := UID(s)
	if !Supported {
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("UID = %d, %v; want ErrUnsupported", uid, err)
		}
		return
	}
	if err != nil || uid != os.Geteuid() {
		t.Fatalf("UID = %d, %v; want %d", uid, err, os.Geteuid())
	}
}
