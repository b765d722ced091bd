//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// holdWriteLock takes the vault's write lock file the way the vault does
// (flock, exclusive) and writes the holder record into it.
func holdWriteLock(path string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	if err := writeLockRecord(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		_ = f.Truncate(0)
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return f.Close()
	}, nil
}
