//go:build linux || windows

package vault

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// On Linux and Windows an account's ownership lock is one byte of a shard
// file, owners/NN.lock (256 shards), locked as a byte range that belongs
// to the open file (Linux's open-file-description locks, F_OFD_SETLK;
// Windows' LockFileEx on a handle): a run serving 10,000 accounts holds
// them through at most 256 open files instead of 10,000, and the kernel
// drops them when the process dies. (One file for all would do, but the
// kernel keeps a file's range locks in a list, so 10,000 of them in one
// file cost seconds.) An account's shard and byte come from its id's
// SHA-256 (the byte from 62 bits: two accounts of a vault sharing one is
// about as likely as guessing a key, and would only make one wait for the
// other).
//
// Who holds what: each call that takes locks writes one record,
// owners/held-<pid>-<nonce>.json (its LockHolder and the ids it took), and
// holds a lock on that file for as long as it holds any account. A record
// whose file nobody locks is a dead holder's, and is removed by the next
// reader. An account is held when its byte is locked; its holder is the
// newest live record listing it.

const (
	ownerShards  = 256
	recordPrefix = "held-"
	recordExt    = ".json"
)

// ownerSlot is the shard and byte of an account id.
func ownerSlot(id string) (shard int, off int64) {
	sum := sha256.Sum256([]byte(id))
	return int(sum[0]), int64(binary.BigEndian.Uint64(sum[1:9])>>2) | 1 // 1 .. 2^62-1
}

func (d DirBackend) shardPath(shard int) string {
	return filepath.Join(d.path(ownersDir), fmt.Sprintf("%02x%s", shard, ownerExt))
}

// ownerRecordFile is the record of one call of lockOwners.
type ownerRecordFile struct {
	Holder LockHolder `json:"holder"`
	IDs    []string   `json:"ids"`
}

// lockCall is what one call of lockOwners holds: its shard files and its
// record, closed (and the record removed) with its last account.
type lockCall struct {
	mu     sync.Mutex
	shards map[int]*os.File
	rec    *os.File // locked while the call holds an account
	held   int
}

func (c *lockCall) shard(d DirBackend, n int) (*os.File, error) {
	if f := c.shards[n]; f != nil {
		return f, nil
	}
	f, err := os.OpenFile(d.shardPath(n), os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, err
	}
	c.shards[n] = f
	return f, nil
}

// closeLocked closes everything; c.mu is held.
func (c *lockCall) closeLocked() error {
	var errs []error
	for _, f := range c.shards {
		errs = append(errs, f.Close())
	}
	c.shards = nil
	if c.rec != nil {
		name := c.rec.Name()
		errs = append(errs, os.Remove(name), c.rec.Close())
		c.rec = nil
	}
	return errors.Join(errs...)
}

func (c *lockCall) release(f *os.File, off int64) func() error {
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			err = unlockRange(f, off)
			if c.held--; c.held == 0 {
				if cerr := c.closeLocked(); err == nil {
					err = cerr
				}
			}
		})
		return err
	}
}

// lockOwners takes the bytes of ids it can at once, through new open
// files (so that this call's locks exclude this process's others too);
// busy are the ones another open file holds.
func (d DirBackend) lockOwners(ids []string, rec []byte) (taken map[string]func() error, busy []string, err error) {
	c := &lockCall{shards: map[int]*os.File{}}
	taken = make(map[string]func() error, len(ids))
	var got []string
	fail := func(err error) (map[string]func() error, []string, error) {
		for _, rel := range taken {
			_ = rel()
		}
		c.mu.Lock()
		_ = c.closeLocked()
		c.mu.Unlock()
		return nil, nil, err
	}
	c.mu.Lock()
	for _, id := range ids {
		n, off := ownerSlot(id)
		f, err := c.shard(d, n)
		if err != nil {
			c.mu.Unlock()
			return fail(err)
		}
		switch err := tryLockRange(f, off); {
		case errors.Is(err, errWouldBlock):
			busy = append(busy, id)
			continue
		case err != nil:
			c.mu.Unlock()
			return fail(err)
		}
		c.held++
		taken[id] = c.release(f, off)
		got = append(got, id)
	}
	if c.held == 0 {
		err := c.closeLocked()
		c.mu.Unlock()
		if err != nil {
			return nil, nil, err
		}
		return taken, busy, nil
	}
	if err := d.writeRecord(c, rec, got); err != nil {
		c.mu.Unlock()
		return fail(err)
	}
	c.mu.Unlock()
	return taken, busy, nil
}

// writeRecord writes and locks the record of call c (c.mu held).
func (d DirBackend) writeRecord(c *lockCall, rec []byte, ids []string) error {
	var h LockHolder
	_ = json.Unmarshal(rec, &h)
	b, err := json.Marshal(ownerRecordFile{Holder: h, IDs: ids})
	if err != nil {
		return err
	}
	name := filepath.Join(d.path(ownersDir), fmt.Sprintf("%s%d-%s%s", recordPrefix, h.PID, newID(4), recordExt))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	// A reader probing records may hold the new file's lock for an
	// instant.
	for try := 0; ; try++ {
		err := tryLock(f)
		if err == nil {
			break
		}
		if !errors.Is(err, errWouldBlock) || try >= lockTries {
			_ = f.Close()
			_ = os.Remove(name)
			return err
		}
		time.Sleep(lockRetry)
	}
	if _, err := f.Write(b); err != nil {
		_ = unlock(f)
		_ = f.Close()
		_ = os.Remove(name)
		return err
	}
	c.rec = f
	return nil
}

// records reads the live holder records, newest first, by account id (a
// dead holder's record is removed on the way).
func (d DirBackend) records() map[string]LockHolder {
	out := map[string]LockHolder{}
	ents, err := os.ReadDir(d.path(ownersDir))
	if err != nil {
		return out
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, recordPrefix) || !strings.HasSuffix(n, recordExt) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(d.path(ownersDir), n)
		if _, live := probeLock(p); !live {
			// A dead holder's (its process ended without removing it),
			// or one being written this instant: only an old one goes.
			if fi, err := e.Info(); err == nil && fi.Size() > 0 {
				_ = os.Remove(p)
			}
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var r ownerRecordFile
		if json.Unmarshal(b, &r) != nil {
			continue
		}
		for _, id := range r.IDs {
			if cur, ok := out[id]; !ok || r.Holder.Since.After(cur.Since) {
				out[id] = r.Holder
			}
		}
	}
	return out
}

// ownerRecord names the holder of an account's lock (zero if unknown).
func (d DirBackend) ownerRecord(id string) LockHolder {
	return d.records()[id]
}

// AccountHolders tests the byte of every account a live record lists.
func (d DirBackend) AccountHolders() (map[string]LockHolder, error) {
	out := map[string]LockHolder{}
	if _, err := os.Stat(d.path(ownersDir)); errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	files := map[int]*os.File{}
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	for id, h := range d.records() {
		n, off := ownerSlot(id)
		f := files[n]
		if f == nil {
			var err error
			f, err = os.OpenFile(d.shardPath(n), os.O_RDWR, 0)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("vault: owner locks: %w", err)
			}
			files[n] = f
		}
		held, err := probeRange(f, off)
		if err != nil {
			return nil, fmt.Errorf("vault: owner locks: %w", err)
		}
		if held {
			out[id] = h
		}
	}
	return out, nil
}

// removeOwnerLock: an account's byte needs no removing (rm).
func (d DirBackend) removeOwnerLock(string) {}
