// Package backendtest is the conformance suite of vault.Backend: one set of
// tests that every implementation passes (as restic runs one suite against
// every backend), so that the vault behaves the same in a directory and in
// PostgreSQL. An implementation's package runs it from a test:
//
//	func TestBackendConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) vault.Backend { return newEmptyBackend(t) })
//	}
//
// Each case gets a fresh, empty backend from the factory; the suite
// prepares it itself. Writes happen under LockWrite, as the vault makes
// them (a shared backend refuses a write without it).
//
// Layer rule (docs/ARCHITECTURE.md): backendtest imports vault (and the
// standard library, testing included); only tests import it.
package backendtest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/vault"
)

// Run runs every case of the suite, each on a new backend from newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) vault.Backend) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBackend(t)
			if err := b.Prepare(); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			c.run(t, b)
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, b vault.Backend)
}{
	{"Location", testLocation},
	{"PrepareTwice", testPrepareTwice},
	{"ReadMissing", testReadMissing},
	{"WriteRead", testWriteRead},
	{"Overwrite", testOverwrite},
	{"Remove", testRemove},
	{"List", testList},
	{"Blob", testBlob},
	{"ConcurrentWrites", testConcurrentWrites},
	{"Lock", testLock},
	{"LockAccounts", testLockAccounts},
}

// holder is a LockHolder record as a command makes it.
func holder(cmd string) vault.LockHolder {
	h := vault.ThisProcess(time.Now().Truncate(time.Second))
	h.Command = cmd
	return h
}

// writeLock takes the vault's write lock for the rest of the test.
func writeLock(t *testing.T, b vault.Backend) {
	t.Helper()
	release, err := b.Lock(vault.LockWrite, holder("backendtest write"))
	if err != nil {
		t.Fatalf("Lock(%s): %v", vault.LockWrite, err)
	}
	t.Cleanup(func() { _ = release() })
}

func mustWrite(t *testing.T, b vault.Backend, name string, data []byte) {
	t.Helper()
	if err := b.Write(name, data); err != nil {
		t.Fatalf("Write(%s): %v", name, err)
	}
}

func wantRead(t *testing.T, b vault.Backend, name string, want []byte) {
	t.Helper()
	got, err := b.Read(name)
	if err != nil {
		t.Fatalf("Read(%s): %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Read(%s) = %d bytes %.16x…, want %d bytes %.16x…", name, len(got), got, len(want), want)
	}
}

func wantMissing(t *testing.T, b vault.Backend, name string) {
	t.Helper()
	if got, err := b.Read(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(%s) of a missing blob = %d bytes, %v; want an error matching fs.ErrNotExist", name, len(got), err)
	}
}

func testLocation(t *testing.T, b vault.Backend) {
	if b.Location() == "" {
		t.Error("Location is empty: it names the vault for people")
	}
}

func testPrepareTwice(t *testing.T, b vault.Backend) {
	if err := b.Prepare(); err != nil {
		t.Errorf("Prepare on a prepared backend: %v", err)
	}
	writeLock(t, b)
	mustWrite(t, b, "index.age", []byte("kept"))
	if err := b.Prepare(); err != nil {
		t.Errorf("Prepare on a backend with blobs: %v", err)
	}
	wantRead(t, b, "index.age", []byte("kept"))
}

func testReadMissing(t *testing.T, b vault.Backend) {
	for _, n := range []string{"vault.json", "index.age", "slots/rekey.age", "accounts/0123abcd.age"} {
		wantMissing(t, b, n)
	}
}

func testWriteRead(t *testing.T, b vault.Backend) {
	writeLock(t, b)
	big := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<18) // 1 MiB: an account with many peers
	blobs := map[string][]byte{
		"vault.json":            []byte(`{"vault_id":"x"}` + "\n"),
		"index.age":             {0},
		"slots/passphrase.age":  []byte("age-encryption.org/v1\n"),
		"accounts/0123abcd.age": big,
		"accounts/89ef.age":     {}, // empty is a blob, not a missing one
	}
	for n, d := range blobs {
		buf := bytes.Clone(d)
		mustWrite(t, b, n, buf)
		for i := range buf {
			buf[i] ^= 0x55 // the backend must not keep the caller's buffer
		}
	}
	for n, d := range blobs {
		wantRead(t, b, n, d)
	}
}

func testOverwrite(t *testing.T, b vault.Backend) {
	writeLock(t, b)
	mustWrite(t, b, "index.age", bytes.Repeat([]byte("long"), 1000))
	mustWrite(t, b, "index.age", []byte("short"))
	wantRead(t, b, "index.age", []byte("short")) // no tail of the old blob
	mustWrite(t, b, "index.age", []byte("longer again"))
	wantRead(t, b, "index.age", []byte("longer again"))
	if names, err := b.List("accounts"); err != nil || len(names) != 0 {
		t.Errorf("List(accounts) after writing index.age = %q, %v; want none", names, err)
	}
}

func testRemove(t *testing.T, b vault.Backend) {
	writeLock(t, b)
	mustWrite(t, b, "accounts/aa.age", []byte("a"))
	mustWrite(t, b, "accounts/bb.age", []byte("b"))
	if err := b.Remove("accounts/aa.age"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	wantMissing(t, b, "accounts/aa.age")
	wantRead(t, b, "accounts/bb.age", []byte("b"))
	if err := b.Remove("accounts/aa.age"); err != nil {
		t.Errorf("Remove of a removed blob = %v, want nil", err)
	}
	if err := b.Remove("slots/rekey.age"); err != nil {
		t.Errorf("Remove of a blob never written = %v, want nil", err)
	}
	if names, err := b.List("accounts"); err != nil || !slices.Equal(names, []string{"accounts/bb.age"}) {
		t.Errorf("List(accounts) after a remove = %q, %v; want [accounts/bb.age]", names, err)
	}
	mustWrite(t, b, "accounts/aa.age", []byte("again"))
	wantRead(t, b, "accounts/aa.age", []byte("again"))
}

func testList(t *testing.T, b vault.Backend) {
	if names, err := b.List("accounts"); err != nil || len(names) != 0 {
		t.Errorf("List(accounts) of a prepared, empty backend = %q, %v; want none and no error", names, err)
	}
	writeLock(t, b)
	want := []string{"accounts/01.age", "accounts/02.age", "accounts/ff.age"}
	for _, n := range want {
		mustWrite(t, b, n, []byte(n))
	}
	mustWrite(t, b, "slots/passphrase.age", []byte("slot"))
	mustWrite(t, b, "index.age", []byte("index"))
	mustWrite(t, b, "vault.json", []byte("{}"))
	got, err := b.List("accounts")
	if err != nil {
		t.Fatalf("List(accounts): %v", err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("List(accounts) = %q, want %q", got, want)
	}
	for _, n := range got {
		wantRead(t, b, n, []byte(n)) // names as Read takes them
	}
	if got, err := b.List("slots"); err != nil || !slices.Equal(got, []string{"slots/passphrase.age"}) {
		t.Errorf("List(slots) = %q, %v; want [slots/passphrase.age]", got, err)
	}
}

func testBlob(t *testing.T, b vault.Backend) {
	writeLock(t, b)
	const name = "accounts/0a0b.age"
	bl := b.Blob(name)
	if _, err := bl.ReadBlob(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadBlob of a missing account = %v, want fs.ErrNotExist", err)
	}
	if err := bl.WriteBlob([]byte("sealed one")); err != nil {
		t.Fatalf("WriteBlob: %v", err)
	}
	wantRead(t, b, name, []byte("sealed one")) // the Blob is the blob of that name
	mustWrite(t, b, name, []byte("sealed two"))
	if got, err := bl.ReadBlob(); err != nil || string(got) != "sealed two" {
		t.Errorf("ReadBlob after Write = %q, %v; want %q", got, err, "sealed two")
	}
	if bl.Name() == "" {
		t.Error("Blob's Name is empty")
	}
}

func testConcurrentWrites(t *testing.T, b vault.Backend) {
	writeLock(t, b)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("accounts/%02x.age", i)
			for r := range 5 {
				if err := b.Write(name, fmt.Appendf(nil, "%d-%d", i, r)); err != nil {
					errs[i] = err
					return
				}
				if _, err := b.Read(name); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent writes: %v", err)
	}
	names, err := b.List("accounts")
	if err != nil || len(names) != n {
		t.Fatalf("List after concurrent writes = %d names, %v; want %d", len(names), err, n)
	}
	for i := range n {
		wantRead(t, b, fmt.Sprintf("accounts/%02x.age", i), fmt.Appendf(nil, "%d-4", i))
	}
}

// sameHolder reports whether a holder read back from the backend is the
// record the lock was taken with (Since may lose precision on the way).
func sameHolder(got, want vault.LockHolder) bool {
	return got.PID == want.PID && got.Command == want.Command && got.Host == want.Host
}

func testLock(t *testing.T, b vault.Backend) {
	if h, held := b.Probe(vault.LockWrite); held {
		t.Errorf("Probe of a lock nobody took = %+v, held", h)
	}
	first := holder("backendtest first")
	release, err := b.Lock(vault.LockWrite, first)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if h, held := b.Probe(vault.LockWrite); !held || !sameHolder(h, first) {
		t.Errorf("Probe of a held lock = %+v, %v; want %+v, held", h, held, first)
	}
	_, err = b.Lock(vault.LockWrite, holder("backendtest second"))
	var busy *vault.BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("second Lock = %v, want a *vault.BusyError", err)
	}
	if !sameHolder(busy.Holder, first) {
		t.Errorf("BusyError names %+v, want the holder %+v", busy.Holder, first)
	}
	if err := release(); err != nil {
		t.Fatalf("release: %v", err)
	}
	if h, held := b.Probe(vault.LockWrite); held {
		t.Errorf("Probe after release = %+v, held", h)
	}
	again, err := b.Lock(vault.LockWrite, holder("backendtest again"))
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	if err := again(); err != nil {
		t.Errorf("release: %v", err)
	}
}

func testLockAccounts(t *testing.T, b vault.Backend) {
	if hs, err := b.AccountHolders(); err != nil || len(hs) != 0 {
		t.Errorf("AccountHolders before any lock = %v, %v; want none", hs, err)
	}
	h1, h2 := holder("backendtest run"), holder("backendtest export")
	taken, busy, err := b.LockAccounts([]string{"a1", "b2"}, h1)
	if err != nil {
		t.Fatalf("LockAccounts: %v", err)
	}
	if len(taken) != 2 || taken["a1"] == nil || taken["b2"] == nil || len(busy) != 0 {
		t.Fatalf("LockAccounts(a1, b2) took %d, busy %v; want both taken", len(taken), busy)
	}
	t.Cleanup(func() {
		for _, rel := range taken {
			_ = rel()
		}
	})

	taken2, busy2, err := b.LockAccounts([]string{"b2", "c3"}, h2)
	if err != nil {
		t.Fatalf("second LockAccounts: %v", err)
	}
	t.Cleanup(func() {
		for _, rel := range taken2 {
			_ = rel()
		}
	})
	if len(taken2) != 1 || taken2["c3"] == nil {
		t.Errorf("second LockAccounts(b2, c3) took %d locks, want c3 only", len(taken2))
	}
	if h, ok := busy2["b2"]; len(busy2) != 1 || !ok || !sameHolder(h, h1) {
		t.Errorf("second LockAccounts: busy = %+v, want b2 held by %+v", busy2, h1)
	}

	hs, err := b.AccountHolders()
	if err != nil {
		t.Fatalf("AccountHolders: %v", err)
	}
	for id, want := range map[string]vault.LockHolder{"a1": h1, "b2": h1, "c3": h2} {
		if got, ok := hs[id]; !ok || !sameHolder(got, want) {
			t.Errorf("AccountHolders[%s] = %+v, %v; want %+v", id, got, ok, want)
		}
	}
	if len(hs) != 3 {
		t.Errorf("AccountHolders = %d holders, want 3", len(hs))
	}

	if err := taken["a1"](); err != nil {
		t.Fatalf("release a1: %v", err)
	}
	delete(taken, "a1")
	if hs, err := b.AccountHolders(); err != nil || len(hs) != 2 {
		t.Errorf("AccountHolders after releasing a1 = %v, %v; want b2 and c3", hs, err)
	} else if _, ok := hs["a1"]; ok {
		t.Error("AccountHolders still names a1 after its release")
	}
	taken3, busy3, err := b.LockAccounts([]string{"a1"}, h2)
	if err != nil || len(taken3) != 1 || len(busy3) != 0 {
		t.Fatalf("LockAccounts(a1) after its release: took %d, busy %v, %v; want it taken", len(taken3), busy3, err)
	}
	if err := taken3["a1"](); err != nil {
		t.Errorf("release: %v", err)
	}
}
