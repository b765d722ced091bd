package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/filekeyring"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// TestGroupCommit: many accounts writing at once are all durable and in
// the index when commit returns, in fewer vault writes than accounts, and
// one account's failure is its own.
func TestGroupCommit(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	dir := t.TempDir()
	v, err := vault.Init(vault.InitOptions{Options: vault.Options{Dir: filepath.Join(dir, "vault"), Keyring: filekeyring.New(filepath.Join(dir, "keyring"))}}, crypto.Passphrase("group commit test"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	const n = 40
	files := make([]*storage.File, n)
	for i := range n {
		name := fmt.Sprintf("acct%02d", i)
		if _, err := v.Import(variantSession(t, i+1), "", vault.ImportOptions{Name: name}); err != nil {
			t.Fatal(err)
		}
		if files[i], err = v.OpenAccount(name); err != nil {
			t.Fatal(err)
		}
		defer files[i].Close()
	}
	rev7 := files[7].Revision()
	w := &vaultWriter{v: v}
	errBad := errors.New("account 7 failed")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = w.commit(files[i], func(b *storage.SaveBatch) error {
				switch {
				case i == 7:
					return errBad
				case i%2 == 0: // a peer flush: staged in the batch
					if err := files[i].UpdatePeers([]storage.Peer{storage.UserPeer(int64(1000+i), 1, false, "", nil, "")}); err != nil {
						return err
					}
					return files[i].FlushIn(b)
				}
				return files[i].SetMeta("test.group", []byte{byte(i)}) // saved at once
			})
		})
	}
	// A second write of one store meanwhile goes into another batch.
	var again error
	wg.Go(func() {
		again = w.commit(files[3], now(func() error { return files[3].SetMeta("test.again", []byte{1}) }))
	})
	wg.Wait()
	if again != nil {
		t.Errorf("a second write of one store: %v", again)
	}
	for i, err := range errs {
		if i == 7 {
			if !errors.Is(err, errBad) {
				t.Errorf("account 7: %v, want its own failure", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("account %d: %v", i, err)
		}
	}
	list, err := v.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		var i int
		fmt.Sscanf(a.Name, "acct%02d", &i)
		want := files[i].Revision()
		if i == 7 {
			want = rev7
		}
		if a.Revision != want {
			t.Errorf("%s: index revision %d, file revision %d", a.Name, a.Revision, files[i].Revision())
		}
	}
	if b := w.batches.Load(); b >= n {
		t.Errorf("%d concurrent commits took %d vault writes, want fewer", n, b)
	} else {
		t.Logf("%d concurrent commits in %d vault writes", n, b)
	}
}

// variantSession is the vectors' Pyrogram string with the last byte of
// the key XORed with n (1 to 255): a session of its own (one key, one
// account).
func variantSession(t testing.TB, n int) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/vectors/pyrogram/session_string_v3.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, err := sessionstring.Decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	k := make([]byte, 256)
	for i := range k {
		k[i] = byte(i)
	}
	k[255] ^= byte(n)
	s := d.Session
	if s.AuthKey, err = sessionstring.NewAuthKey(k); err != nil {
		t.Fatal(err)
	}
	out, err := sessionstring.Encode(sessionstring.Pyrogram, s)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(out)
}

// TestSaveAndCloseGCPercent: the save at stop runs with GOGC at least 100
// (run lowers it to 50 once its accounts are connected) and GOGC is as it
// was afterwards; a higher GOGC, or none, is left alone. Its batches are
// of up to stopBatch stores.
func TestSaveAndCloseGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	gcPercent := func() int {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	for _, tc := range []struct{ before, during int }{{50, 100}, {100, 100}, {200, 200}, {-1, -1}} {
		debug.SetGCPercent(tc.before)
		f, err := storage.CreateFile(filepath.Join(t.TempDir(), "acct.age"), xorSealer{}, storage.Binding{VaultID: "v1", AccountID: "a1", Revision: 1},
			&storage.Snapshot{Session: storage.SessionRow{DCID: 2}}, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		during := 0
		c := &commitFunc{do: func(_ *storage.File, fn func(*storage.SaveBatch) error) error {
			during = gcPercent()
			return fn(nil)
		}}
		s := newLazyStore(f, nil, c)
		if err := s.UpdatePeers([]storage.Peer{storage.UserPeer(777, 42, false, "gc", nil, "")}); err != nil {
			t.Fatal(err)
		}
		if errs := saveAndClose([]*lazyStore{s}); len(errs) > 0 {
			t.Fatal(errs[0])
		}
		if c.batch != stopBatch {
			t.Errorf("the save at stop committed in batches of %d, want %d", c.batch, stopBatch)
		}
		if during != tc.during {
			t.Errorf("GOGC %d: the save ran at %d, want %d", tc.before, during, tc.during)
		}
		if after := gcPercent(); after != tc.before {
			t.Errorf("GOGC %d: %d after the save", tc.before, after)
		}
	}
}
