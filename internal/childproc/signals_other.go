//go:build !unix

package childproc

import (
	"os"
	"syscall"
)

// forwarded are the signals Run passes on to the child: Windows delivers
// a console's close as SIGTERM to Go programs, and has no SIGHUP.
var forwarded = []os.Signal{syscall.SIGTERM}

// signaled reports the signal that ended the process: never, where
// processes are not ended by signals.
func signaled(*os.ProcessState) (int, bool) { return 0, false }
