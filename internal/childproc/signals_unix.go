//go:build unix

package childproc

import (
	"os"
	"syscall"
)

// forwarded are the signals Run passes on to the child.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGHUP}

// signaled reports the signal that ended the process, if one did.
func signaled(ps *os.ProcessState) (int, bool) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return int(ws.Signal()), true
}
