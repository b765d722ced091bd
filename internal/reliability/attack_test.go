//go:build unix

package reliability

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/storage/foreign"
	"github.com/tgvault/tgvault/vault"
)

// The attacker of issue 13: they can read and write the vault directory
// but do not hold the vault identity. Everything they can make is sealed
// with age to the public key vault.json lists; nothing of it may be
// served, and nothing the user has may be lost. Each case runs the real
// binary and checks the documented exit code and --json kind, that
// nothing was served (export, show, run), and that the other accounts
// still work. SECURITY.md's attack table names these tests.

// publicOf reads what anyone who can read the directory knows: the vault
// id and the public key, from vault.json.
func publicOf(t *testing.T, v *tv) (vaultID string, pub *crypto.Recipient) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(v.dir, "vault.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		VaultID    string   `json:"vault_id"`
		Recipients []string `json:"recipients"`
	}
	if err := json.Unmarshal(b, &m); err != nil || len(m.Recipients) == 0 {
		t.Fatalf("vault.json: %v", err)
	}
	pub, err = crypto.ParseRecipient(m.Recipients[0])
	if err != nil {
		t.Fatal(err)
	}
	return m.VaultID, pub
}

// forgeAccountFile seals, in account id's place, an image of the session
// in the attacker's .session file, bound to this vault and account at
// revision rev, sealed to the vault's public key.
func forgeAccountFile(t *testing.T, v *tv, id, attackerSession string, rev uint64) {
	t.Helper()
	vaultID, pub := publicOf(t, v)
	fg, err := foreign.ReadFile(attackerSession)
	if err != nil {
		t.Fatal(err)
	}
	s := fg.Session
	snap := &storage.Snapshot{
		Session: storage.SessionRow{DCID: s.DCID, APIID: s.APIID, TestMode: s.TestMode, AuthKey: s.AuthKey, UserID: s.UserID, IsBot: s.IsBot, Date: fg.Date},
		Peers:   fg.Peers,
		Meta:    map[string][]byte{"tgvault.server": []byte("203.0.113.7:443")},
	}
	attacker, _ := crypto.GenerateIdentity()
	sealer, err := crypto.NewSealer([]*crypto.Identity{attacker}, []*crypto.Recipient{pub})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(v.dir, "accounts", id+".age")
	tmp := filepath.Join(root, "src", "forged-"+randHex(6)+".age")
	f, err := storage.CreateFile(tmp, sealer, storage.Binding{VaultID: vaultID, AccountID: id, Revision: rev}, snap, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	b, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// refused checks a command that must be refused: exit code, --json kind,
// nothing on stdout, no panic.
func refused(t *testing.T, what string, r result, code int, kind string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, `"kind":"`+kind+`"`) || r.stdout != "" || strings.Contains(r.stderr, "panic") {
		t.Errorf("%s: exit %d, stdout %q, stderr %s; want exit %d, kind %s, nothing on stdout", what, r.code, r.stdout, firstLine(r.stderr), code, kind)
	}
}

// importRefused checks an import that must be refused: exit code and
// kind, and a summary (stdout) that imported nothing.
func importRefused(t *testing.T, r result, code int, kind string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, `"kind":"`+kind+`"`) || !strings.Contains(r.stdout, `"imported": 0`) {
		t.Errorf("import: exit %d, stdout %q, stderr %s; want exit %d, kind %s, nothing imported", r.code, r.stdout, firstLine(r.stderr), code, kind)
	}
}

// othersIntact checks that every account of want but skip exports as it
// was.
func othersIntact(t *testing.T, v *tv, want map[string]string, skip ...string) {
	t.Helper()
	for name, s := range want {
		if contains(skip, name) {
			continue
		}
		got, r := v.export(name)
		if r.code != 0 || got != s {
			t.Errorf("account %s lost: export exit %d: %s", name, r.code, firstLine(r.stderr))
		}
	}
}

// servedNames lists the accounts a run serves, once the others are ready.
func servedNames(t *testing.T, p *runProc, ready int) []string {
	t.Helper()
	if err := p.waitReady(ready, time.Minute); err != nil {
		t.Fatalf("run: %v", err)
	}
	r := apiCall(p.client, "GET", "/v1/accounts", nil)
	var as []struct {
		Name string `json:"name"`
	}
	if r.code != 200 || json.Unmarshal(r.body, &as) != nil {
		t.Fatalf("GET /v1/accounts: %v", r)
	}
	var names []string
	for _, a := range as {
		names = append(names, a.Name)
	}
	return names
}

// TestAttackForgedAccountFile: an account file sealed by the attacker
// (their own session, bound to this vault and account, revision far ahead
// of the index) is refused: export and doctor say corrupt (exit 7), show
// keeps the index's data, run does not connect it, the others work.
func TestAttackForgedAccountFile(t *testing.T) {
	d := startDevServer(t, 4)
	names := d.seedNames()
	v, want := runVault(t, "attack-acct", d, 3)
	victim, attackerSeed := names[0], names[3]
	d.seedKey(t, attackerSeed)
	accts, _ := v.list()
	var id string
	var before vault.Account
	for _, a := range accts {
		if a.Name == victim {
			id, before = a.ID, a
		}
	}
	forgeAccountFile(t, v, id, filepath.Join(d.seeds, attackerSeed+".session"), before.Revision+100)

	refused(t, "export of the forged account", v.run(nil, "export", victim, "--json"), 7, "corrupt")
	r := v.run(nil, "export", victim, "--to", "age1zj0y0n0msvr8z3p37agkg80hxq53x8qrzrlsd0r8pfspdkmv2yese4djge", "--json")
	refused(t, "sealed export of the forged account", r, 7, "corrupt")
	r = v.run(nil, "show", victim, "--json")
	var shown vault.Account
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &shown) != nil || shown.UserID != before.UserID || shown.Revision != before.Revision {
		t.Errorf("show serves something else than the index's entry: exit %d: %s", r.code, r.stdout)
	}
	if shown.Status != vault.StatusBroken {
		t.Errorf("show: status %q after a refused open, want broken", shown.Status)
	}
	if failed, _ := v.doctor(); !contains(failed, "account "+victim) {
		t.Errorf("doctor does not fail the forged file: %v", failed)
	}
	p := v.startRun(t, d, sockPath())
	served := servedNames(t, p, 2)
	if contains(served, victim) || len(served) != 2 {
		t.Errorf("run serves %v, want the two others only", served)
	}
	if res := p.stop(); res.code != 0 {
		t.Errorf("run: exit %d", res.code)
	}
	othersIntact(t, v, want, victim)
}

// TestAttackForgedIndex: an index.age sealed by the attacker (the real
// index's content, re-sealed to the public key with one account renamed)
// is refused by every command that reads it (exit 7), run does not start,
// no account file is touched, and the real index put back serves
// everything.
func TestAttackForgedIndex(t *testing.T) {
	d := startDevServer(t, 2)
	v, want := runVault(t, "attack-index", d, 2)
	_, pub := publicOf(t, v)
	id, err := v.keyringIdentity()
	if err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(v.dir, "index.age")
	genuine, _ := os.ReadFile(idx)
	// The test reads the real index to give the attacker its content:
	// stronger than any real attacker, who cannot read it.
	plain, err := crypto.Open(genuine, id)
	if err != nil {
		t.Fatal(err)
	}
	victim := d.seedNames()[0]
	forgedPlain := []byte(strings.Replace(string(plain), victim, "evil"+victim[4:], 1))
	forged, err := crypto.Seal(forgedPlain, pub)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, filepath.Join(v.dir, "accounts"))
	if err := os.WriteFile(idx, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, "list", v.run(nil, "list", "--json"), 7, "corrupt")
	refused(t, "export", v.run(nil, "export", victim, "--json"), 7, "corrupt")
	refused(t, "show", v.run(nil, "show", "evil"+victim[4:], "--json"), 7, "corrupt")
	importRefused(t, v.run(nil, "import", "--json", filepath.Join(d.seeds, d.seedNames()[1]+".session"), "--name", "x"), 7, "corrupt")
	// A run that serves is killed after a while (and fails the check).
	rr := v.runKilled(30*time.Second, nil, "run", "--socket", sockPath(), "--server", d.addr, "--server-key", d.pub, "--json")
	refused(t, "run", rr, 7, "corrupt")
	if failed, _ := v.doctor(); !contains(failed, "index") {
		t.Errorf("doctor does not fail the index: %v", failed)
	}
	if after := snapshotFiles(t, filepath.Join(v.dir, "accounts")); !sameSnapshot(before, after) {
		t.Error("account files changed under a forged index")
	}
	if err := os.WriteFile(idx, genuine, 0o600); err != nil {
		t.Fatal(err)
	}
	othersIntact(t, v, want)
}

// TestAttackPlantedRekeySlot: a slots/rekey.age the vault key cannot open
// (or did not authenticate) is never taken as "the slot already holds the
// new key": rekey is refused (exit 7) with a way out, the key does not
// change, writes are refused, reads go on, doctor names it; removed, the
// rekey works.
func TestAttackPlantedRekeySlot(t *testing.T) {
	stranger, _ := crypto.GenerateIdentity()
	for _, c := range []struct {
		name string
		make func(t *testing.T, v *tv) []byte
	}{
		{"sealed to another key", func(t *testing.T, v *tv) []byte {
			b, _ := crypto.Seal([]byte(`{"identity":"`+stranger.Reveal()+`"}`), stranger.Recipient())
			return b
		}},
		{"sealed to the vault's public key", func(t *testing.T, v *tv) []byte {
			_, pub := publicOf(t, v)
			b, _ := crypto.Seal([]byte(`{"identity":"`+stranger.Reveal()+`","old":"`+stranger.Reveal()+`","mac":"00"}`), pub)
			return b
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := newVault(t, "attack-rekey")
			dir, want := writeSources(t, "ar", 2)
			v.mustImport(dir)
			oldID, _ := v.keyringIdentity()
			slot := filepath.Join(v.dir, "slots", "rekey.age")
			if err := os.WriteFile(slot, c.make(t, v), 0o600); err != nil {
				t.Fatal(err)
			}
			pass := "TGVAULT_PASSPHRASE_FILE=" + v.pass
			r := v.run([]string{pass}, "rekey", "--json")
			refused(t, "rekey", r, 7, "corrupt")
			if !strings.Contains(r.stderr, "remove slots/rekey.age") {
				t.Errorf("rekey gives no way out: %s", firstLine(r.stderr))
			}
			if now, _ := v.keyringIdentity(); now.Reveal() != oldID.Reveal() {
				t.Error("the vault key changed")
			}
			d2, _ := writeSources(t, "ar2", 1)
			importRefused(t, v.run(nil, "import", "--json", d2), 7, "corrupt")
			othersIntact(t, v, want)
			if failed, _ := v.doctor(); !contains(failed, "rekey") {
				t.Errorf("doctor does not fail the planted slot: %v", failed)
			}
			if err := os.Remove(slot); err != nil {
				t.Fatal(err)
			}
			if r := v.run([]string{pass}, "rekey"); r.code != 0 {
				t.Fatalf("rekey after removing the slot: exit %d: %s", r.code, r.stderr)
			}
			if now, _ := v.keyringIdentity(); now.Reveal() == oldID.Reveal() {
				t.Error("no new key after the rekey")
			}
			othersIntact(t, v, want)
		})
	}
}

// TestAttackForgedVaultJSON: vault.json's recipients replaced with the
// attacker's key: nothing unlocked runs (exit 7), `recipient` does not
// print the attacker's key, run does not start, nothing is sealed to it;
// the real vault.json put back serves everything.
func TestAttackForgedVaultJSON(t *testing.T) {
	d := startDevServer(t, 1)
	v := newVault(t, "attack-meta")
	dir, want := writeSources(t, "am", 2)
	v.mustImport(dir)
	attacker, _ := crypto.GenerateIdentity()
	p := filepath.Join(v.dir, "vault.json")
	genuine, _ := os.ReadFile(p)
	for _, edit := range []struct {
		name string
		fn   func(m map[string]any)
	}{
		{"replaced", func(m map[string]any) { m["recipients"] = []string{attacker.Recipient().String()} }},
		{"added", func(m map[string]any) {
			m["recipients"] = append(m["recipients"].([]any), attacker.Recipient().String())
		}},
	} {
		t.Run(edit.name, func(t *testing.T) {
			c := map[string]any{}
			_ = json.Unmarshal(genuine, &c)
			edit.fn(c)
			b, _ := json.MarshalIndent(c, "", "  ")
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			d2, _ := writeSources(t, "am2", 1)
			importRefused(t, v.run(nil, "import", "--json", d2), 7, "corrupt")
			refused(t, "recipient", v.run(nil, "recipient", "--json"), 7, "corrupt")
			for name := range want {
				refused(t, "export", v.run(nil, "export", name, "--json"), 7, "corrupt")
			}
			refused(t, "run", v.runKilled(30*time.Second, nil, "run", "--socket", sockPath(), "--server", d.addr, "--server-key", d.pub, "--json"), 7, "corrupt")
			if failed, _ := v.doctor(); !contains(failed, "vault.json") {
				t.Errorf("doctor does not fail vault.json: %v", failed)
			}
			for _, f := range append(mustGlob(filepath.Join(v.dir, "accounts", "*.age")), filepath.Join(v.dir, "index.age")) {
				b, _ := os.ReadFile(f)
				if _, err := crypto.Open(b, attacker); err == nil {
					t.Errorf("%s opens with the attacker's key", f)
				}
			}
			if err := os.WriteFile(p, genuine, 0o600); err != nil {
				t.Fatal(err)
			}
			othersIntact(t, v, want)
		})
	}
}

// TestAttackTempFilesAcrossRekey: temp files of interrupted writes (a
// killed import's account file, an index write) are sealed to the key of
// their day; doctor reports them, rekey removes them, and afterwards the
// old key opens nothing in the directory.
func TestAttackTempFilesAcrossRekey(t *testing.T) {
	v := newVault(t, "attack-temp")
	dir, want := writeSources(t, "at", 2)
	v.mustImport(dir)
	oldID, _ := v.keyringIdentity()
	accts, _ := v.list()
	acct := filepath.Join(v.dir, "accounts", accts[0].ID+".age")
	b, _ := os.ReadFile(acct)
	idxb, _ := os.ReadFile(filepath.Join(v.dir, "index.age"))
	// What a write killed between its temp file and the rename leaves.
	temps := map[string][]byte{
		filepath.Join(v.dir, "accounts", "."+randHex(16)+".age.tmp-"+randHex(8)): b,
		filepath.Join(v.dir, ".index.age.tmp-"+randHex(8)):                       idxb,
	}
	for p, data := range temps {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if failed, _ := v.doctor(); !contains(failed, "temp files") {
		t.Errorf("doctor calls the temp files fine: %v", failed)
	}
	if r := v.run([]string{"TGVAULT_PASSPHRASE_FILE=" + v.pass}, "rekey"); r.code != 0 {
		t.Fatalf("rekey: exit %d: %s", r.code, r.stderr)
	}
	if left := tempFiles(v.dir); len(left) > 0 {
		t.Errorf("temp files survived the rekey: %v", left)
	}
	_ = filepath.WalkDir(v.dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		data, _ := os.ReadFile(p)
		if _, err := crypto.Open(data, oldID); err == nil {
			t.Errorf("the old key opens %s after the rekey", p)
		}
		return nil
	})
	if failed, _ := v.doctor(); len(failed) > 0 {
		t.Errorf("doctor after the rekey: %v", failed)
	}
	othersIntact(t, v, want)
}

// snapshotFiles reads every file under dir.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			m[p] = string(b)
		}
		return nil
	})
	return m
}

func sameSnapshot(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestAttackDowngradeAfterUpgrade: a vault that tgvault before file
// authentication wrote (testdata/vault-format1) is read by the binary and
// upgraded by its next write; then the attacker puts back the old
// vault.json and index (kept from before the upgrade) and an account file
// of their own in format 1: the keyring's record of format 2 refuses it
// (exit 7), through the keyring and through an identity file alike, and
// with no keyring entry the host's state file refuses it to a passphrase.
func TestAttackDowngradeAfterUpgrade(t *testing.T) {
	fixture := "../../testdata/vault-format1"
	v := &tv{t: t, name: "attack-downgrade"}
	v.dir = filepath.Join(root, "vaults", "downgrade-"+randHex(4))
	v.kr = filepath.Join(root, "kr", "downgrade-"+randHex(4))
	copyTree(t, filepath.Join(fixture, "vault"), v.dir)
	// git keeps no modes but the executable bit: give the copy the ones
	// tgvault wrote (0700 directories, 0600 files).
	_ = filepath.WalkDir(v.dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return os.Chmod(p, 0o700)
		}
		return os.Chmod(p, 0o600)
	})
	idText, err := os.ReadFile(filepath.Join(fixture, "identity.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := crypto.ParseIdentities(strings.NewReader(string(idText)))
	if err != nil {
		t.Fatal(err)
	}
	vaultID, _ := publicOf(t, v)
	if err := os.MkdirAll(v.kr, 0o700); err != nil {
		t.Fatal(err)
	}
	krFile := filepath.Join(v.kr, hex.EncodeToString([]byte(vault.KeyringService))+"-"+hex.EncodeToString([]byte(vaultID)))
	if err := os.WriteFile(krFile, []byte(ids[0].Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	var want []struct {
		Name     string `json:"name"`
		ID       string `json:"id"`
		Status   string `json:"status"`
		Pyrogram string `json:"pyrogram"`
	}
	b, _ := os.ReadFile(filepath.Join(fixture, "want.json"))
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	exportAll := func(label string) {
		t.Helper()
		for _, w := range want {
			got, r := v.export(w.Name)
			if w.Status == "handed_off" {
				if r.code != 5 {
					t.Errorf("%s: export of handed-off %s: exit %d", label, w.Name, r.code)
				}
				continue
			}
			if r.code != 0 || got != w.Pyrogram {
				t.Errorf("%s: export %s: exit %d: %s", label, w.Name, r.code, firstLine(r.stderr))
			}
		}
	}
	oldMeta, _ := os.ReadFile(filepath.Join(v.dir, "vault.json"))
	oldIndex, _ := os.ReadFile(filepath.Join(v.dir, "index.age"))
	exportAll("format 1")
	if failed, _ := v.doctor(); !contains(failed, "vault.json") {
		t.Errorf("doctor does not report format 1: %v", failed)
	}
	if r := v.run(nil, "rename", "bob", "bob2"); r.code != 0 {
		t.Fatalf("rename (the upgrading write): exit %d: %s", r.code, r.stderr)
	}
	if r := v.run(nil, "rename", "bob2", "bob"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if failed, _ := v.doctor(); len(failed) > 0 {
		t.Errorf("doctor after the upgrade: %v", failed)
	}
	exportAll("format 2")

	// The downgrade.
	if err := os.WriteFile(filepath.Join(v.dir, "vault.json"), oldMeta, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.dir, "index.age"), oldIndex, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDevServer(t, 1)
	seed := d.seedNames()[0]
	d.seedKey(t, seed)
	forgeAccountFile(t, v, want[0].ID, filepath.Join(d.seeds, seed+".session"), 100)
	refused(t, "export after the downgrade (keyring)", v.run(nil, "export", want[0].Name, "--json"), 7, "corrupt")
	refused(t, "list after the downgrade (keyring)", v.run(nil, "list", "--json"), 7, "corrupt")
	idFile := v.identityFile()
	refused(t, "export after the downgrade (identity file)", v.run([]string{"TGVAULT_IDENTITY=" + idFile}, "export", want[0].Name, "--json"), 7, "corrupt")
	// With no keyring at all (its entry gone, as on a host without one):
	// the host's state file, written by the commands above, refuses the
	// replay to a passphrase.
	passFile := filepath.Join(root, "src", "pass-"+randHex(6))
	pass, err := os.ReadFile(filepath.Join(fixture, "passphrase.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passFile, pass, 0o600); err != nil {
		t.Fatal(err)
	}
	kr := v.kr
	v.kr = filepath.Join(root, "kr", "empty-"+randHex(4))
	refused(t, "export after the downgrade (passphrase file, no keyring)", v.run([]string{"TGVAULT_PASSPHRASE_FILE=" + passFile}, "export", want[0].Name, "--json"), 7, "corrupt")
	v.kr = kr
}
