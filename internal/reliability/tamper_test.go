package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

// ageLayout finds the regions of a binary age file.
type ageLayout struct {
	stanza     int // start of the first "-> " line
	stanzaArg  int // last byte of the first stanza line (before \n)
	stanzaBody int // first byte of the first stanza's body
	mac        int // first byte of the header MAC (after "--- ")
	hdrEnd     int // first byte of the payload (the nonce)
	size       int
}

func parseAge(t *testing.T, b []byte) ageLayout {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(ageMagic)) {
		t.Fatalf("not a binary age file")
	}
	var l ageLayout
	l.size = len(b)
	l.stanza = bytes.Index(b, []byte("\n-> ")) + 1
	nl := bytes.IndexByte(b[l.stanza:], '\n') + l.stanza
	l.stanzaArg = nl - 1
	l.stanzaBody = nl + 1
	m := bytes.Index(b, []byte("\n--- ")) + 1
	l.mac = m + 4
	l.hdrEnd = bytes.IndexByte(b[m:], '\n') + m + 1
	if l.stanza <= 0 || m <= 0 || l.hdrEnd+16 >= len(b) {
		t.Fatalf("unexpected age layout %+v", l)
	}
	return l
}

type mutation struct {
	region string
	apply  func(b []byte, l ageLayout) []byte
}

func flipAt(off func(l ageLayout) int) func(b []byte, l ageLayout) []byte {
	return func(b []byte, l ageLayout) []byte {
		c := bytes.Clone(b)
		c[off(l)] ^= 0x01
		return c
	}
}

var sealedMutations = []mutation{
	{"version line", flipAt(func(l ageLayout) int { return 4 })},
	{"stanza type", flipAt(func(l ageLayout) int { return l.stanza + 3 })},
	{"stanza argument", flipAt(func(l ageLayout) int { return l.stanzaArg })},
	{"stanza body", flipAt(func(l ageLayout) int { return l.stanzaBody })},
	{"header MAC", flipAt(func(l ageLayout) int { return l.mac + 5 })},
	{"payload nonce", flipAt(func(l ageLayout) int { return l.hdrEnd + 5 })},
	{"first chunk", flipAt(func(l ageLayout) int { return l.hdrEnd + 16 + 3 })},
	{"middle of the payload", flipAt(func(l ageLayout) int { return l.hdrEnd + 16 + (l.size-l.hdrEnd-16)/2 })},
	{"last chunk tag", flipAt(func(l ageLayout) int { return l.size - 1 })},
	{"truncated by 1", func(b []byte, l ageLayout) []byte { return bytes.Clone(b[:len(b)-1]) }},
	{"truncated by 17", func(b []byte, l ageLayout) []byte { return bytes.Clone(b[:len(b)-17]) }},
	{"truncated to the header", func(b []byte, l ageLayout) []byte { return bytes.Clone(b[:l.hdrEnd+16]) }},
	{"truncated mid-header", func(b []byte, l ageLayout) []byte { return bytes.Clone(b[:l.mac]) }},
	{"empty", func(b []byte, l ageLayout) []byte { return nil }},
	{"1 byte appended", func(b []byte, l ageLayout) []byte { return append(bytes.Clone(b), 0) }},
	{"64 KiB appended", func(b []byte, l ageLayout) []byte { return append(bytes.Clone(b), make([]byte, 65536)...) }},
}

// tamperFixture is a vault with three accounts (one of them the vectors'
// Pyrogram v3 file with its peers) and a pristine copy.
type tamperFixture struct {
	v        *tv
	pristine string
	want     map[string]string
	ids      map[string]string // name -> account id
}

func newTamperFixture(t *testing.T) *tamperFixture {
	v := newVault(t, "tamper")
	dir, want := writeSources(t, "tp", 2)
	v.mustImport(dir, "../../testdata/vectors/pyrogram/pyrogram_v3.session")
	vec, r := v.export("pyrogram_v3")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	want["pyrogram_v3"] = vec
	accts, _ := v.list()
	ids := map[string]string{}
	for _, a := range accts {
		ids[a.Name] = a.ID
	}
	f := &tamperFixture{v: v, want: want, ids: ids, pristine: v.dir + ".pristine"}
	copyTree(t, v.dir, f.pristine)
	return f
}

func (f *tamperFixture) reset(t *testing.T) { restoreTree(t, f.pristine, f.v.dir) }

func (f *tamperFixture) names() []string {
	var n []string
	for k := range f.want {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// tamperRow is one line of the tamper table.
type tamperRow struct {
	file, region string
	outcome      string // what the commands did
	detected     bool
	ok           bool // clear error, right code, no panic, others intact
}

func (r tamperRow) String() string {
	mark := "ok"
	if !r.ok {
		mark = "FAIL"
	}
	return fmt.Sprintf("%-4s | %s | %s | detected=%v | %s", mark, r.file, r.region, r.detected, r.outcome)
}

// expectFail checks a command that must fail on tampering: a non-zero
// documented exit code, a message, no output, no panic.
func expectFail(r result, codes ...int) (string, bool) {
	ok := r.stdout == "" && !strings.Contains(r.stderr, "panic") && strings.Contains(r.stderr, "tgvault:")
	match := false
	for _, c := range codes {
		if r.code == c {
			match = true
		}
	}
	return fmt.Sprintf("exit %d: %s", r.code, firstLine(r.stderr)), ok && match
}

func TestTamperSealedFiles(t *testing.T) {
	f := newTamperFixture(t)
	v := f.v
	target := "pyrogram_v3"
	others := []string{}
	for _, n := range f.names() {
		if n != target {
			others = append(others, n)
		}
	}
	files := []struct{ label, rel string }{
		{"account file", filepath.Join("accounts", f.ids[target]+".age")},
		{"index.age", "index.age"},
		{"slots/passphrase.age", filepath.Join("slots", "passphrase.age")},
	}
	passEnv := "TGVAULT_PASSPHRASE_FILE=" + v.pass
	var rows []tamperRow
	for _, file := range files {
		orig, err := os.ReadFile(filepath.Join(f.pristine, file.rel))
		if err != nil {
			t.Fatal(err)
		}
		l := parseAge(t, orig)
		for _, m := range sealedMutations {
			f.reset(t)
			if err := os.WriteFile(filepath.Join(v.dir, file.rel), m.apply(orig, l), 0o600); err != nil {
				t.Fatal(err)
			}
			row := tamperRow{file: file.label, region: m.region}
			// A damaged recipient stanza cannot be told from a stanza for
			// another key (age tries each identity on each stanza): it is
			// reported as the wrong key or passphrase (6), not corrupt (7).
			codes := []int{7}
			if strings.HasPrefix(m.region, "stanza") {
				codes = []int{6, 7}
			}
			switch file.label {
			case "account file":
				_, r := v.export(target)
				out, ok := expectFail(r, codes...)
				row.outcome, row.detected, row.ok = "export "+out, r.code != 0, ok
				for _, o := range others {
					got, r := v.export(o)
					if r.code != 0 || got != f.want[o] {
						row.ok = false
						row.outcome += "; OTHER ACCOUNT " + o + " broken"
					}
				}
				if failed, _ := v.doctor(); !contains(failed, "account "+target) {
					row.ok = false
					row.outcome += "; doctor does not name it"
				}
			case "index.age":
				_, r := v.list()
				out, ok := expectFail(r, codes...)
				_, r2 := v.export(others[0])
				out2, ok2 := expectFail(r2, codes...)
				row.outcome, row.detected, row.ok = "list "+out+"; export "+out2, r.code != 0, ok && ok2
			case "slots/passphrase.age":
				// The keyring does not need the slot; the passphrase does.
				_, rk := v.list()
				_, r := v.list(passEnv)
				out, ok := expectFail(r, codes...)
				row.outcome = "list (keyring) exit " + fmt.Sprint(rk.code) + "; list (passphrase) " + out
				row.detected, row.ok = r.code != 0, ok && rk.code == 0
			}
			if !row.ok {
				t.Errorf("tamper %s", row)
			}
			rows = append(rows, row)
		}
	}
	f.reset(t)
	for _, r := range rows {
		figures.add("tamper", "%s", r)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestTamperVaultJSON(t *testing.T) {
	f := newTamperFixture(t)
	v := f.v
	metaPath := filepath.Join(v.dir, "vault.json")
	orig, _ := os.ReadFile(metaPath)
	var meta map[string]any
	if err := json.Unmarshal(orig, &meta); err != nil {
		t.Fatal(err)
	}
	passEnv := "TGVAULT_PASSPHRASE_FILE=" + v.pass
	edit := func(fn func(m map[string]any)) []byte {
		m := map[string]any{}
		_ = json.Unmarshal(orig, &m)
		fn(m)
		b, _ := json.MarshalIndent(m, "", "  ")
		return b
	}
	attacker, _ := crypto.GenerateIdentity()
	cases := []struct {
		name string
		data []byte
	}{
		{"vault id changed", edit(func(m map[string]any) {
			id := m["vault_id"].(string)
			m["vault_id"] = "0" + id[1:]
			if id[0] == '0' {
				m["vault_id"] = "1" + id[1:]
			}
		})},
		{"format 1 (downgrade)", edit(func(m map[string]any) { m["format"] = 1 })},
		{"format 3", edit(func(m map[string]any) { m["format"] = 3 })},
		{"mac removed", edit(func(m map[string]any) { delete(m, "mac") })},
		{"garbage", []byte("{{{ not json")},
		{"empty", nil},
		{"no_keyring set", edit(func(m map[string]any) { m["no_keyring"] = true })},
	}
	for _, c := range cases {
		f.reset(t)
		_ = os.WriteFile(metaPath, c.data, 0o600)
		_, rk := v.list()
		_, rp := v.list(passEnv)
		ok := !strings.Contains(rk.stderr+rp.stderr, "panic") && rk.code != 0
		figures.add("tamper", "%-4s | vault.json | %s | detected=%v | list (keyring) exit %d: %s; list (passphrase) exit %d: %s",
			map[bool]string{true: "ok", false: "FAIL"}[ok], c.name, rk.code != 0, rk.code, firstLine(rk.stderr), rp.code, firstLine(rp.stderr))
	}

	// A recipient added by someone who can write the directory: vault.json
	// fails its MAC, so the import is refused (exit 7), nothing is sealed
	// to it, and doctor says so.
	f.reset(t)
	_ = os.WriteFile(metaPath, edit(func(m map[string]any) {
		m["recipients"] = append(m["recipients"].([]any), attacker.Recipient().String())
	}), 0o600)
	d, _ := writeSources(t, "tpr", 1)
	r := v.run(nil, "import", "--json", d)
	failed, _ := v.doctor()
	readable := 0
	for _, p := range append(mustGlob(filepath.Join(v.dir, "accounts", "*.age")), filepath.Join(v.dir, "index.age")) {
		b, _ := os.ReadFile(p)
		if _, err := crypto.Open(b, attacker); err == nil {
			readable++
		}
	}
	ok := r.code == 7 && strings.Contains(r.stderr, `"kind":"corrupt"`) && readable == 0 && contains(failed, "vault.json")
	if !ok {
		t.Errorf("added recipient: import exit %d (%s), files readable by the added key %d, doctor %v", r.code, firstLine(r.stderr), readable, failed)
	}
	figures.add("tamper", "%-4s | vault.json | recipient added | detected=%v | import exit %d; files the added key can read: %d; doctor failed checks %v",
		map[bool]string{true: "ok", false: "FAIL"}[ok], contains(failed, "vault.json"), r.code, readable, failed)
	f.reset(t)
}

func mustGlob(p string) []string {
	m, _ := filepath.Glob(p)
	return m
}

// commitMeta bumps an account file's revision through the vault's own
// write path (the pool's OpenAccount + Commit; no CLI command rewrites an
// account file).
func commitMeta(t *testing.T, v *tv, name string) {
	t.Helper()
	iv, err := v.inproc()
	if err != nil {
		t.Fatal(err)
	}
	defer iv.Close()
	sf, err := iv.OpenAccount(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := iv.Commit(sf, func() error { return sf.SetMeta("reliability", []byte(randHex(4))) }); err != nil {
		t.Fatal(err)
	}
	if err := sf.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTamperSwapAndRollback(t *testing.T) {
	f := newTamperFixture(t)
	v := f.v
	names := f.names()
	a, b := names[0], names[1]
	pa := filepath.Join(v.dir, "accounts", f.ids[a]+".age")
	pb := filepath.Join(v.dir, "accounts", f.ids[b]+".age")
	row := func(ok bool, what string, detected bool, format string, args ...any) {
		if !ok {
			t.Errorf("%s: "+format, append([]any{what}, args...)...)
		}
		figures.add("tamper", "%-4s | structure | %s | detected=%v | %s", map[bool]string{true: "ok", false: "FAIL"}[ok], what, detected, fmt.Sprintf(format, args...))
	}
	exportOthers := func(skip ...string) string {
		bad := []string{}
		for _, n := range names {
			if contains(skip, n) {
				continue
			}
			got, r := v.export(n)
			if r.code != 0 || got != f.want[n] {
				bad = append(bad, n)
			}
		}
		return strings.Join(bad, ",")
	}

	// Swap two accounts' files.
	f.reset(t)
	ba, _ := os.ReadFile(pa)
	bb, _ := os.ReadFile(pb)
	_ = os.WriteFile(pa, bb, 0o600)
	_ = os.WriteFile(pb, ba, 0o600)
	_, ra := v.export(a)
	_, rb := v.export(b)
	oa, oka := expectFail(ra, 7)
	_, okb := expectFail(rb, 7)
	bad := exportOthers(a, b)
	row(oka && okb && bad == "", "swap two account files", ra.code != 0 && rb.code != 0, "export %s; other accounts broken: [%s]", oa, bad)

	// One account file rolled back to an older copy.
	f.reset(t)
	old, _ := os.ReadFile(pa)
	commitMeta(t, v, a)
	_ = os.WriteFile(pa, old, 0o600)
	_, r := v.export(a)
	o, ok := expectFail(r, 7)
	bad = exportOthers(a)
	row(ok && bad == "", "account file rolled back (index newer)", r.code != 0, "export %s; others broken: [%s]", o, bad)

	// An account file from another vault under this account's name.
	f.reset(t)
	w := newVault(t, "tamper-other")
	d, _ := writeSources(t, "tpo", 1)
	w.mustImport(d)
	wa, _ := w.list()
	foreign, _ := os.ReadFile(filepath.Join(w.dir, "accounts", wa[0].ID+".age"))
	_ = os.WriteFile(pa, foreign, 0o600)
	_, r = v.export(a)
	o, ok = expectFail(r, 6, 7)
	row(ok, "account file from another vault", r.code != 0, "export %s", o)

	// An account file deleted.
	f.reset(t)
	_ = os.Remove(pa)
	_, r = v.export(a)
	o, ok = expectFail(r, 7)
	bad = exportOthers(a)
	row(ok && bad == "", "account file deleted", r.code != 0, "export %s; others broken: [%s]", o, bad)

	// Index rolled back, case 1: an account imported since disappears.
	f.reset(t)
	oldIdx, _ := os.ReadFile(filepath.Join(v.dir, "index.age"))
	d, _ = writeSources(t, "tpn", 1)
	v.mustImport(d)
	_ = os.WriteFile(filepath.Join(v.dir, "index.age"), oldIdx, 0o600)
	accts, r := v.list()
	failed, _ := v.doctor()
	row(r.code == 0 && len(accts) == len(names), "index rolled back over an import", contains(failed, "orphans"),
		"list exit %d, %d accounts (the new one is gone); doctor failed checks %v (an orphan file, like a crash between the two writes)", r.code, len(accts), failed)

	// Index rolled back, case 2: an account file now ahead of the index.
	f.reset(t)
	oldIdx, _ = os.ReadFile(filepath.Join(v.dir, "index.age"))
	commitMeta(t, v, a)
	_ = os.WriteFile(filepath.Join(v.dir, "index.age"), oldIdx, 0o600)
	got, r := v.export(a)
	failed, _ = v.doctor()
	row(r.code == 0 && got == f.want[a], "index rolled back under a newer account file", false,
		"export exit %d (accepted: the file is ahead, as after a crash between the account and index writes); doctor failed checks %v", r.code, failed)

	// The whole directory rolled back.
	f.reset(t)
	snap := v.dir + ".snap"
	copyTree(t, v.dir, snap)
	commitMeta(t, v, a)
	d, _ = writeSources(t, "tpw", 1)
	v.mustImport(d)
	restoreTree(t, snap, v.dir)
	accts, r = v.list()
	failed, _ = v.doctor()
	bad = exportOthers()
	row(r.code == 0 && bad == "" && len(failed) == 0, "whole directory rolled back", false,
		"list exit %d, %d accounts, every export as of the old copy, doctor failed checks %v: undetectable (nothing outside the directory records the latest revision)", r.code, len(accts), failed)
	f.reset(t)
	_ = sessionstring.Pyrogram
	_ = vault.StatusActive
}
