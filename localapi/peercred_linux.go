package localapi

import (
	"net"
	"os"
	"syscall"
)

// sameUser reports whether the peer of a unix connection runs as our user
// (SO_PEERCRED).
func sameUser(c *net.UnixConn) (bool, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return false, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return false, err
	}
	if cerr != nil {
		return false, cerr
	}
	return int(cred.Uid) == os.Getuid(), nil
}
