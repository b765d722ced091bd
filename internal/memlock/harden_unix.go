//go:build unix && !linux

package memlock

import "golang.org/x/sys/unix"

// Harden keeps secrets out of core dumps: no core file (RLIMIT_CORE 0).
// Failures are ignored: they only mean the OS refused a defence in depth.
func Harden() {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
}
