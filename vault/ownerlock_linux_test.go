package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOwnerLocksFewFiles: on Linux a run's ownership locks cost at most
// 257 open files however many accounts it serves (a lock file each would
// double a large run's descriptors: one connection and one lock per
// account), they exclude another open file of the same process as another
// process, and every file is closed with the last account.
func TestOwnerLocksFewFiles(t *testing.T) {
	t.Parallel()
	be := DirBackend(filepath.Join(t.TempDir(), "v"))
	owners := be.path(ownersDir)
	if err := be.Prepare(); err != nil {
		t.Fatal(err)
	}
	const n = 5000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15)
	}
	// The open files under owners/ (other tests run meanwhile).
	fds := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		n := 0
		for _, e := range ents {
			if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(p, owners) {
				n++
			}
		}
		return n
	}
	before := fds()
	h := LockHolder{PID: os.Getpid(), Command: "tgvault run", Since: time.Now()}
	taken, busy, err := be.LockAccounts(ids, h)
	if err != nil || len(taken) != n || len(busy) != 0 {
		t.Fatalf("LockAccounts: %d taken, %d busy, %v", len(taken), len(busy), err)
	}
	if d := fds() - before; d > ownerShards+1 {
		t.Errorf("%d accounts held with %d more open files", n, d)
	}
	// Another open file (as another process) gets none of them, and
	// learns the holder.
	t2, b2, err := be.LockAccounts(ids[:10], LockHolder{PID: 1, Command: "tgvault export"})
	if err != nil || len(t2) != 0 || len(b2) != 10 || b2[ids[3]].PID != os.Getpid() {
		t.Fatalf("second LockAccounts: %d taken, %v, %v", len(t2), b2[ids[3]], err)
	}
	hs, err := be.AccountHolders()
	if err != nil || len(hs) != n {
		t.Fatalf("AccountHolders: %d, %v", len(hs), err)
	}
	for _, id := range ids[:n/2] {
		if err := taken[id](); err != nil {
			t.Fatal(err)
		}
	}
	if hs, _ := be.AccountHolders(); len(hs) != n/2 {
		t.Errorf("after releasing half: %d held", len(hs))
	}
	t3, b3, err := be.LockAccounts(ids[:3], h)
	if err != nil || len(t3) != 3 || len(b3) != 0 {
		t.Fatalf("released accounts: %d taken, %d busy, %v", len(t3), len(b3), err)
	}
	for _, rel := range t3 {
		rel()
	}
	for _, id := range ids[n/2:] {
		taken[id]()
	}
	if d := fds() - before; d > 0 {
		t.Errorf("%d open files left after every release", d)
	}
}
