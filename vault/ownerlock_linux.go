package vault

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// tryLockRange takes the byte at off of f without waiting, as an
// open-file-description lock (it belongs to f's open file, like flock, not
// to the process as a POSIX lock would: another open file of this process
// is refused too, and closing some other descriptor of the file does not
// drop it). errWouldBlock when another open file holds it.
func tryLockRange(f *os.File, off int64) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EACCES):
			return errWouldBlock
		}
		return err
	}
}

// unlockRange releases the byte at off.
func unlockRange(f *os.File, off int64) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: off, Len: 1}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}

// probeRange reports whether another open file holds the byte at off,
// without taking it (F_OFD_GETLK).
func probeRange(f *os.File, off int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false, err
	}
	return lk.Type != unix.F_UNLCK, nil
}
