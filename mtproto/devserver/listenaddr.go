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

// ListenAddr is the address a server on the state directory dir listens
// on: flag when given, else the one dir keeps (kept says so), else flag
// (127.0.0.1:0, a free port, by default).
func ListenAddr(dir, flag string, given bool) (addr string, kept bool, err error) {
	if given {
		return flag, false, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, listenAddrFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return flag, false, nil
	case err != nil:
		return "", false, err
	}
	addr = strings.TrimSpace(string(b))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", false, fmt.Errorf("dev server state %s: not an address (%v); remove it, or give --listen", filepath.Join(dir, listenAddrFile), err)
	}
	return addr, true, nil
}

// KeptAddrError explains a kept address (ListenAddr) the server could not
// listen on.
func KeptAddrError(dir, addr string, err error) error {
	return fmt.Errorf("%w\nthe dev server listens on %s again because its accounts connect there (kept in %s); "+
		"is another dev server running on this state? Stop it, or give --listen 127.0.0.1:0 for a new port "+
		"(accounts logged in before then need `tgvault set NAME --address NEWADDR`)", err, addr, filepath.Join(dir, listenAddrFile))
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
