package vault

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
)

// TestOneKeyOneAccount: every way a key can come in twice is refused,
// naming the account that has it, before anything is written.
func TestOneKeyOneAccount(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.ImportFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"), ImportOptions{Name: "p"}); err != nil {
		t.Fatal(err)
	}
	files := func() int {
		ents, _ := os.ReadDir(filepath.Join(tv.Dir(), accountsDir))
		return len(ents)
	}
	n0 := files()
	check := func(what string, err error) {
		t.Helper()
		var de *DuplicateKeyError
		if !errors.As(err, &de) || de.Account != "p" || de.KeyID != "32d1586ea457dfc8" {
			t.Errorf("%s: %v, want a *DuplicateKeyError naming p", what, err)
		}
		if !strings.Contains(err.Error(), `"p"`) {
			t.Errorf("%s: the message does not name the account: %v", what, err)
		}
		if files() != n0 {
			t.Errorf("%s: an account file was written", what)
		}
	}
	// The same session in other formats.
	for _, v := range []string{"pyrogram/session_string_v3.txt", "telethon/string_session.txt", "gotd/session_from_telethon.json", "telethon/telethon.session"} {
		_, err := tv.ImportFile(filepath.Join(vectors, v), ImportOptions{})
		check(v, err)
	}
	// import --name of the account already there: the key is taken (not
	// the name).
	_, err := tv.ImportFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"), ImportOptions{Name: "p"})
	check("--name of the same account", err)
	if errors.Is(err, ErrNameTaken) {
		t.Error("a key taken is reported as a name taken")
	}
	// The same sealed hand-off twice (here: a hand-off of p into its own
	// vault).
	st, _ := tv.unlock()
	sealed, err := tv.ExportSealed("p", SealedExportOptions{To: st.recipients()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tv.Import([]byte(sealed), "", ImportOptions{})
	check("a hand-off of a key in the vault", err)
	// tdata: all or none.
	k, _ := sessionstring.NewAuthKey(vectorKey())
	ss := []sessionstring.Session{
		{DCID: 2, AuthKey: variantKey(t, 1), UserID: sessionstring.Some[int64](1)},
		{DCID: 2, AuthKey: k, UserID: sessionstring.Some[int64](2)},
	}
	_, err = tv.ImportSessions(ss, "tdesktop", "", ImportOptions{})
	check("tdata holding a key in the vault", err)
	if l, _ := tv.List(); len(l) != 1 {
		t.Errorf("tdata: %d accounts after a refused import, want 1 (all or none)", len(l))
	}
	// --skip-existing: the one in the vault is reported, the other comes in.
	rs, err := tv.ImportSessions(ss, "tdesktop", "", ImportOptions{SkipExisting: true})
	if err != nil || len(rs) != 2 || rs[0].Account.Name != "user1" || rs[1].Existing != "p" {
		t.Fatalf("tdata with SkipExisting: %+v, %v", rs, err)
	}
	// The same key twice in one tdata import.
	_, err = tv.ImportSessions([]sessionstring.Session{
		{DCID: 2, AuthKey: variantKey(t, 7), UserID: sessionstring.Some[int64](7)},
		{DCID: 2, AuthKey: variantKey(t, 7), UserID: sessionstring.Some[int64](8)},
	}, "tdesktop", "", ImportOptions{})
	var de *DuplicateKeyError
	if !errors.As(err, &de) || de.Account != "user7" {
		t.Errorf("a key twice in one tdata: %v", err)
	}
	// login (CreateAccount): in create_test.go. Replace keeps the name,
	// drops the old file.
	old, _ := tv.Show("p")
	r, err := tv.ImportFile(filepath.Join(vectors, "telethon/telethon.session"), ImportOptions{Replace: true})
	if err != nil || r.Account.Name != "p" || r.Replaced != "p" || r.Account.Source != "telethon-v7" {
		t.Fatalf("Replace: %+v, %v", r, err)
	}
	if _, err := os.Stat(tv.file(old.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the replaced account's file is still there: %v", err)
	}
	if l, _ := tv.List(); len(l) != 2 {
		t.Errorf("%d accounts after Replace, want 2", len(l))
	}
	for _, c := range tv.Doctor() {
		if c.Name == "duplicates" || c.Name == "orphans" {
			t.Errorf("doctor: %+v", c)
		}
	}
}

// TestHandOffCarriesName: the receiver keeps the sender's name unless
// told another; a clash is a clear error; an old string without a name
// still imports.
func TestHandOffCarriesName(t *testing.T) {
	src, dst := newTestVault(t), newTestVault(t)
	if _, err := src.ImportFile(variantFile(t, 1), ImportOptions{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	to, _ := dst.Recipient()
	r, _ := crypto.ParseRecipient(to)
	sealed, err := src.ExportSealed("alice", SealedExportOptions{To: []*crypto.Recipient{r}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := dst.Import([]byte(sealed), "", ImportOptions{})
	if err != nil || rep.Account.Name != "alice" {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	// Twice: the key is there.
	var de *DuplicateKeyError
	if _, err := dst.Import([]byte(sealed), "", ImportOptions{}); !errors.As(err, &de) || de.Account != "alice" {
		t.Errorf("the same hand-off twice: %v", err)
	}
	if err := dst.Remove("alice"); err != nil {
		t.Fatal(err)
	}
	// The name is taken by another account: a clear error naming --name.
	if _, err := dst.ImportFile(variantFile(t, 2), ImportOptions{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	_, err = dst.Import([]byte(sealed), "", ImportOptions{})
	if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), "--name") || !strings.Contains(err.Error(), "alice") {
		t.Errorf("name clash: %v", err)
	}
	if rep, err := dst.Import([]byte(sealed), "", ImportOptions{Name: "alice2"}); err != nil || rep.Account.Name != "alice2" {
		t.Errorf("--name on a clash: %+v, %v", rep, err)
	}
	// A string made before names travelled: no name, named as before.
	d, _ := sessionstring.Decode(string(variantString(t, 3)))
	plain, err := marshalEnvelope(&envelope{Session: d.Session})
	if err != nil {
		t.Fatal(err)
	}
	if plain[5]&1 != 0 || len(plain) != 5+4+4+8+256 {
		t.Fatalf("an envelope without a name is not the old layout (%d bytes)", len(plain))
	}
	old, _ := crypto.SealText(plain, r)
	if rep, err := dst.Import([]byte(old), "", ImportOptions{}); err != nil || rep.Account.Name != "user123456789" {
		t.Errorf("an old string: %+v, %v", rep, err)
	}
}

// TestIndexUpgrade opens a vault made before key ids and file states
// (testdata/vault-v1-handoff): it reads as it was; the first write
// records every key id, writes the hand-off into the moved account's
// file, and doctor lists the two accounts that share a key.
func TestIndexUpgrade(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vault")
	if err := copyDir(filepath.Join("testdata", "vault-v1-handoff", "vault"), dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "vault-v1-handoff", "identity.txt"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := crypto.ParseIdentity(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(Options{Dir: dir, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	list, err := v.List()
	if err != nil || len(list) != 3 {
		t.Fatalf("List of the old vault: %v, %v", list, err)
	}
	oldIndex, _ := os.ReadFile(filepath.Join(dir, indexName))
	var dups bool
	for _, c := range v.Doctor() {
		dups = dups || (c.Name == "duplicates" && !c.OK && strings.Contains(c.Detail, `"alpha" "beta"`))
	}
	if !dups {
		t.Error("doctor does not list alpha and beta as sharing a key")
	}
	// The first write upgrades.
	if err := v.Rename("alpha", "alpha1"); err != nil {
		t.Fatal(err)
	}
	list, _ = v.List()
	for _, a := range list {
		if a.KeyID == "" {
			t.Errorf("%s: no key id after the upgrade", a.Name)
		}
	}
	// The same key again is refused now.
	s := append([]byte(nil), vectorKey()...)
	s[255] ^= 0x41
	k, _ := sessionstring.NewAuthKey(s)
	str, err := sessionstring.Encode(sessionstring.Pyrogram, sessionstring.Session{DCID: 2, AuthKey: k, APIID: sessionstring.Some[int32](1),
		TestMode: sessionstring.Some(false), UserID: sessionstring.Some[int64](5), IsBot: sessionstring.Some(false)})
	if err != nil {
		t.Fatal(err)
	}
	var de *DuplicateKeyError
	if _, err := v.Import([]byte(str), "", ImportOptions{Name: "gamma"}); !errors.As(err, &de) || (de.Account != "alpha1" && de.Account != "beta") {
		t.Errorf("the shared key again after the upgrade: %v", err)
	}
	// moved's hand-off is in its file now: an index from before the
	// upgrade, rolled back and reclaimed in the index only, revives
	// nothing. (Reclaim writes the file, so this is the index an
	// attacker would make: here, the old one with the status patched.)
	x, err := unmarshalIndexSealed(v, oldIndex)
	if err != nil {
		t.Fatal(err)
	}
	for i := range x.Accounts {
		x.Accounts[i].Status = StatusActive
	}
	st, _ := v.unlock()
	if err := v.saveIndex(st, x); err != nil {
		t.Fatal(err)
	}
	list, _ = v.List()
	files, errs, err := v.OpenAccounts(list, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range list {
		if a.Name == "moved" && (files[i] != nil || !errors.Is(errs[i], ErrHandedOff)) {
			t.Errorf("moved after an index rollback: %v", errs[i])
		}
		if files[i] != nil {
			files[i].Close()
		}
	}
}

// unmarshalIndexSealed opens a sealed index with v's key.
func unmarshalIndexSealed(v *Vault, sealed []byte) (*index, error) {
	st, err := v.unlock()
	if err != nil {
		return nil, err
	}
	plain, err := crypto.Open(sealed, st.ids...)
	if err != nil {
		return nil, err
	}
	return unmarshalIndex(plain)
}
