package memlock

import "golang.org/x/sys/unix"

// Harden keeps secrets out of core dumps: no core file (RLIMIT_CORE 0)
// and not dumpable (PR_SET_DUMPABLE 0), which also stops other processes
// of the same user from attaching with ptrace or reading /proc/PID/mem.
// Failures are ignored: they only mean the OS refused a defence in depth.
func Harden() {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
