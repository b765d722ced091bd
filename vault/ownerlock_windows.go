package vault

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

func rangeOverlapped(off int64) *windows.Overlapped {
	return &windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
}

// tryLockRange takes the byte at off of f without waiting (LockFileEx:
// it belongs to the handle). errWouldBlock when another handle holds it.
func tryLockRange(f *os.File, off int64) error {
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, rangeOverlapped(off))
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return errWouldBlock
	}
	return err
}

// unlockRange releases the byte at off.
func unlockRange(f *os.File, off int64) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, rangeOverlapped(off))
}

// probeRange reports whether another handle holds the byte at off: it
// takes it for an instant (Windows has no test without taking).
func probeRange(f *os.File, off int64) (bool, error) {
	switch err := tryLockRange(f, off); {
	case errors.Is(err, errWouldBlock):
		return true, nil
	case err != nil:
		return false, err
	}
	return false, unlockRange(f, off)
}
