package storage

import "golang.org/x/sys/unix"

// threadCPU returns the CPU time of the calling thread in nanoseconds
// (callers lock the goroutine to its thread): a figure that waiting for a
// core on a busy machine does not inflate.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// processCPU returns the CPU time of the whole process (every thread: the
// garbage collector's and the fsyncs' too) in nanoseconds.
func processCPU() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
