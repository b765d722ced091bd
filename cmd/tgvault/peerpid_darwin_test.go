package main

import (
	"net"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// socketPID returns the pid of the process serving the unix socket sock
// (LOCAL_PEERPID of a connection to it).
func socketPID(ts *testscript.TestScript, sock string) int {
	c, err := net.Dial("unix", sock)
	ts.Check(err)
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	ts.Check(err)
	var pid int
	var perr error
	ts.Check(raw.Control(func(fd uintptr) {
		pid, perr = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
	}))
	ts.Check(perr)
	return pid
}
