//go:build !linux

package main

import (
	"fmt"
	"runtime"
)

// memlockAllowed refuses: outside Linux there is no lock for all of a
// process's memory, present and future (Windows' VirtualLock and
// macOS's mlock lock chosen pages, and Go moves values across its heap).
func memlockAllowed() error {
	return fmt.Errorf("%w (%s)", errMemlockUnsupported, runtime.GOOS)
}

func mlockAll() error { return memlockAllowed() }
