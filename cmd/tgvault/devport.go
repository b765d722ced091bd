package main

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

// devAddrFile keeps, in the dev server's state directory, the address it
// listened on: its accounts remember that address (login stores it), so a
// restart listens there again rather than on a new port they would never
// find.
const devAddrFile = "listen-addr"

// devListenAddr is the address the dev server listens on: --listen when
// given, else the one its state directory keeps (kept says so), else
// 127.0.0.1 on a free port.
func devListenAddr(dir, flag string, given bool) (addr string, kept bool, err error) {
	if given {
		return flag, false, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, devAddrFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return flag, false, nil
	case err != nil:
		return "", false, err
	}
	addr = strings.TrimSpace(string(b))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", false, fmt.Errorf("dev server state %s: not an address (%v); remove it, or give --listen", filepath.Join(dir, devAddrFile), err)
	}
	return addr, true, nil
}

// keptAddrError explains a kept address the dev server could not listen on.
func keptAddrError(dir, addr string, err error) error {
	return fmt.Errorf("%w\nthe dev server listens on %s again because its accounts connect there (kept in %s); "+
		"is another dev server running on this state? Stop it, or give --listen 127.0.0.1:0 for a new port "+
		"(accounts logged in before then need `tgvault set NAME --address NEWADDR`)", err, addr, filepath.Join(dir, devAddrFile))
}

// saveDevAddr records the address the dev server listens on.
func saveDevAddr(dir, addr string) error {
	p := filepath.Join(dir, devAddrFile)
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == addr {
		return nil
	}
	return atomicfile.WriteFile(p, []byte(addr+"\n"))
}
