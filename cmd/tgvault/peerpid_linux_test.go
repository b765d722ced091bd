package main

import (
	"net"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// socketPID returns the pid of the process serving the unix socket sock
// (SO_PEERCRED of a connection to it).
func socketPID(ts *testscript.TestScript, sock string) int {
	c, err := net.Dial("unix", sock)
	ts.Check(err)
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	ts.Check(err)
	var cred *unix.Ucred
	var cerr error
	ts.Check(raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}))
	ts.Check(cerr)
	return int(cred.Pid)
}
