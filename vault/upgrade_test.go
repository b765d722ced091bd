package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/sessionstring"
)

// The format-1 vault made by tgvault before file authentication
// (testdata/vault-format1/README.md).
const format1Fixture = "../testdata/vault-format1"

type fixtureAccount struct {
	Name     string            `json:"name"`
	ID       string            `json:"id"`
	Status   AccountStatus     `json:"status"`
	Peers    int               `json:"peers"`
	Revision uint64            `json:"revision"`
	Pyrogram string            `json:"pyrogram"`
	Meta     map[string]string `json:"meta"`
}

// format1 copies the fixture vault into a temp dir and returns its
// directory, identity and what each account held.
func format1(t *testing.T) (dir string, id *crypto.Identity, want []fixtureAccount) {
	t.Helper()
	testhooks.SetScryptWorkFactor(t, 10)
	dir = filepath.Join(t.TempDir(), "vault")
	if err := copyDir(filepath.Join(format1Fixture, "vault"), dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(format1Fixture, "identity.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := crypto.ParseIdentities(strings.NewReader(string(b)))
	if err != nil || len(ids) != 1 {
		t.Fatalf("fixture identity: %v", err)
	}
	b, err = os.ReadFile(filepath.Join(format1Fixture, "want.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	return dir, ids[0], want
}

func fixturePass(t *testing.T) crypto.Passphrase {
	b, err := os.ReadFile(filepath.Join(format1Fixture, "passphrase.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return crypto.Passphrase(b)
}

func copyDir(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
}

// checkAccounts reads every account of want through v: the index entry,
// the session, the peers and the meta, as the old code read them; the
// handed-off one is refused.
func checkAccounts(t *testing.T, label string, v *Vault, want []fixtureAccount) {
	t.Helper()
	list, err := v.List()
	if err != nil || len(list) != len(want) {
		t.Fatalf("%s: List = %d accounts, %v", label, len(list), err)
	}
	for i, w := range want {
		a := list[i]
		if a.Name != w.Name || a.ID != w.ID || a.Status != w.Status || a.Peers != w.Peers || a.Revision < w.Revision {
			t.Errorf("%s: index entry %+v, want %+v", label, a, w)
		}
		got, err := v.Export(w.Name, sessionstring.Pyrogram, false)
		if w.Status == StatusHandedOff {
			if !errors.Is(err, ErrHandedOff) {
				t.Errorf("%s: Export(%s) of a handed-off account = %v", label, w.Name, err)
			}
			continue
		}
		if err != nil || got != w.Pyrogram {
			t.Errorf("%s: Export(%s) = %v (same: %v)", label, w.Name, err, got == w.Pyrogram)
			continue
		}
		snap, err := v.snapshot(w.Name, false)
		if err != nil {
			t.Fatalf("%s: snapshot(%s): %v", label, w.Name, err)
		}
		nmeta := len(snap.Meta)
		if st, ok := snap.Meta[metaState]; ok && w.Status != StatusActive && strings.Contains(string(st), string(w.Status)) {
			nmeta-- // the state the first write puts into the file (state.go)
		}
		if len(snap.Peers) != w.Peers || nmeta != len(w.Meta) {
			t.Errorf("%s: %s has %d peers and %d meta keys, want %d and %d", label, w.Name, len(snap.Peers), nmeta, w.Peers, len(w.Meta))
		}
		for k, val := range w.Meta {
			if string(snap.Meta[k]) != val {
				t.Errorf("%s: %s meta %s differs", label, w.Name, k)
			}
		}
	}
}

// authenticatedFiles counts the vault's sealed files that carry the auth
// stanza, and all of them.
func authenticatedFiles(t *testing.T, dir string) (auth, all int) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, accountsDir, "*"+accountExt))
	for _, p := range append(paths, filepath.Join(dir, indexName)) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all++
		if crypto.Authenticated(b) {
			auth++
		}
	}
	return auth, all
}

// TestUpgradeFormat1Fixture opens a vault written by tgvault before file
// authentication, reads every account, and checks that the first write
// upgrades it in place: every file authenticated, vault.json in format 2
// and authenticated, every account as it was; and that it opens again by
// keyring, identity and passphrase.
func TestUpgradeFormat1Fixture(t *testing.T) {
	dir, id, want := format1(t)
	kr := newFakeKeyring()
	m0, _ := os.ReadFile(filepath.Join(dir, metaName))
	var meta vaultMeta
	if err := json.Unmarshal(m0, &meta); err != nil || meta.Format != formatV1 {
		t.Fatalf("the fixture is not format 1: %v %+v", err, meta)
	}
	if err := kr.Set(KeyringService, meta.VaultID, id.Reveal()); err != nil {
		t.Fatal(err)
	}
	v, err := Open(Options{Dir: dir, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	if v.Format() != formatV1 {
		t.Fatalf("Format = %d", v.Format())
	}
	before := readDir(t, dir)
	checkAccounts(t, "format 1", v, want)
	if after := readDir(t, dir); !sameFiles(before, after) {
		t.Fatal("reading a format-1 vault changed it")
	}
	var legacy bool
	for _, c := range v.Doctor() {
		legacy = legacy || (c.Name == "vault.json" && !c.OK && strings.Contains(c.Detail, "format 1"))
		if !c.OK && strings.HasPrefix(c.Name, "account") {
			t.Errorf("Doctor on the format-1 vault: %+v", c)
		}
	}
	if !legacy {
		t.Error("Doctor does not say the vault is in format 1")
	}

	// The next write: the whole vault is upgraded.
	if err := v.Rename("bob", "bobby"); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if want[i].Name == "bob" {
			want[i].Name = "bobby"
		}
	}
	// The index is sorted by name: bob -> bobby keeps the order.
	if v.Format() != formatV2 {
		t.Fatalf("Format after a write = %d", v.Format())
	}
	if auth, all := authenticatedFiles(t, dir); auth != all || all != len(want)+1 {
		t.Fatalf("%d of %d files authenticated after the upgrade", auth, all)
	}
	m, err := v.readMeta()
	if err != nil || !metaOK(id, m) || m.RecipientsMAC != "" {
		t.Fatalf("vault.json after the upgrade: %+v, %v", m, err)
	}
	if s, err := kr.Get(KeyringService, meta.VaultID+formatAnchorSuffix); err != nil || s != "2" {
		t.Errorf("the keyring does not record format 2: %q, %v", s, err)
	}
	checkAccounts(t, "upgraded (same process)", v, want)
	for label, o := range map[string]Options{
		"keyring":    {Keyring: kr},
		"identity":   {Identity: id},
		"passphrase": {Passphrase: fixturePass(t)},
	} {
		w, err := Open(func() Options { o.Dir = dir; return o }())
		if err != nil {
			t.Fatal(err)
		}
		checkAccounts(t, "upgraded ("+label+")", w, want)
	}
	for _, c := range v.Doctor() {
		if !c.OK {
			t.Errorf("Doctor after the upgrade: %+v", c)
		}
	}
	// The handed-off account is still handed off; reclaimed, it is whole.
	if err := v.Reclaim("carol"); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if w.Name == "carol" {
			if got, err := v.Export("carol", sessionstring.Pyrogram, false); err != nil || got != w.Pyrogram {
				t.Errorf("carol after reclaim: %v", err)
			}
		}
	}
}

func sameFiles(a, b map[string][]byte) bool {
	// The locks (the write lock, the accounts' ownership locks, which
	// readers take too) are not the vault's contents.
	lockFile := func(k string) bool {
		return k == "lock" || strings.HasPrefix(filepath.ToSlash(k), ownersDir+"/")
	}
	n := 0
	for k, v := range a {
		if lockFile(k) {
			continue
		}
		n++
		if string(b[k]) != string(v) {
			return false
		}
	}
	for k := range b {
		if !lockFile(k) {
			n--
		}
	}
	return n == 0
}

// TestUpgradeInterrupted stops the upgrade after each file it rewrites:
// the vault still reads whole, and the next write finishes the upgrade.
func TestUpgradeInterrupted(t *testing.T) {
	var steps []string
	{
		dir, id, _ := format1(t)
		upgradeHook = func(name string) error { steps = append(steps, name); return nil }
		v, _ := Open(Options{Dir: dir, Identity: id})
		err := v.Reclaim("alice")
		upgradeHook = nil
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(steps) != 5 {
		t.Fatalf("upgrade steps %v, want the 4 account files and the index", steps)
	}
	errCrash := errors.New("crash")
	for i, step := range steps {
		t.Run(fmt.Sprintf("%d-%s", i, filepath.Base(step)), func(t *testing.T) {
			dir, id, want := format1(t)
			n := 0
			upgradeHook = func(string) error {
				if n == i {
					return errCrash
				}
				n++
				return nil
			}
			v, _ := Open(Options{Dir: dir, Identity: id})
			err := v.Reclaim("alice")
			upgradeHook = nil
			if !errors.Is(err, errCrash) {
				t.Fatalf("Reclaim = %v, want the injected crash", err)
			}
			w, _ := Open(Options{Dir: dir, Identity: id})
			if w.Format() != formatV1 {
				t.Fatalf("vault.json in format %d after a crash mid-upgrade", w.Format())
			}
			checkAccounts(t, "after the crash", w, want)
			if err := w.Reclaim("alice"); err != nil {
				t.Fatalf("the next write: %v", err)
			}
			if auth, all := authenticatedFiles(t, dir); auth != all || w.Format() != formatV2 {
				t.Fatalf("after the next write: %d of %d files authenticated, format %d", auth, all, w.Format())
			}
			checkAccounts(t, "upgraded", w, want)
		})
	}
}

// TestDowngradeRefused plays the attacker after an upgrade: old
// vault.json (format 1, kept from before) back in place, with unauthenticated
// files of the attacker's own. What is refused, and the residual risk
// that SECURITY.md states, are both pinned here.
func TestDowngradeRefused(t *testing.T) {
	setup := func(t *testing.T) (dir string, id *crypto.Identity, kr *fakeKeyring, oldMeta, oldIndex []byte, want []fixtureAccount, tv *testVault) {
		dir, id, want = format1(t)
		oldMeta, _ = os.ReadFile(filepath.Join(dir, metaName))
		oldIndex, _ = os.ReadFile(filepath.Join(dir, indexName))
		kr = newFakeKeyring()
		var m vaultMeta
		_ = json.Unmarshal(oldMeta, &m)
		_ = kr.Set(KeyringService, m.VaultID, id.Reveal())
		v, _ := Open(Options{Dir: dir, Keyring: kr})
		if err := v.Reclaim("carol"); err != nil { // any write: the upgrade
			t.Fatal(err)
		}
		for i := range want {
			if want[i].Name == "carol" {
				want[i].Status = StatusActive
			}
		}
		return dir, id, kr, oldMeta, oldIndex, want, &testVault{Vault: v, kr: kr, clock: newClock()}
	}
	alice := func(want []fixtureAccount) Account {
		for _, w := range want {
			if w.Name == "alice" {
				return Account{Name: w.Name, ID: w.ID, Revision: w.Revision}
			}
		}
		panic("no alice")
	}

	t.Run("old vault.json, forged account", func(t *testing.T) {
		dir, id, _, oldMeta, _, want, tv := setup(t)
		os.WriteFile(filepath.Join(dir, metaName), oldMeta, 0o600)
		forgeAccount(t, tv, alice(want), 100)
		// The index is authenticated: whatever vault.json says, every
		// file must be.
		w, _ := Open(Options{Dir: dir, Identity: id})
		if _, err := w.Export("alice", 0, false); !errors.Is(err, ErrCorrupt) {
			t.Errorf("forged alice: %v, want ErrCorrupt", err)
		}
		if got, err := w.Export("dave", 0, false); err != nil || got != want[3].Pyrogram {
			t.Errorf("dave: %v", err)
		}
	})
	t.Run("old vault.json and index, forged account, keyring", func(t *testing.T) {
		dir, _, kr, oldMeta, oldIndex, want, tv := setup(t)
		os.WriteFile(filepath.Join(dir, metaName), oldMeta, 0o600)
		os.WriteFile(filepath.Join(dir, indexName), oldIndex, 0o600)
		forgeAccount(t, tv, alice(want), 100)
		// The identity still in the keyring, or unlocked again after a
		// lock: the keyring's record of format 2 refuses format 1.
		for _, relock := range []bool{false, true} {
			w, _ := Open(Options{Dir: dir, Keyring: kr})
			if relock {
				if err := w.Lock(); err != nil {
					t.Fatal(err)
				}
				if err := w.Unlock(fixturePass(t), 0); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Export("alice", 0, false); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "rolled back") {
				t.Errorf("relock %v: forged alice: %v, want the rollback refused", relock, err)
			}
			if _, err := w.List(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("relock %v: List: %v", relock, err)
			}
		}
	})
	t.Run("old vault.json and index, forged account, identity only: residual", func(t *testing.T) {
		dir, id, _, oldMeta, oldIndex, want, tv := setup(t)
		os.WriteFile(filepath.Join(dir, metaName), oldMeta, 0o600)
		os.WriteFile(filepath.Join(dir, indexName), oldIndex, 0o600)
		forgeAccount(t, tv, alice(want), 100)
		// Nothing outside the directory says the vault was upgraded: the
		// replayed format-1 vault is served. SECURITY.md states this; a
		// rekey closes it (next case).
		w, _ := Open(Options{Dir: dir, Identity: id})
		if _, err := w.Export("alice", 0, false); err != nil {
			t.Errorf("the residual risk changed (update SECURITY.md): %v", err)
		}
		// A process that saw format 2 refuses it.
		w2, _ := Open(Options{Dir: dir, Identity: id})
		w2.strict.Store(true)
		if _, err := w2.Export("alice", 0, false); !errors.Is(err, ErrCorrupt) {
			t.Errorf("after format 2 was seen: %v", err)
		}
	})
	t.Run("old vault.json and index, forged account, anchors of the host", func(t *testing.T) {
		// The anchors outside the directory: the host's state file
		// (written by whoever saw format 2, however unlocked) and the
		// agent's entry beside the key. Each alone refuses the replay,
		// for every way a process unlocks.
		for _, tc := range []struct {
			name string
			// see is a process of the host before the downgrade; open one
			// after it.
			see, open func(t *testing.T, dir string, id *crypto.Identity) *Vault
		}{
			{"state file, identity", func(t *testing.T, dir string, id *crypto.Identity) *Vault {
				v, _ := Open(Options{Dir: dir, Identity: id, StateDir: filepath.Join(dir, "..", "state")})
				return v
			}, func(t *testing.T, dir string, id *crypto.Identity) *Vault {
				v, _ := Open(Options{Dir: dir, Identity: id, StateDir: filepath.Join(dir, "..", "state")})
				return v
			}},
			{"state file, passphrase", func(t *testing.T, dir string, id *crypto.Identity) *Vault {
				v, _ := Open(Options{Dir: dir, Passphrase: fixturePass(t), StateDir: filepath.Join(dir, "..", "state")})
				return v
			}, func(t *testing.T, dir string, id *crypto.Identity) *Vault {
				v, _ := Open(Options{Dir: dir, Passphrase: fixturePass(t), StateDir: filepath.Join(dir, "..", "state")})
				return v
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir, id, _, oldMeta, oldIndex, want, tv := setup(t)
				if _, err := tc.see(t, dir, id).List(); err != nil {
					t.Fatal(err)
				}
				if b, err := os.ReadFile(filepath.Join(dir, "..", "state", anchorDir, tv.ID())); err != nil || strings.TrimSpace(string(b)) != "2" {
					t.Fatalf("the host's anchor file: %q, %v", b, err)
				}
				os.WriteFile(filepath.Join(dir, metaName), oldMeta, 0o600)
				os.WriteFile(filepath.Join(dir, indexName), oldIndex, 0o600)
				forgeAccount(t, tv, alice(want), 100)
				if _, err := tc.open(t, dir, id).Export("alice", 0, false); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "rolled back") {
					t.Errorf("forged alice: %v, want the rollback refused", err)
				}
				// Another host, which never saw format 2: the residue.
				other, _ := Open(Options{Dir: dir, Identity: id, StateDir: t.TempDir()})
				if _, err := other.Export("alice", 0, false); err != nil {
					t.Errorf("the residual risk changed (update SECURITY.md): %v", err)
				}
			})
		}
		t.Run("agent", func(t *testing.T) {
			dir, id, _, oldMeta, oldIndex, want, tv := setup(t)
			agent := &fakeAgent{fakeKeyring: newFakeKeyring()}
			w, _ := Open(Options{Dir: dir, Agent: agent})
			if err := w.Unlock(fixturePass(t), time.Hour); err != nil {
				t.Fatal(err)
			}
			if s, err := agent.Get(KeyringService, tv.ID()+formatAnchorSuffix); err != nil || s != "2" {
				t.Fatalf("the agent's anchor: %q, %v", s, err)
			}
			os.WriteFile(filepath.Join(dir, metaName), oldMeta, 0o600)
			os.WriteFile(filepath.Join(dir, indexName), oldIndex, 0o600)
			forgeAccount(t, tv, alice(want), 100)
			// Through the agent, and in a process of its own on the host
			// (the agent answers it too).
			for _, o := range []Options{{Dir: dir, Agent: agent}, {Dir: dir, Identity: id, Agent: agent}} {
				v, _ := Open(o)
				if _, err := v.Export("alice", 0, false); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "rolled back") {
					t.Errorf("forged alice (identity %v): %v, want the rollback refused", o.Identity != nil, err)
				}
			}
			// Lock takes the agent's anchor with the key (the agent exits
			// holding nothing); the host's file is what lasts.
			if err := w.Lock(); err != nil {
				t.Fatal(err)
			}
			if agent.Len() != 0 {
				t.Errorf("the agent holds %d entries after Lock", agent.Len())
			}
		})
	})
	t.Run("after a rekey the old vault.json no longer verifies", func(t *testing.T) {
		dir, _, kr, oldMeta, oldIndex, want, tv := setup(t)
		if err := tv.Rekey(fixturePass(t)); err != nil {
			t.Fatal(err)
		}
		newText, _ := kr.secret(tv.ID())
		newID, _ := crypto.ParseIdentity(newText)
		os.WriteFile(filepath.Join(dir, metaName), oldMeta, 0o600)
		os.WriteFile(filepath.Join(dir, indexName), oldIndex, 0o600)
		forgeAccount(t, tv, alice(want), 100)
		w, _ := Open(Options{Dir: dir, Identity: newID})
		if _, err := w.Export("alice", 0, false); err == nil {
			t.Error("a replayed format-1 vault served after a rekey")
		}
	})
}

// TestForgedRekeyState: a slots/rekey.age that the vault key cannot open,
// or did not authenticate, is never resumed from: Rekey and writes are
// refused with ErrCorrupt and a way out, reads go on, Doctor names it, and
// once it is removed a rekey works.
func TestForgedRekeyState(t *testing.T) {
	stranger, _ := crypto.GenerateIdentity()
	attacker, _ := crypto.GenerateIdentity()
	tests := []struct {
		name  string
		plant func(t *testing.T, tv *testVault) []byte
	}{
		{"sealed to another key", func(t *testing.T, tv *testVault) []byte {
			b, _ := crypto.Seal([]byte(`{"identity":"`+stranger.Reveal()+`"}`), stranger.Recipient())
			return b
		}},
		{"sealed to the vault's public key, format 1 shape", func(t *testing.T, tv *testVault) []byte {
			st, _ := tv.unlock()
			b, _ := crypto.Seal([]byte(`{"identity":"`+attacker.Reveal()+`","mac":"00"}`), st.recipients()...)
			return b
		}},
		{"sealed to the vault's public key, format 2 shape, attacker's tag", func(t *testing.T, tv *testVault) []byte {
			// The attacker's own VaultSealer seals to the attacker's key:
			// a tag for the vault key needs the vault identity.
			s, _ := crypto.NewVaultSealer([]*crypto.Identity{attacker}, []*crypto.Identity{attacker})
			b, _ := tv.sealerFor(s, rekeyPath).Seal([]byte(`{"identity":"` + attacker.Reveal() + `","old":"` + attacker.Reveal() + `"}`))
			return b
		}},
		{"garbage", func(t *testing.T, tv *testVault) []byte { return []byte("not age") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tv, _ := threeAccounts(t)
			want, _ := tv.Export("a", 0, false)
			oldText, _ := tv.kr.secret(tv.ID())
			p := filepath.Join(tv.Dir(), slotsDir, rekeyName)
			if err := os.WriteFile(p, tc.plant(t, tv), 0o600); err != nil {
				t.Fatal(err)
			}
			err := tv.Rekey(testPass)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "remove slots/rekey.age") {
				t.Fatalf("Rekey = %v, want ErrCorrupt with a way out", err)
			}
			if now, _ := tv.kr.secret(tv.ID()); now != oldText {
				t.Fatal("the keyring's identity changed")
			}
			if _, err := tv.Import(vector(t, "pyrogram/session_string_v3.txt"), "", ImportOptions{Name: "new"}); !errors.Is(err, ErrCorrupt) {
				t.Errorf("a write: %v, want ErrCorrupt", err)
			}
			if got, err := tv.Export("a", 0, false); err != nil || got != want {
				t.Errorf("a read: %v", err)
			}
			var named bool
			for _, c := range tv.Doctor() {
				named = named || (c.Name == "rekey" && !c.OK && strings.Contains(c.Fix, rekeyName))
			}
			if !named {
				t.Error("Doctor does not name the planted state file")
			}
			os.Remove(p)
			if err := tv.Rekey(testPass); err != nil {
				t.Fatalf("Rekey after removing it: %v", err)
			}
			if now, _ := tv.kr.secret(tv.ID()); now == oldText {
				t.Error("no new key")
			}
			if got, err := tv.Export("a", 0, false); err != nil || got != want {
				t.Errorf("after the rekey: %v", err)
			}
		})
	}
}

// TestRekeyResumesFormat1State: a rekey that tgvault before
// authentication started (its state file sealed to the old key with the
// old key's MAC) is finished by this version.
func TestRekeyResumesFormat1State(t *testing.T) {
	dir, id, want := format1(t)
	next, _ := crypto.GenerateIdentity()
	state, _ := json.Marshal(rekeyState{Identity: next.Reveal(), MAC: mac(macKey(id, rekeyMACTag), next.Recipient().String())})
	sealed, _ := crypto.Seal(state, id.Recipient())
	if err := os.WriteFile(filepath.Join(dir, slotsDir, rekeyName), sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	v, _ := Open(Options{Dir: dir, Identity: id})
	if err := v.Rename("alice", "x"); !errors.Is(err, ErrRekeyPending) {
		t.Fatalf("a write during the old rekey: %v", err)
	}
	if err := v.Rekey(fixturePass(t)); err != nil {
		t.Fatal(err)
	}
	w, _ := Open(Options{Dir: dir, Identity: next})
	checkAccounts(t, "after the rekey", w, want)
	if auth, all := authenticatedFiles(t, dir); auth != all || w.Format() != formatV2 {
		t.Errorf("%d of %d files authenticated, format %d", auth, all, w.Format())
	}
}

// TestRekeyRemovesTempFiles: temp files of interrupted writes, sealed to
// the old key, are gone after a rekey; before it Doctor reports them.
func TestRekeyRemovesTempFiles(t *testing.T) {
	tv, accts := threeAccounts(t)
	oldText, _ := tv.kr.secret(tv.ID())
	oldID, _ := crypto.ParseIdentity(oldText)
	b, _ := os.ReadFile(tv.file(accts["a"].ID))
	temps := []string{
		filepath.Join(tv.Dir(), accountsDir, "."+accts["a"].ID+accountExt+".tmp-00112233"),
		filepath.Join(tv.Dir(), ".index.age.tmp-44556677"),
	}
	for _, p := range temps {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var reported bool
	for _, c := range tv.Doctor() {
		reported = reported || (c.Name == "temp files" && !c.OK)
	}
	if !reported {
		t.Fatal("Doctor does not report the temp files")
	}
	if err := tv.Rekey(testPass); err != nil {
		t.Fatal(err)
	}
	for _, p := range temps {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s survived the rekey", p)
		}
	}
	// Nothing in the directory opens with the old key any more.
	filepath.Walk(tv.Dir(), func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		data, _ := os.ReadFile(p)
		if _, err := crypto.Open(data, oldID); err == nil {
			t.Errorf("the old key opens %s", p)
		}
		return nil
	})
	// A leftover sealed to a key this vault no longer uses: Doctor says so.
	if err := os.WriteFile(temps[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	var stale bool
	for _, c := range tv.Doctor() {
		stale = stale || (c.Name == "temp files" && !c.OK && strings.Contains(c.Detail, "no longer uses"))
	}
	if !stale {
		t.Error("Doctor does not say the temp file is sealed to an old key")
	}
}
