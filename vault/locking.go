package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

var errWouldBlock = errors.New("vault: lock held elsewhere")

// A busy lock is tried lockTries more times, lockRetry apart.
const (
	lockTries = 5
	lockRetry = 20 * time.Millisecond
)

// BusyError reports that another process holds the vault's write lock.
// It matches ErrBusy.
type BusyError struct {
	// Holder is what the lock file says about its holder; PID is 0 when
	// the file could not be read.
	Holder LockHolder
}

func (e *BusyError) Error() string {
	if e.Holder.PID == 0 {
		return "vault: busy: another process is writing the vault"
	}
	return fmt.Sprintf("vault: busy: process %d (%s) has been writing the vault since %s",
		e.Holder.PID, e.Holder.Command, e.Holder.Since.Format(time.RFC3339))
}

// Unwrap returns ErrBusy.
func (e *BusyError) Unwrap() error { return ErrBusy }

// heldLock is a lock held by this process.
type heldLock struct {
	f   *os.File     // DirBackend's lock file
	rel func() error // another Backend's release
}

// acquireLock takes the lock file at path without waiting, and writes h
// (this process's pid, command and start time) into it. A lock held
// elsewhere gives a *BusyError naming the holder.
func acquireLock(path string, h LockHolder) (*heldLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vault: open lock file: %w", err)
	}
	// A reader probing the lock (Status, HeldByRun) holds it for an
	// instant: try again for a moment before calling the vault busy.
	for try := 0; ; try++ {
		err = tryLock(f)
		if err == nil {
			break
		}
		if errors.Is(err, errWouldBlock) && try < lockTries {
			time.Sleep(lockRetry)
			continue
		}
		_ = f.Close()
		if errors.Is(err, errWouldBlock) {
			h, _ := readHolder(path)
			return nil, &BusyError{Holder: h}
		}
		return nil, fmt.Errorf("vault: lock: %w", err)
	}
	b, _ := json.Marshal(h)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	return &heldLock{f: f}, nil
}

// release empties the holder record and drops the lock.
func (l *heldLock) release() error {
	if l != nil && l.rel != nil {
		rel := l.rel
		l.rel = nil
		return rel()
	}
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// readHolder reads the holder record of a lock file.
func readHolder(path string) (LockHolder, error) {
	var h LockHolder
	b, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return LockHolder{}, err
	}
	return h, nil
}

// probeLock reports whether some open file description holds the lock
// file at path, and what the file says about the holder.
func probeLock(path string) (LockHolder, bool) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return LockHolder{}, false
	}
	defer f.Close()
	if err := tryLock(f); err != nil {
		if errors.Is(err, errWouldBlock) {
			h, _ := readHolder(path)
			return h, true
		}
		return LockHolder{}, false
	}
	_ = unlock(f)
	return LockHolder{}, false
}

// command names this process for the lock file: the executable's base name
// and, for tgvault, its subcommand. Arguments are left out: they may hold
// account names.
func command() string {
	if len(os.Args) == 0 {
		return "?"
	}
	c := filepath.Base(os.Args[0])
	if len(os.Args) > 1 && len(os.Args[1]) > 0 && os.Args[1][0] != '-' && len(os.Args[1]) < 32 {
		c += " " + os.Args[1]
	}
	return c
}

// writeLock takes the vault's write lock.
func (v *Vault) writeLock() (*heldLock, error) {
	rel, err := v.be.Lock(LockWrite, ThisProcess(v.now()))
	if err != nil {
		return nil, err
	}
	return &heldLock{rel: rel}, nil
}
