package daemon

import (
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// writeBusyWait bounds how long a write of run waits for another process
// holding the vault's write lock.
const writeBusyWait = 10 * time.Second

// vaultWriter serializes run's writes to the vault (the write lock is a
// per-open-file flock: two goroutines of one process would refuse each
// other), waits out another process's short writes, and group-commits:
// the account writes that arrive while one batch is being written go
// together into the next vault.CommitAll, so N accounts saving at once
// reseal the index about once per batch instead of N times.
type vaultWriter struct {
	v  *vault.Vault
	mu sync.Mutex // held by the goroutine writing a batch

	qmu     sync.Mutex
	queue   []*commitReq
	batches atomic.Int64 // vault.CommitAll calls, for tests
}

// commitReq is one account write waiting for its batch. fn writes to f;
// it may stage the save in the batch it is given (storage.File.FlushIn),
// which the commit makes durable with the others' before it answers.
type commitReq struct {
	f    *storage.File
	fn   func(*storage.SaveBatch) error
	done chan error
}

// now makes a write that saves at once (SetSession, SetMeta, ...) a
// commit function.
func now(fn func() error) func(*storage.SaveBatch) error {
	return func(*storage.SaveBatch) error { return fn() }
}

// stopBatch bounds one vault.CommitAll of the save at stop
// (saveAndClose): no API call waits behind it then, and each batch ends
// with the pipeline of its files drained, a directory fsync, the index
// loaded before it and written after it, so fewer batches cost less. Its
// temp files are open only while in flight (storage.SaveBatch.Early), not
// a batch's worth. 4,096 accounts hold the write lock for about a second
// here; another process's write waits up to writeBusyWait.
const stopBatch = 4096

// saveGCPercent is the least GOGC of saveAndClose.
const saveGCPercent = 100

// commitBatch bounds one vault.CommitAll, so that other processes get the
// write lock between batches (a batch of 1,024 accounts holds it for about
// half a second here).
const commitBatch = 1024

// retryBusy runs f until it is not refused with vault.ErrBusy, for at most
// writeBusyWait.
func retryBusy(f func() error) error {
	deadline := time.Now().Add(writeBusyWait)
	for {
		err := f()
		if !errors.Is(err, vault.ErrBusy) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// commit runs fn (writes to f) through vault.CommitAll, batched with the
// writes that queue up meanwhile; it returns when fn's write and its index
// entry are durable, or with the error that prevented it.
func (w *vaultWriter) commit(f *storage.File, fn func(*storage.SaveBatch) error) error {
	r := &commitReq{f: f, fn: fn, done: make(chan error, 1)}
	w.commitAll([]*commitReq{r}, commitBatch)
	return <-r.done
}

// commitAll queues reqs and writes batches of up to max requests until
// they are all done.
func (w *vaultWriter) commitAll(reqs []*commitReq, max int) {
	w.qmu.Lock()
	w.queue = append(w.queue, reqs...)
	w.qmu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	for !allDone(reqs) {
		// A batch names each store once: the next write of a store
		// already in it waits for the next batch.
		w.qmu.Lock()
		var batch, rest []*commitReq
		in := map[*storage.File]bool{}
		for _, r := range w.queue {
			if len(batch) < max && !in[r.f] {
				in[r.f] = true
				batch = append(batch, r)
			} else {
				rest = append(rest, r)
			}
		}
		w.queue = rest
		w.qmu.Unlock()
		if len(batch) == 0 {
			return // unreachable: our undone requests are queued
		}
		w.write(batch)
	}
}

func allDone(reqs []*commitReq) bool {
	for _, r := range reqs {
		if len(r.done) == 0 {
			return false
		}
	}
	return true
}

// write commits one batch (each store once) and answers each request:
// with its own error, else with the batch's (an index that could not be
// written).
func (w *vaultWriter) write(batch []*commitReq) {
	files := make([]*storage.File, len(batch))
	byFile := make(map[*storage.File]*commitReq, len(batch))
	for i, r := range batch {
		files[i] = r.f
		byFile[r.f] = r
	}
	w.batches.Add(1)
	var errs []error
	err := retryBusy(func() error {
		var err error
		errs, err = w.v.CommitAll(files, func(f *storage.File, sb *storage.SaveBatch) error {
			return byFile[f].fn(sb)
		})
		return err
	})
	for i, r := range batch {
		if i < len(errs) && errs[i] != nil {
			r.done <- errs[i]
		} else {
			r.done <- err
		}
	}
}

// flushAll saves the changed peer caches of every store: their writes are
// queued at once, so that the group commit writes them in full batches
// (each one fsync round and one index write), and the stores that failed
// come back with their errors. Stores with another committer than the
// first's are flushed in a second round.
func flushAll(stores []*lazyStore) map[*lazyStore]error {
	return flushAllIn(stores, commitBatch)
}

// flushAllIn is flushAll in batches of up to max stores.
func flushAllIn(stores []*lazyStore, max int) map[*lazyStore]error {
	failed := map[*lazyStore]error{}
	for len(stores) > 0 {
		w := stores[0].w
		var reqs []*commitReq
		var held, rest []*lazyStore
		for _, s := range stores {
			if s.w != w {
				rest = append(rest, s)
			} else if r := s.flushRequest(); r != nil {
				reqs = append(reqs, r)
				held = append(held, s)
			}
		}
		w.commitAll(reqs, max)
		for i, r := range reqs {
			err := <-r.done
			held[i].flushDone(err)
			if err != nil {
				failed[held[i]] = err
			}
		}
		stores = rest
	}
	return failed
}

// saveAndClose saves every store's changes (flushAll: group-committed,
// the files of each batch fsynced together) and closes the stores, as run
// does when it stops; it returns what failed. A store whose flush failed
// is not closed: Close would save it without the vault's write lock.
//
// The save runs with GOGC at least 100 (run lowers it to 50 once its
// accounts are connected, settledGCPercent): the pool has stopped, and a
// save of 10,000 accounts allocates about 70 KB per account (images and
// sealed copies), which at 50 costs twice the collections. Its batches
// are of up to stopBatch stores.
func saveAndClose(stores []*lazyStore) []error {
	if prev := debug.SetGCPercent(saveGCPercent); prev < 0 || prev > saveGCPercent {
		debug.SetGCPercent(prev) // off, or already higher: as it was
	} else {
		defer debug.SetGCPercent(prev)
	}
	var errs []error
	failed := flushAllIn(stores, stopBatch)
	for _, s := range stores {
		if err, bad := failed[s]; bad {
			errs = append(errs, err)
		} else if err := s.shut(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
