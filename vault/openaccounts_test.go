package vault

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgvault/tgvault/storage"
)

// TestOpenAccounts: one unlock opens every listed account; a broken one
// and a handed-off one fail alone, a file ahead of the index is accepted,
// and the index is repaired in one write.
func TestOpenAccounts(t *testing.T) {
	tv, accts := threeAccounts(t)
	// a: ahead of the index (saved outside Commit).
	f, err := tv.OpenAccount("a")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetMeta("x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// b: damaged.
	b, _ := os.ReadFile(tv.file(accts["b"].ID))
	os.WriteFile(tv.file(accts["b"].ID), b[:len(b)/2], 0o600)
	list, err := tv.List()
	if err != nil {
		t.Fatal(err)
	}
	list = append(list, Account{Name: "gone", ID: "x", Status: StatusHandedOff})

	var blobs int
	files, errs, err := tv.OpenAccounts(list, func(a Account) storage.Blob {
		blobs++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]error{"a": nil, "b": ErrCorrupt, "c": nil, "gone": ErrHandedOff}
	for i, a := range list {
		if w := want[a.Name]; (w == nil) != (errs[i] == nil) || (w != nil && !errors.Is(errs[i], w)) {
			t.Errorf("%s: err %v, want %v", a.Name, errs[i], w)
		}
		if (files[i] == nil) == (errs[i] == nil) {
			t.Errorf("%s: file %v with err %v", a.Name, files[i], errs[i])
		}
		if files[i] != nil {
			files[i].Close()
		}
	}
	if blobs != 3 {
		t.Errorf("blob asked for %d accounts, want 3 (not for a handed-off one)", blobs)
	}
	if got, _ := tv.Show("a"); got.Revision != 2 {
		t.Errorf("a: index revision %d, want 2 (repaired)", got.Revision)
	}
	if got, _ := tv.Show("b"); got.Status != StatusBroken {
		t.Errorf("b: status %s, want broken", got.Status)
	}
}

// TestOpenAccountsOwnBlob: the store writes to the blob the caller gave.
func TestOpenAccountsOwnBlob(t *testing.T) {
	tv, accts := threeAccounts(t)
	a := accts["a"]
	rec := &recordingBlob{Blob: storage.FileBlob(tv.file(a.ID))}
	files, errs, err := tv.OpenAccounts([]Account{a}, func(Account) storage.Blob { return rec })
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs[0])
	}
	if err := files[0].SetMeta("y", []byte("2")); err != nil {
		t.Fatal(err)
	}
	files[0].Close()
	if rec.reads != 1 || rec.writes != 1 {
		t.Errorf("blob reads %d writes %d, want 1 and 1", rec.reads, rec.writes)
	}
}

type recordingBlob struct {
	storage.Blob
	reads, writes int
}

func (r *recordingBlob) ReadBlob() ([]byte, error) { r.reads++; return r.Blob.ReadBlob() }

func (r *recordingBlob) WriteBlob(b []byte) error { r.writes++; return r.Blob.WriteBlob(b) }

// TestOpenAccountsEachStreams: OpenAccountsEach hands an account over while
// others are still being opened (run connects the first accounts meanwhile),
// each exactly once: the first call here waits for a second one, which
// only an open still running on another core can make.
func TestOpenAccountsEachStreams(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one core: the opens run one at a time")
	}
	tv, _ := threeAccounts(t)
	list, err := tv.List()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := make([]int, len(list))
	second := make(chan struct{})
	var n atomic.Int32
	err = tv.OpenAccountsEach(list, nil, func(i int, f *storage.File, err error) {
		mu.Lock()
		calls[i]++
		mu.Unlock()
		if err != nil || f == nil {
			t.Errorf("%s: %v", list[i].Name, err)
			return
		}
		defer f.Close()
		switch n.Add(1) {
		case 1:
			select {
			case <-second:
			case <-time.After(10 * time.Second):
				t.Error("no second account was handed over while the first was held: the accounts come only once all are open")
			}
		case 2:
			close(second)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range calls {
		if c != 1 {
			t.Errorf("%s: handed over %d times", list[i].Name, c)
		}
	}
}
