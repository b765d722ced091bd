//go:build unix

package mttest

import (
	"syscall"
	"testing"
	"time"
)

// ProcessCPU is the CPU time (user + system) this process has used, for
// benchmarks that report CPU beside wall time.
func ProcessCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Helper()
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
