// Package peercred asks the kernel which user runs the process at the
// other end of a unix socket: SO_PEERCRED on Linux, LOCAL_PEERCRED on
// FreeBSD. The agent refuses a client of another user with it, and the
// local API may drop one; elsewhere Supported is false and UID fails.
//
// Layer rule (docs/ARCHITECTURE.md): the standard library and
// golang.org/x/sys only.
package peercred

import (
	"errors"
	"net"
)

// ErrUnsupported: this OS has no peer credentials peercred reads.
var ErrUnsupported = errors.New("peercred: no peer credentials on this OS")

// UID returns the uid of the process at the other end of c.
func UID(c *net.UnixConn) (int, error) {
	if !Supported {
		return -1, ErrUnsupported
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	uid, cerr := -1, error(nil)
	if err := raw.Control(func(fd uintptr) { uid, cerr = fdUID(int(fd)) }); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, cerr
	}
	return uid, nil
}
