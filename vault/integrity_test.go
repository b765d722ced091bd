package vault

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// threeAccounts makes a vault with accounts a, b and c (the vectors'
// Pyrogram file with three different keys: one key, one account).
func threeAccounts(t *testing.T) (*testVault, map[string]Account) {
	t.Helper()
	tv := newTestVault(t)
	accts := map[string]Account{}
	for i, n := range []string{"a", "b", "c"} {
		r, err := tv.ImportFile(variantFile(t, i+1), ImportOptions{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		accts[n] = r.Account
	}
	return tv, accts
}

func (tv *testVault) file(id string) string {
	return filepath.Join(tv.Dir(), accountsDir, id+accountExt)
}

// TestDamagedAccountFile: a truncated, flipped, swapped or rolled-back
// file fails that account clearly; the others work and stored data does
// not change.
func TestDamagedAccountFile(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, tv *testVault, a map[string]Account)
		want   error
	}{
		{"truncated", func(t *testing.T, tv *testVault, a map[string]Account) {
			b, _ := os.ReadFile(tv.file(a["b"].ID))
			os.WriteFile(tv.file(a["b"].ID), b[:len(b)/2], 0o600)
		}, ErrCorrupt},
		{"flipped", func(t *testing.T, tv *testVault, a map[string]Account) {
			b, _ := os.ReadFile(tv.file(a["b"].ID))
			b[len(b)-40] ^= 1
			os.WriteFile(tv.file(a["b"].ID), b, 0o600)
		}, ErrCorrupt},
		{"missing", func(t *testing.T, tv *testVault, a map[string]Account) {
			os.Remove(tv.file(a["b"].ID))
		}, ErrCorrupt},
		// Another account's file: authenticated for that account's name,
		// not this one's (format 1 caught it by the binding).
		{"swapped", func(t *testing.T, tv *testVault, a map[string]Account) {
			c, _ := os.ReadFile(tv.file(a["c"].ID))
			os.WriteFile(tv.file(a["b"].ID), c, 0o600)
		}, ErrCorrupt},
		{"rolled back", func(t *testing.T, tv *testVault, a map[string]Account) {
			old, _ := os.ReadFile(tv.file(a["b"].ID))
			f, err := tv.OpenAccount("b")
			if err != nil {
				t.Fatal(err)
			}
			if err := f.SetMeta("x", []byte("1")); err != nil { // revision 2
				t.Fatal(err)
			}
			f.Close()
			if _, err := tv.OpenAccount("b"); err != nil { // index catches up
				t.Fatal(err)
			}
			if got, _ := tv.Show("b"); got.Revision != 2 {
				t.Fatalf("index revision %d, want 2", got.Revision)
			}
			os.WriteFile(tv.file(a["b"].ID), old, 0o600)
		}, ErrBinding},
		{"from another vault", func(t *testing.T, tv *testVault, a map[string]Account) {
			other := newTestVault(t)
			r, err := other.ImportFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"), ImportOptions{Name: "z"})
			if err != nil {
				t.Fatal(err)
			}
			// Sealed to the other vault's key: re-seal it to ours, as an
			// attacker holding our public key could.
			b, _ := os.ReadFile(other.file(r.Account.ID))
			ost, _ := other.unlock()
			plain, err := crypto.Open(b, ost.ids...)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := tv.unlock()
			resealed, _ := crypto.Seal(plain, st.recipients()...)
			os.WriteFile(tv.file(a["b"].ID), resealed, 0o600)
		}, ErrCorrupt},
		// What the attacker of issue 13 did: an image of their own, bound
		// to this vault and account with a revision ahead of the index,
		// sealed to the vault's public key. Format 1 took it as crash
		// recovery and served it.
		{"forged ahead of the index", func(t *testing.T, tv *testVault, a map[string]Account) {
			forgeAccount(t, tv, a["b"], a["b"].Revision+5)
		}, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tv, accts := threeAccounts(t)
			tc.damage(t, tv, accts)
			snapshotDir := readDir(t, tv.Dir())
			_, err := tv.OpenAccount("b")
			var ae *AccountError
			if !errors.Is(err, tc.want) || !errors.As(err, &ae) || ae.ID != accts["b"].ID {
				t.Fatalf("OpenAccount(b) = %v, want %v", err, tc.want)
			}
			if _, err := tv.Export("b", 0, false); !errors.Is(err, tc.want) {
				t.Errorf("Export(b) = %v", err)
			}
			for _, n := range []string{"a", "c"} {
				if _, err := tv.Export(n, 0, false); err != nil {
					t.Errorf("Export(%s) = %v", n, err)
				}
			}
			b, err := tv.Show("b")
			if err != nil || b.Status != StatusBroken || b.Reason == "" {
				t.Errorf("Show(b) = %+v, %v; want broken with a reason", b, err)
			}
			// Nothing stored changed but the index.
			after := readDir(t, tv.Dir())
			for p, data := range snapshotDir {
				if p != indexName && !bytes.Equal(after[p], data) {
					t.Errorf("%s changed", p)
				}
			}
			var bad int
			for _, c := range tv.Doctor() {
				if !c.OK && c.Name == "account b" {
					bad++
				}
			}
			if bad != 1 {
				t.Errorf("Doctor reported %d problems for b", bad)
			}
		})
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			m[rel], _ = os.ReadFile(p)
		}
		return nil
	})
	return m
}

// TestFileAheadOfIndex: a crash between the account file and the index
// leaves the file ahead; it is accepted and the index repaired.
func TestFileAheadOfIndex(t *testing.T) {
	tv, accts := threeAccounts(t)
	idx, _ := os.ReadFile(filepath.Join(tv.Dir(), indexName))
	f, err := tv.OpenAccount("a")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetMeta("x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Put the old index back: the crash lost the index write.
	os.WriteFile(filepath.Join(tv.Dir(), indexName), idx, 0o600)
	if a, _ := tv.Show("a"); a.Revision != 1 {
		t.Fatalf("index revision %d", a.Revision)
	}
	var ahead bool
	for _, c := range tv.Doctor() {
		ahead = ahead || (c.Name == "account a" && c.OK && strings.Contains(c.Detail, "ahead"))
	}
	if !ahead {
		t.Error("Doctor does not report the file ahead of the index")
	}
	f, err = tv.OpenAccount("a")
	if err != nil {
		t.Fatalf("OpenAccount of a file ahead: %v", err)
	}
	f.Close()
	if a, _ := tv.Show("a"); a.Revision != 2 || a.Status != StatusActive {
		t.Errorf("index not repaired: %+v", a)
	}
	_ = accts
}

// TestRekeyInterrupted stops Rekey after each of its steps: the vault
// still opens with the keyring, the old or the new passphrase path, and
// running Rekey again finishes it.
func TestRekeyInterrupted(t *testing.T) {
	// Count the steps of a full run.
	var steps []string
	{
		tv, _ := threeAccounts(t)
		rekeyHook = func(s string) error { steps = append(steps, s); return nil }
		t.Cleanup(func() { rekeyHook = nil })
		if err := tv.Rekey(testPass); err != nil {
			t.Fatal(err)
		}
		rekeyHook = nil
	}
	if len(steps) < 10 {
		t.Fatalf("steps = %v", steps)
	}
	t.Logf("rekey steps: %s", strings.Join(steps, " "))
	for i, step := range steps {
		t.Run(fmt.Sprintf("%02d-%s", i, step), func(t *testing.T) {
			tv, _ := threeAccounts(t)
			oldText, _ := tv.kr.secret(tv.ID())
			oldID, _ := crypto.ParseIdentity(oldText)
			want := map[string]string{}
			for _, n := range []string{"a", "b", "c"} {
				want[n], _ = tv.Export(n, 0, false)
			}
			errCrash := errors.New("crash")
			n := 0
			rekeyHook = func(string) error {
				if n == i {
					return errCrash
				}
				n++
				return nil
			}
			err := tv.Rekey(testPass)
			rekeyHook = nil
			if !errors.Is(err, errCrash) {
				t.Fatalf("Rekey = %v, want the injected crash", err)
			}
			// Every way in still opens every account.
			check := func(label string, v *Vault) {
				t.Helper()
				for _, n := range []string{"a", "b", "c"} {
					got, err := v.Export(n, 0, false)
					if err != nil || got != want[n] {
						t.Fatalf("%s: Export(%s) = %v", label, n, err)
					}
				}
			}
			last := i == len(steps)-1
			check("keyring", tv.reopen(t, Options{Keyring: tv.kr}))
			check("passphrase", tv.reopen(t, Options{Passphrase: testPass}))
			if !last {
				check("old identity", tv.reopen(t, Options{Identity: oldID}))
				if _, err := tv.Import(vector(t, "pyrogram/session_string_v3.txt"), "", ImportOptions{Name: "new"}); !errors.Is(err, ErrRekeyPending) {
					t.Errorf("write during an unfinished rekey: %v", err)
				}
			}
			// A rerun finishes it.
			if err := tv.reopen(t, Options{Keyring: tv.kr}).Rekey(testPass); err != nil {
				t.Fatalf("rerun: %v", err)
			}
			check("keyring after rerun", tv.reopen(t, Options{Keyring: tv.kr}))
			check("passphrase after rerun", tv.reopen(t, Options{Passphrase: testPass}))
			if _, err := tv.reopen(t, Options{Identity: oldID}).List(); !errors.Is(err, ErrWrongKey) {
				t.Errorf("old identity after rekey: %v, want ErrWrongKey", err)
			}
			newText, _ := tv.kr.secret(tv.ID())
			newID, _ := crypto.ParseIdentity(newText)
			for _, p := range []string{indexName, filepath.Join(slotsDir, rekeyName)} {
				b, err := os.ReadFile(filepath.Join(tv.Dir(), p))
				if p == indexName {
					if _, err := crypto.Open(b, oldID); !errors.Is(err, crypto.ErrWrongKey) {
						t.Errorf("the old key still opens the index: %v", err)
					}
					if _, err := crypto.Open(b, newID); err != nil {
						t.Errorf("the new key does not open the index: %v", err)
					}
				} else if err == nil {
					t.Error("rekey state left behind")
				}
			}
			if _, err := tv.Import(vector(t, "pyrogram/session_string_v3.txt"), "", ImportOptions{Name: "new"}); err != nil {
				t.Errorf("write after rekey: %v", err)
			}
			if m, err := tv.readMeta(); err != nil || !metaOK(newID, m) || m.Format != formatCurrent {
				t.Errorf("vault.json not authenticated by the new key (format %d, %v)", m.Format, err)
			}
		})
	}
}

func TestRekeyWrongPassphraseAndForgedState(t *testing.T) {
	tv, _ := threeAccounts(t)
	if err := tv.Rekey(crypto.Passphrase("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Rekey with a wrong passphrase: %v", err)
	}
	// A state file planted by someone without the key: sealed to the
	// vault's public key but not authenticated.
	attacker, _ := crypto.GenerateIdentity()
	st, _ := tv.unlock()
	forged, _ := crypto.Seal([]byte(`{"identity":"`+attacker.Reveal()+`","mac":"00"}`), st.recipients()...)
	os.WriteFile(filepath.Join(tv.Dir(), slotsDir, rekeyName), forged, 0o600)
	if err := tv.Rekey(testPass); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Rekey with a forged state file: %v, want ErrCorrupt", err)
	}
	if _, err := tv.List(); err != nil {
		t.Errorf("List: %v", err)
	}
}

func TestDoctorHealthy(t *testing.T) {
	tv, accts := threeAccounts(t)
	for _, c := range tv.Doctor() {
		if !c.OK {
			t.Errorf("check %+v failed on a healthy vault", c)
		}
	}
	// Stray temp files, an orphan and loose permissions.
	os.WriteFile(filepath.Join(tv.Dir(), accountsDir, ".x.age.tmp-0011"), []byte("sealed"), 0o600)
	os.WriteFile(filepath.Join(tv.Dir(), accountsDir, "0123.age"), []byte("sealed"), 0o600)
	os.Chmod(tv.file(accts["a"].ID), 0o644)
	failed := map[string]Check{}
	for _, c := range tv.Doctor() {
		if !c.OK {
			failed[c.Name] = c
		}
	}
	for _, n := range []string{"temp files", "orphans", "permissions"} {
		if c, ok := failed[n]; !ok || c.Fix == "" {
			t.Errorf("Doctor: %s not reported with a fix (%+v)", n, c)
		}
	}
	tv.Lock()
	var locked bool
	for _, c := range tv.Doctor() {
		locked = locked || (c.Name == "keyring" && strings.Contains(c.Detail, "locked"))
	}
	if !locked {
		t.Error("Doctor does not say the vault is locked")
	}
	_ = sessionstring.Unknown
}

func TestCommit(t *testing.T) {
	tv, _ := threeAccounts(t)
	f, err := tv.OpenAccount("a")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = tv.Commit(f, func() error {
		return f.UpdatePeers([]storage.Peer{storage.UserPeer(42, 1, false, "new_peer", nil, "")})
	})
	if err == nil {
		err = tv.Commit(f, f.Flush)
	}
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tv.Show("a")
	if a.Peers != 6 || a.Revision != f.Revision() || a.Revision < 2 {
		t.Errorf("index after Commit: %+v (file revision %d)", a, f.Revision())
	}
	held, _ := tv.writeLock()
	if err := tv.Commit(f, f.Flush); !errors.Is(err, ErrBusy) {
		t.Errorf("Commit while another writer holds the lock: %v", err)
	}
	held.release()
}

// TestCommitAll: one write for many stores; a failing store keeps its
// entry, the others are recorded, the failure comes back, and a vault
// whose lock another writer holds is busy before any store is touched.
func TestCommitAll(t *testing.T) {
	tv, _ := threeAccounts(t)
	var files []*storage.File
	for i, n := range []string{"a", "b", "c"} {
		f, err := tv.OpenAccount(n)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.UpdatePeers([]storage.Peer{storage.UserPeer(int64(100+i), 1, false, "", nil, "")}); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	before, _ := tv.Show("c")
	errC := errors.New("c failed")
	var calls atomic.Int64
	errs, err := tv.CommitAll(files, func(f *storage.File, b *storage.SaveBatch) error {
		calls.Add(1)
		if f == files[2] {
			return errC
		}
		return f.FlushIn(b)
	})
	if err != nil || calls.Load() != 3 || errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], errC) {
		t.Fatalf("CommitAll: %v, %v after %d calls; want c's failure alone after 3", errs, err, calls.Load())
	}
	for i, n := range []string{"a", "b"} {
		a, _ := tv.Show(n)
		if a.Peers != 6 || a.Revision != files[i].Revision() || a.Revision < 2 {
			t.Errorf("index entry %s after CommitAll: %+v (file revision %d)", n, a, files[i].Revision())
		}
	}
	if c, _ := tv.Show("c"); c.Revision != before.Revision || c.Peers != before.Peers {
		t.Errorf("the failed store's entry changed: %+v, was %+v", c, before)
	}
	if errs, err := tv.CommitAll(nil, nil); err != nil || errs != nil {
		t.Errorf("CommitAll of nothing: %v %v", errs, err)
	}
	if _, err := tv.CommitAll([]*storage.File{files[0], files[0]}, func(*storage.File, *storage.SaveBatch) error { return nil }); err == nil {
		t.Error("CommitAll took a store twice")
	}
	held, _ := tv.writeLock()
	calls.Store(0)
	if _, err := tv.CommitAll(files, func(*storage.File, *storage.SaveBatch) error { calls.Add(1); return nil }); !errors.Is(err, ErrBusy) || calls.Load() != 0 {
		t.Errorf("CommitAll while another writer holds the lock: %v after %d calls", err, calls.Load())
	}
	held.release()
}

// TestCommitRecordsLearnedIdentity: a Telethon string carries no user id
// or bot flag; once the pool learns them (a SetSession through Commit),
// the index has them too.
func TestCommitRecordsLearnedIdentity(t *testing.T) {
	tv := newTestVault(t)
	data, err := os.ReadFile(filepath.Join(vectors, "telethon/string_session.txt"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := tv.Import(data, "", ImportOptions{Name: "tl", APIID: sessionstring.Some[int32](12345)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Account.UserID.Known() || r.Account.IsBot.Known() {
		t.Fatalf("the Telethon string gave a user id or bot flag: %+v", r.Account)
	}
	f, err := tv.OpenAccount("tl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row, err := f.Session()
	if err != nil {
		t.Fatal(err)
	}
	row.UserID, row.IsBot = sessionstring.Some[int64](777000), sessionstring.Some(true)
	if err := tv.Commit(f, func() error { return f.SetSession(row) }); err != nil {
		t.Fatal(err)
	}
	a, err := tv.Show("tl")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := a.UserID.Get(); id != 777000 || a.IsBot != sessionstring.Some(true) || a.Revision != f.Revision() {
		t.Errorf("index after Commit: %+v", a)
	}
}

// forgeAccount writes, in a's place, an image of the attacker's own session
// bound to a's vault and id at revision rev, sealed with age to the
// vault's public key (read from vault.json, as an attacker would).
func forgeAccount(t *testing.T, tv *testVault, a Account, rev uint64) {
	t.Helper()
	m, err := tv.readMeta()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := crypto.ParseRecipient(m.Recipients[0])
	if err != nil {
		t.Fatal(err)
	}
	attacker, _ := crypto.GenerateIdentity()
	s, err := crypto.NewSealer([]*crypto.Identity{attacker}, []*crypto.Recipient{pub})
	if err != nil {
		t.Fatal(err)
	}
	k := make([]byte, 256)
	for i := range k {
		k[i] = byte(255 - i)
	}
	ak, _ := sessionstring.NewAuthKey(k)
	snap := &storage.Snapshot{Session: storage.SessionRow{DCID: 2, APIID: sessionstring.Some[int32](1), TestMode: sessionstring.Some(false),
		AuthKey: ak, UserID: sessionstring.Some[int64](31337), IsBot: sessionstring.Some(false)},
		Meta: map[string][]byte{"tgvault.server": []byte("203.0.113.1:443")}}
	p := tv.file(a.ID)
	tmp := p + ".forged"
	f, err := storage.CreateFile(tmp, s, storage.Binding{VaultID: m.VaultID, AccountID: a.ID, Revision: rev}, snap, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}
