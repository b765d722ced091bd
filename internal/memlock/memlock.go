// Package memlock locks all of a process's memory against swap, where the
// OS allows it without risk: on Linux mlockall(MCL_CURRENT|MCL_FUTURE|
// MCL_ONFAULT) with CAP_IPC_LOCK in the initial user namespace or an
// unlimited RLIMIT_MEMLOCK; elsewhere it refuses. It is a leaf: it imports
// only the standard library and x/sys, and holds no state. daemon.Serve
// (tgvault run) is its user, through cmd/tgvault's --mlock; the reliability harness checks a running tgvault with
// the same rules and ProcKB. Harden, which every tgvault process calls
// first, keeps its secrets out of core dumps.
package memlock

import (
	"errors"
	"fmt"
)

var (
	// ErrNotLocked marks a refused or failed memory lock.
	ErrNotLocked = errors.New("memory not locked")
	// ErrNotAllowed: the OS would let the process lock only part of the
	// memory it will use, so it locks none (locking all of it with
	// MCL_FUTURE under a finite RLIMIT_MEMLOCK makes the Go runtime abort
	// once the limit is reached).
	ErrNotAllowed = fmt.Errorf("%w: not allowed", ErrNotLocked)
	// ErrUnsupported: locking all of a process's memory is not
	// implemented for this OS.
	ErrUnsupported = fmt.Errorf("%w: not supported on this OS", ErrNotLocked)
)
