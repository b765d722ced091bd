package devserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/tgvault/tgvault/internal/atomicfile"
)

// listenAddrFile keeps, in the state directory, the address the server
// listened on: its accounts remember that address (login stores it), so a
// restart listens there again rather than on a new port they would never
// find.
const listenAddrFile = "listen-addr"

// DefaultAddr is where a server listens when nothing says otherwise:
// loopback, a free port.
const DefaultAddr = "127.0.0.1:0"

// ListenAddr is the address a server on the state directory dir listens
// on: want when not empty, else the one dir keeps (kept says so), else
// DefaultAddr.
func ListenAddr(dir, want string) (addr string, kept bool, err error) {
	if want != "" {
		return want, false, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, listenAddrFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return DefaultAddr, false, nil
	case err != nil:
		return "", false, err
	}
	addr = strings.TrimSpace(string(b))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", false, fmt.Errorf("dev server state %s: not an address (%v); remove it, or ask for another address", filepath.Join(dir, listenAddrFile), err)
	}
	return addr, true, nil
}

// KeptAddrError is a kept address (ListenAddr) the server could not
// listen on: most likely another server on the same state directory.
type KeptAddrError struct {
	Addr string // the kept address
	File string // the file that keeps it
	Err  error  // why it could not listen
}

func (e *KeptAddrError) Error() string {
	return fmt.Sprintf("%v\nthe dev server listens on %s again because its accounts connect there (kept in %s); "+
		"is another dev server running on this state?", e.Err, e.Addr, e.File)
}

func (e *KeptAddrError) Unwrap() error { return e.Err }

// OpenKept is Open on the address ListenAddr(opts.Dir, opts.Addr) says,
// which it then keeps for the next start (SaveListenAddr). Failing to
// listen on a kept address is a *KeptAddrError.
func OpenKept(opts Options) (*Server, error) {
	addr, kept, err := ListenAddr(opts.Dir, opts.Addr)
	if err != nil {
		return nil, err
	}
	opts.Addr = addr
	srv, err := Open(opts)
	if err != nil && kept {
		return nil, &KeptAddrError{Addr: addr, File: filepath.Join(opts.Dir, listenAddrFile), Err: err}
	}
	if err != nil {
		return nil, err
	}
	if err := SaveListenAddr(opts.Dir, srv.Addr()); err != nil {
		srv.Close()
		return nil, err
	}
	return srv, nil
}

// SaveListenAddr records, in the state directory dir, the address the
// server listens on, for ListenAddr.
func SaveListenAddr(dir, addr string) error {
	p := filepath.Join(dir, listenAddrFile)
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == addr {
		return nil
	}
	return atomicfile.WriteFile(p, []byte(addr+"\n"))
}
