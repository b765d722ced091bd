package vault

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/testhooks"
)

func TestInitLayout(t *testing.T) {
	tv := newTestVault(t)
	for _, p := range []string{metaName, indexName, filepath.Join(slotsDir, slotName)} {
		fi, err := os.Stat(filepath.Join(tv.Dir(), p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != fileMode {
			t.Errorf("%s: mode %o, want 0600", p, fi.Mode().Perm())
		}
	}
	for _, d := range []string{"", slotsDir, accountsDir} {
		fi, err := os.Stat(filepath.Join(tv.Dir(), d))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != dirMode {
			t.Errorf("%q: mode %o, want 0700", d, fi.Mode().Perm())
		}
	}
	s, ok := tv.kr.secret(tv.ID())
	if !ok || !strings.HasPrefix(s, "AGE-SECRET-KEY-1") {
		t.Fatalf("keyring does not hold the identity")
	}
	if _, err := Init(InitOptions{Options: Options{Dir: tv.Dir(), Keyring: tv.kr}}, testPass); !errors.Is(err, ErrExists) {
		t.Errorf("Init over a vault: %v, want ErrExists", err)
	}
	if _, err := Open(Options{Dir: t.TempDir()}); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Open of an empty dir: %v, want ErrNotInitialized", err)
	}
	b, _ := os.ReadFile(filepath.Join(tv.Dir(), metaName))
	var m vaultMeta
	if err := json.Unmarshal(b, &m); err != nil || m.VaultID != tv.ID() || len(m.Recipients) != 1 {
		t.Errorf("vault.json = %s", b)
	}
}

func TestUnlockSources(t *testing.T) {
	tv := newTestVault(t)
	rcpt, err := tv.Recipient()
	if err != nil {
		t.Fatal(err)
	}
	idText, _ := tv.kr.secret(tv.ID())
	id, err := crypto.ParseIdentity(idText)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := crypto.GenerateIdentity()
	empty := newFakeKeyring()
	broken := newFakeKeyring()
	broken.err = ErrKeyring

	tests := []struct {
		name    string
		opts    Options
		wantBy  string
		wantErr error
	}{
		{"keyring", Options{Keyring: tv.kr}, "keyring", nil},
		{"identity", Options{Keyring: empty, Identity: id}, "identity", nil},
		{"passphrase", Options{Passphrase: testPass}, "passphrase", nil},
		{"identity wins over keyring", Options{Keyring: tv.kr, Identity: id}, "identity", nil},
		{"no keyring", Options{}, "", ErrLocked},
		{"empty keyring", Options{Keyring: empty}, "", ErrLocked},
		{"failing keyring", Options{Keyring: broken}, "", ErrKeyring},
		{"wrong passphrase", Options{Passphrase: crypto.Passphrase("nope")}, "", ErrWrongPassphrase},
		{"wrong identity", Options{Identity: other}, "identity", ErrWrongKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tv.reopen(t, tc.opts)
			s, err := v.Status()
			if tc.wantErr != nil && tc.wantBy == "" {
				if tc.wantErr == ErrLocked {
					if err != nil || s.Unlocked || s.Accounts != -1 {
						t.Fatalf("Status = %+v, %v; want locked", s, err)
					}
					_, err = v.List()
				}
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				// Unlock is advised only where something can hold the key.
				if errors.Is(err, ErrLocked) && tc.opts.Keyring != nil && !strings.Contains(err.Error(), "tgvault unlock") {
					t.Errorf("locked error does not say how to unlock: %v", err)
				}
				if errors.Is(err, ErrLocked) && tc.opts.Keyring == nil && (strings.Contains(err.Error(), "tgvault unlock") || !strings.Contains(err.Error(), "TGVAULT_PASSPHRASE_FILE")) {
					t.Errorf("with nothing to hold the key, the locked error must name the per-process ways, not unlock: %v", err)
				}
				if tc.name == "empty keyring" && !errors.Is(err, ErrKeyringNotFound) {
					t.Errorf("locked by an empty keyring: %v does not match ErrKeyringNotFound", err)
				}
				return
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Status err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || !s.Unlocked || s.UnlockedBy != tc.wantBy || s.Accounts != 0 {
				t.Fatalf("Status = %+v, %v", s, err)
			}
			if r, err := v.Recipient(); err != nil || r != rcpt {
				t.Errorf("Recipient = %q, %v; want %q", r, err, rcpt)
			}
		})
	}
}

func TestLockedOperations(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.ImportFile(filepath.Join(vectors, "pyrogram/session_string_v3.txt"), ImportOptions{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := tv.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := tv.Lock(); err != nil {
		t.Fatalf("Lock twice: %v", err)
	}
	ops := map[string]func() error{
		"List":        func() error { _, err := tv.List(); return err },
		"Show":        func() error { _, err := tv.Show("a"); return err },
		"Export":      func() error { _, err := tv.Export("a", 0, false); return err },
		"OpenAccount": func() error { _, err := tv.OpenAccount("a"); return err },
		"Import": func() error {
			_, err := tv.Import(vector(t, "pyrogram/session_string_v3.txt"), "", ImportOptions{})
			return err
		},
		"Rename":    func() error { return tv.Rename("a", "b") },
		"Remove":    func() error { return tv.Remove("a") },
		"Recipient": func() error { _, err := tv.Recipient(); return err },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, ErrLocked) {
			t.Errorf("%s on a locked vault: %v, want ErrLocked", name, err)
		}
	}
}

func TestUnlockTimeout(t *testing.T) {
	tv := newTestVault(t)
	if err := tv.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := tv.Unlock(crypto.Passphrase("wrong"), 0); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Unlock with a wrong passphrase: %v", err)
	}
	if err := tv.Unlock(testPass, time.Hour); err != nil {
		t.Fatal(err)
	}
	s, err := tv.Status()
	if err != nil || !s.Unlocked || s.Expires == nil || !s.Expires.Equal(tv.clock.Now().Add(time.Hour)) {
		t.Fatalf("Status = %+v, %v", s, err)
	}
	tv.clock.Add(59 * time.Minute)
	if _, err := tv.List(); err != nil {
		t.Fatalf("List before expiry: %v", err)
	}
	tv.clock.Add(time.Minute)
	if _, err := tv.List(); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("List after expiry: %v, want ErrLocked (expired)", err)
	}
	if _, ok := tv.kr.secret(tv.ID()); ok {
		t.Error("the expired secret is still in the keyring")
	}
	if err := tv.Unlock(testPass, 0); err != nil {
		t.Fatal(err)
	}
	tv.clock.Add(1000 * time.Hour)
	if s, err := tv.Status(); err != nil || !s.Unlocked || s.Expires != nil {
		t.Fatalf("Status without timeout = %+v, %v", s, err)
	}
}

func TestNoKeyringVault(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	dir := filepath.Join(t.TempDir(), "v")
	v, err := Init(InitOptions{Options: Options{Dir: dir}, NoKeyring: true}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.List(); !errors.Is(err, ErrLocked) {
		t.Fatalf("List: %v", err)
	}
	if err := v.Unlock(testPass, 0); !errors.Is(err, ErrKeyring) {
		t.Fatalf("Unlock of a no-keyring vault: %v", err)
	}
	v2, err := Open(Options{Dir: dir, Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	s, err := v2.Status()
	if err != nil || !s.NoKeyring || s.UnlockedBy != "passphrase" {
		t.Fatalf("Status = %+v, %v", s, err)
	}
}

func TestSecondWriterRefused(t *testing.T) {
	tv := newTestVault(t)
	// A second open file description of the lock file, as another process
	// would have: flock locks are per open file description.
	held, err := tv.writeLock()
	if err != nil {
		t.Fatal(err)
	}
	_, err = tv.Import(vector(t, "pyrogram/session_string_v3.txt"), "", ImportOptions{Name: "x"})
	var be *BusyError
	if !errors.As(err, &be) || !errors.Is(err, ErrBusy) {
		t.Fatalf("Import while locked: %v, want *BusyError", err)
	}
	if be.Holder.PID != os.Getpid() || !strings.Contains(err.Error(), "process ") {
		t.Errorf("BusyError = %+v (%v), want pid %d", be.Holder, err, os.Getpid())
	}
	// Readers take no lock.
	if _, err := tv.List(); err != nil {
		t.Errorf("List while a writer holds the lock: %v", err)
	}
	s, err := tv.Status()
	if err != nil || s.Writer == nil || s.Writer.PID != os.Getpid() {
		t.Errorf("Status.Writer = %+v, %v", s.Writer, err)
	}
	if err := held.release(); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.Import(vector(t, "pyrogram/session_string_v3.txt"), "", ImportOptions{Name: "x"}); err != nil {
		t.Fatalf("Import after release: %v", err)
	}
	if s, _ := tv.Status(); s.Writer != nil {
		t.Errorf("Status.Writer after release = %+v", s.Writer)
	}
}

// TestOwnership: the ownership lock of an account (what `tgvault run`
// holds for each account it serves) refuses every use that hands the key
// out or changes who has it, for that account only.
func TestOwnership(t *testing.T) {
	tv := newTestVault(t)
	for i, n := range []string{"a", "b"} {
		if _, err := tv.ImportFile(variantFile(t, i+1), ImportOptions{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, held := tv.HeldByRun(); held {
		t.Fatal("held before a claim")
	}
	list, err := tv.List()
	if err != nil {
		t.Fatal(err)
	}
	claim, busy, err := tv.ClaimAccounts(list[:1]) // a
	if err != nil || len(busy) != 0 || !claim.Holds(list[0].ID) {
		t.Fatalf("ClaimAccounts: %v, busy %v", err, busy)
	}
	if pid, held := tv.HeldByRun(); !held || pid != os.Getpid() {
		t.Fatalf("HeldByRun = %d, %v", pid, held)
	}
	hs, err := tv.Holders()
	if err != nil || len(hs) != 1 || hs[0].Name != "a" || hs[0].Holder.PID != os.Getpid() {
		t.Fatalf("Holders = %+v, %v", hs, err)
	}
	// A second claim (another open file description: as another process)
	// gets b only, and names the holder of a.
	c2, busy, err := tv.ClaimAccounts(list)
	if err != nil || busy["a"].PID != os.Getpid() || !c2.Holds(list[1].ID) || c2.Holds(list[0].ID) {
		t.Fatalf("second claim: %v, busy %v", err, busy)
	}
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
	var he *HeldError
	if _, err := tv.Export("a", 0, false); !errors.As(err, &he) || !errors.Is(err, ErrHeldByRun) || he.Holder.PID != os.Getpid() {
		t.Errorf("Export while held: %v", err)
	}
	if _, err := tv.Export("b", 0, false); err != nil {
		t.Errorf("Export of another account while a is held: %v", err)
	}
	if err := tv.ExportPlainFile("a", filepath.Join(t.TempDir(), "a.session"), false); !errors.Is(err, ErrHeldByRun) {
		t.Errorf("ExportPlainFile while held: %v", err)
	}
	if _, err := tv.Export("a", 0, true); err != nil {
		t.Errorf("forced Export: %v", err)
	}
	r, _ := crypto.GenerateIdentity()
	move := SealedExportOptions{To: []*crypto.Recipient{r.Recipient()}, Move: true}
	if _, err := tv.ExportSealed("a", move); !errors.Is(err, ErrHeldByRun) {
		t.Errorf("ExportSealed --move while held: %v", err)
	}
	move.Force = true
	if _, err := tv.ExportSealed("a", move); err == nil {
		t.Error("ExportSealed --move --force while held: accepted")
	}
	_, replaceErr := tv.ImportFile(variantFile(t, 1), ImportOptions{Replace: true})
	for what, err := range map[string]error{
		"Import --replace": replaceErr,
		"Rename":           tv.Rename("a", "c"),
		"Remove":           tv.Remove("a"),
		"Reclaim":          tv.Reclaim("a"),
		"SetStatus":        tv.SetStatus("a", StatusRevoked, "x"),
		"Rekey":            tv.Rekey(testPass),
	} {
		if !errors.Is(err, ErrHeldByRun) {
			t.Errorf("%s while held: %v, want ErrHeldByRun", what, err)
		}
	}
	if err := tv.Rename("b", "c"); err != nil {
		t.Errorf("Rename of another account: %v", err)
	}
	if err := claim.Close(); err != nil {
		t.Fatal(err)
	}
	if _, held := tv.HeldByRun(); held {
		t.Fatal("held after release")
	}
	if _, err := tv.Export("a", 0, false); err != nil {
		t.Errorf("Export after release: %v", err)
	}
	// A command's hold (here: this test's) is waited for; a run's is
	// refused at once.
	c3, _, _ := tv.ClaimAccounts(list[:1])
	time.AfterFunc(50*time.Millisecond, func() { c3.Close() })
	if _, err := tv.Export("a", 0, false); err != nil {
		t.Errorf("Export while a command holds a for a moment: %v", err)
	}
	taken, _, err := tv.be.LockAccounts([]string{list[0].ID}, LockHolder{PID: 4242, Command: "tgvault run", Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := tv.Export("a", 0, false); !errors.As(err, &he) || he.Holder.PID != 4242 || time.Since(t0) > 300*time.Millisecond {
		t.Errorf("Export while a run holds a: %v after %v", err, time.Since(t0))
	}
	for _, rel := range taken {
		rel()
	}
	if err := tv.Remove("a"); err != nil {
		t.Errorf("Remove after release: %v", err)
	}
}

// TestInjectedRecipient: a recipient added to vault.json by someone who
// can write the directory fails vault.json's MAC: every unlocked command
// is refused with ErrCorrupt, nothing is sealed to it, and Doctor names it.
func TestInjectedRecipient(t *testing.T) {
	tv := newTestVault(t)
	intruder, _ := crypto.GenerateIdentity()
	p := filepath.Join(tv.Dir(), metaName)
	orig, _ := os.ReadFile(p)
	var m map[string]any
	if err := json.Unmarshal(orig, &m); err != nil {
		t.Fatal(err)
	}
	m["recipients"] = append(m["recipients"].([]any), intruder.Recipient().String())
	b, _ := json.Marshal(m)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	before := readDir(t, tv.Dir())
	v := tv.reopen(t, Options{Keyring: tv.kr})
	if _, err := v.ImportFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"), ImportOptions{Name: "a"}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Import = %v, want ErrCorrupt", err)
	}
	if _, err := v.List(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("List = %v, want ErrCorrupt", err)
	}
	if _, err := v.Recipient(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Recipient = %v, want ErrCorrupt", err)
	}
	after := readDir(t, tv.Dir())
	if len(after) != len(before) {
		t.Errorf("files written: %d before, %d after", len(before), len(after))
	}
	found := false
	for _, c := range v.Doctor() {
		if c.Name == "vault.json" {
			found = true
			if c.OK || !strings.Contains(c.Detail, intruder.Recipient().String()) {
				t.Errorf("Doctor vault.json check = %+v", c)
			}
		}
	}
	if !found {
		t.Error("Doctor has no vault.json check")
	}
	// Put back, everything works.
	if err := os.WriteFile(p, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ImportFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"), ImportOptions{Name: "a"}); err != nil {
		t.Fatal(err)
	}
}

func TestPasswd(t *testing.T) {
	tv := newTestVault(t)
	newPass := crypto.Passphrase("a new passphrase for the slot")
	if err := tv.Passwd(crypto.Passphrase("wrong"), newPass); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Passwd with a wrong old passphrase: %v", err)
	}
	before, _ := os.ReadFile(filepath.Join(tv.Dir(), indexName))
	if err := tv.Passwd(testPass, newPass); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(tv.Dir(), indexName))
	if string(before) != string(after) {
		t.Error("Passwd re-sealed the index")
	}
	if _, err := tv.reopen(t, Options{Passphrase: testPass}).List(); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("old passphrase: %v", err)
	}
	if _, err := tv.reopen(t, Options{Passphrase: newPass}).List(); err != nil {
		t.Errorf("new passphrase: %v", err)
	}
}

func TestRemoveRename(t *testing.T) {
	tv := newTestVault(t)
	for i, n := range []string{"a", "b"} {
		if _, err := tv.ImportFile(variantFile(t, i+1), ImportOptions{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tv.ImportFile(variantFile(t, 3), ImportOptions{Name: "a"}); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := tv.Rename("a", "b"); !errors.Is(err, ErrExists) {
		t.Errorf("Rename onto an existing name: %v", err)
	}
	if err := tv.Rename("zz", "c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rename of a missing account: %v", err)
	}
	if err := tv.Rename("a", ""); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Rename to empty: %v", err)
	}
	if err := tv.Rename("a", "c"); err != nil {
		t.Fatal(err)
	}
	c, err := tv.Show("c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tv.OpenAccount("c"); err != nil {
		t.Errorf("OpenAccount after Rename: %v", err)
	}
	if err := tv.Remove("c"); err != nil {
		t.Fatal(err)
	}
	if err := tv.Remove("c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove twice: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tv.Dir(), accountsDir, c.ID+accountExt)); !os.IsNotExist(err) {
		t.Errorf("account file still there: %v", err)
	}
	list, err := tv.List()
	if err != nil || len(list) != 1 || list[0].Name != "b" {
		t.Fatalf("List = %+v, %v", list, err)
	}
}
