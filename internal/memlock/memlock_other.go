//go:build !linux

package memlock

import (
	"fmt"
	"runtime"
)

// Allowed refuses: locking all of a process's memory, present
// and future, is implemented for Linux only. Windows' VirtualLock locks
// chosen pages (Go moves values across its heap), macOS's mlockall
// returns ENOSYS, and the BSDs' has no MCL_ONFAULT.
func Allowed() error {
	return fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)
}

// LockAll refuses as Allowed does.
func LockAll() error { return Allowed() }
