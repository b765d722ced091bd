//go:build !linux

package main

import (
	"fmt"
	"runtime"
)

// memlockAllowed refuses: locking all of a process's memory, present
// and future, is implemented for Linux only. Windows' VirtualLock locks
// chosen pages (Go moves values across its heap), macOS's mlockall
// returns ENOSYS, and the BSDs' has no MCL_ONFAULT.
func memlockAllowed() error {
	return fmt.Errorf("%w (%s)", errMemlockUnsupported, runtime.GOOS)
}

func mlockAll() error { return memlockAllowed() }
