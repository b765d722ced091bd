//go:build unix && !linux

package main

import "golang.org/x/sys/unix"

// harden keeps secrets out of core dumps: no core file (RLIMIT_CORE 0).
// Failures are ignored: they only mean the OS refused a defence in depth.
func harden() {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
}
