package vault

import (
	"bytes"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

type wantImport struct {
	source string
	dc     int
	user   int64 // 0: unknown
	apiID  int32 // 0: unknown
	peers  int
	lacks  string // comma-separated
	server bool   // host/port kept
}

var vectorImports = map[string]wantImport{
	"gotd/session_from_tdata.json":                      {"gotd", 2, 0, 0, 0, "api_id,user_id,is_bot", true},
	"gotd/session_from_telethon.json":                   {"gotd", 2, 0, 0, 0, "api_id,user_id,is_bot", true},
	"gramjs/string_session.txt":                         {"gramjs", 2, 0, 0, 0, "api_id,user_id,is_bot", true},
	"gramjs/string_session_dc5.txt":                     {"gramjs", 5, 0, 0, 0, "api_id,user_id,is_bot", true},
	"kurigram/kurigram_v7.session":                      {"kurigram-v7", 2, 123456789, 12345, 5, "", true},
	"kurigram/pyrogram_v3_migrated_by_kurigram.session": {"kurigram-v7", 2, 123456789, 12345, 5, "", true},
	"mtcute/gramjs_from_mtcute.txt":                     {"gramjs", 2, 0, 0, 0, "api_id,user_id,is_bot", true},
	"mtcute/mtkruto_from_mtcute.txt":                    {"mtkruto", 2, 0, 0, 0, "api_id,user_id,is_bot", false},
	"mtcute/pyrogram_from_mtcute.txt":                   {"pyrogram", 2, 123456789, 12345, 0, "", false},
	"mtcute/pyrogram_from_mtcute_no_api_id.txt":         {"pyrogram", 2, 123456789, 0, 0, "api_id", false},
	"mtcute/string_session_v3.txt":                      {"mtcute", 2, 123456789, 0, 0, "api_id", true},
	"mtcute/string_session_v3_media_noself.txt":         {"mtcute", 2, 0, 0, 0, "api_id,user_id,is_bot", true},
	"mtcute/telethon_from_mtcute.txt":                   {"telethon", 2, 0, 0, 0, "api_id,user_id,is_bot", true},
	"pyrofork/pyrofork_v4.session":                      {"pyrofork-v4", 2, 123456789, 12345, 5, "", false},
	"pyrofork/pyrogram_v3_migrated_by_pyrofork.session": {"pyrofork-v4", 2, 123456789, 12345, 5, "", false},
	"pyrogram/pyrogram_v2.session":                      {"pyrogram-v2", 2, 123456789, 0, 5, "api_id", false},
	"pyrogram/pyrogram_v2_migrated_to_v3.session":       {"pyrogram-v3", 2, 123456789, 12345, 5, "", false},
	"pyrogram/pyrogram_v3.session":                      {"pyrogram-v3", 2, 123456789, 12345, 5, "", false},
	"pyrogram/session_string_old32.txt":                 {"pyrogram", 2, 123456789, 0, 0, "api_id", false},
	"pyrogram/session_string_old64.txt":                 {"pyrogram", 2, 5000000001, 0, 0, "api_id", false},
	"pyrogram/session_string_v3.txt":                    {"pyrogram", 2, 123456789, 12345, 0, "", false},
	"telethon/string_session.txt":                       {"telethon", 2, 0, 0, 0, "api_id,user_id,is_bot", true},
	"telethon/string_session_ipv6.txt":                  {"telethon", 2, 0, 0, 0, "api_id,user_id,is_bot", true},
	"telethon/telethon.session":                         {"telethon-v7", 2, 123456789, 0, 3, "api_id,is_bot", true},
}

// TestImportEveryVector imports every session vector (strings, .session
// files, gotd JSON) and checks the index entry, the report and the key.
func TestImportEveryVector(t *testing.T) {
	tv := newTestVault(t)
	files, _ := filepath.Glob(filepath.Join(vectors, "*", "*"))
	seen := 0
	for _, f := range files {
		rel, _ := filepath.Rel(vectors, f)
		rel = filepath.ToSlash(rel)
		fi, _ := os.Stat(f)
		if fi.IsDir() || strings.HasSuffix(rel, ".md") || strings.HasSuffix(rel, "results.json") {
			continue
		}
		want, ok := vectorImports[rel]
		if !ok {
			t.Errorf("no expectation for vector %s", rel)
			continue
		}
		seen++
		t.Run(rel, func(t *testing.T) {
			src := f
			r, err := tv.ImportFile(src, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			a := r.Account
			name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
			if a.Name != name {
				// Names repeat across folders: later ones need --name.
				t.Fatalf("name %q, want %q", a.Name, name)
			}
			if r.Source != want.source || a.Source != want.source || a.DCID != want.dc || a.Peers != want.peers || r.Peers != want.peers {
				t.Errorf("got source %q dc %d peers %d, want %+v", r.Source, a.DCID, a.Peers, want)
			}
			if u, _ := a.UserID.Get(); u != want.user {
				t.Errorf("user_id %v, want %d", a.UserID, want.user)
			}
			if id, _ := a.APIID.Get(); id != want.apiID {
				t.Errorf("api_id %v, want %d", a.APIID, want.apiID)
			}
			if got := strings.Join(r.Lacks, ","); got != want.lacks {
				t.Errorf("lacks %q, want %q", got, want.lacks)
			}
			if !r.PlaintextRemains {
				t.Error("PlaintextRemains false for a file that still exists")
			}
			f, err := tv.OpenAccount(a.Name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			snap, err := f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			k, _ := sessionstring.NewAuthKey(vectorKey())
			if !snap.Session.AuthKey.Equal(k) {
				t.Error("stored key differs from the vector's")
			}
			s, _ := sessionOf(snap)
			if s.Host.Known() != want.server {
				t.Errorf("host kept = %v, want %v", s.Host.Known(), want.server)
			}
			if strings.HasSuffix(rel, "pyrofork_v4.session") || strings.HasSuffix(rel, "telethon.session") {
				if len(snap.UpdateState) == 0 {
					t.Error("update state not carried over")
				}
			}
			// Every vector holds the same key: one key, one account.
			if _, err := tv.ImportFile(src, ImportOptions{Name: "again"}); !errors.Is(err, ErrDuplicateKey) {
				t.Errorf("the same vector again: %v, want ErrDuplicateKey", err)
			}
			if err := tv.Remove(a.Name); err != nil {
				t.Fatal(err)
			}
		})
	}
	if seen != len(vectorImports) {
		t.Errorf("imported %d vectors, expectations for %d", seen, len(vectorImports))
	}
}

func TestImportOptions(t *testing.T) {
	tv := newTestVault(t)
	data := vector(t, "pyrogram/session_string_old32.txt")
	r, err := tv.Import(data, "", ImportOptions{APIID: sessionstring.Some[int32](12345)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Account.Name != "user123456789" || len(r.Lacks) != 0 || r.PlaintextRemains {
		t.Errorf("report = %+v", r)
	}
	var de *DuplicateKeyError
	if _, err := tv.Import(data, "", ImportOptions{}); !errors.As(err, &de) || de.Account != "user123456789" {
		t.Errorf("second import of the same key: %v", err)
	}
	if _, err := tv.Import(variantString(t, 1), "", ImportOptions{Name: "user123456789"}); !errors.Is(err, ErrNameTaken) || errors.Is(err, ErrDuplicateKey) {
		t.Errorf("another key under a name in use: %v, want ErrNameTaken", err)
	}
	// With api_id filled, the current layout exports byte-identical to
	// Pyrogram's own string.
	got, err := tv.Export("user123456789", sessionstring.Pyrogram, false)
	if err != nil || got != strings.TrimSpace(string(vector(t, "pyrogram/session_string_v3.txt"))) {
		t.Errorf("Export = %v", err)
	}
	if _, err := tv.Import([]byte("not a session"), "", ImportOptions{}); !errors.Is(err, ErrBadInput) {
		t.Errorf("garbage: %v", err)
	}
	if _, err := tv.Import(data, "", ImportOptions{Format: "telethon", Name: "x"}); !errors.Is(err, ErrBadInput) {
		t.Errorf("forced wrong format: %v", err)
	}
	if err := tv.Remove("user123456789"); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.Import(data, "", ImportOptions{Format: "pyrogram", Name: "x"}); err != nil {
		t.Errorf("forced right format: %v", err)
	}
	if r, err := tv.ImportFile(filepath.Join(vectors, "telethon/telethon.session"), ImportOptions{Name: "forced", Format: "telethon-file", Replace: true}); err != nil || r.Peers != 3 || r.Replaced != "x" {
		t.Errorf("forced telethon-file, replacing x: %+v, %v", r, err)
	}
	if _, err := tv.Import(data, "", ImportOptions{Name: "y", Format: "pyrogram-file"}); !errors.Is(err, ErrBadInput) {
		t.Errorf("a string forced as a .session file: %v", err)
	}
	sess := vector(t, "pyrogram/pyrogram_v3.session")
	if r, err := tv.Import(sess, "", ImportOptions{SkipExisting: true}); err != nil || r.Existing != "forced" {
		t.Errorf("skip-existing: %+v, %v", r, err)
	}
	if r, err := tv.Import(sess, "", ImportOptions{Replace: true}); err != nil || r.Peers != 5 || r.Account.Name != "forced" {
		t.Errorf(".session bytes from stdin, replacing forced (its name kept): %+v, %v", r, err)
	}
	if l, _ := tv.List(); len(l) != 1 {
		t.Errorf("after the replacements %d accounts, want 1", len(l))
	}
}

// TestExportByteIdentical exports each string vector in its own format.
func TestExportByteIdentical(t *testing.T) {
	tv := newTestVault(t)
	tests := []struct {
		vector string
		format sessionstring.Format
	}{
		{"pyrogram/session_string_v3.txt", sessionstring.Unknown},
		{"pyrogram/session_string_v3.txt", sessionstring.Pyrogram},
		{"pyrogram/session_string_old64.txt", sessionstring.Pyrogram},
		{"mtcute/pyrogram_from_mtcute.txt", sessionstring.Pyrogram},
		{"telethon/string_session.txt", sessionstring.Telethon},
		{"telethon/string_session_ipv6.txt", sessionstring.Telethon},
		{"gramjs/string_session.txt", sessionstring.GramJS},
		{"gramjs/string_session_dc5.txt", sessionstring.GramJS},
		{"mtcute/string_session_v3.txt", sessionstring.Mtcute},
		{"mtcute/string_session_v3_media_noself.txt", sessionstring.Mtcute},
		{"mtcute/mtkruto_from_mtcute.txt", sessionstring.MTKruto},
		{"gotd/session_from_telethon.json", sessionstring.Gotd},
	}
	for i, tc := range tests {
		t.Run(tc.vector+"→"+tc.format.String(), func(t *testing.T) {
			name := "acct" + string(rune('a'+i))
			if _, err := tv.ImportFile(filepath.Join(vectors, tc.vector), ImportOptions{Name: name}); err != nil {
				t.Fatal(err)
			}
			got, err := tv.Export(name, tc.format, false)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(string(vector(t, tc.vector)))
			if tc.format == sessionstring.Gotd {
				// gotd JSON is compared as the library writes it.
				want = strings.TrimRight(string(vector(t, tc.vector)), "\n")
				got = strings.TrimRight(got, "\n")
			}
			if got != want {
				t.Errorf("export differs from the vector:\n got %s\nwant %s", trim(got), trim(want))
			}
			if err := tv.Remove(name); err != nil { // the next vector has the same key
				t.Fatal(err)
			}
		})
	}
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:40] + "…" + s[len(s)-40:]
	}
	return s
}

func TestExportCrossFormat(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.ImportFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"), ImportOptions{Name: "p"}); err != nil {
		t.Fatal(err)
	}
	// A Pyrogram file carries every field: its export is Pyrogram's string.
	got, err := tv.Export("p", 0, false)
	if err != nil || got != strings.TrimSpace(string(vector(t, "pyrogram/session_string_v3.txt"))) {
		t.Errorf("pyrogram file → string: %v", err)
	}
	// No address in a Pyrogram source: the DC table fills it for Telethon
	// and GramJS, giving their own vectors.
	for f, v := range map[sessionstring.Format]string{
		sessionstring.Telethon: "telethon/string_session.txt",
		sessionstring.GramJS:   "gramjs/string_session.txt",
	} {
		got, err := tv.Export("p", f, false)
		if err != nil || got != strings.TrimSpace(string(vector(t, v))) {
			t.Errorf("pyrogram → %v: %v", f, err)
		}
	}
	// Telethon lacks api_id, user_id, is_bot: Pyrogram export names one.
	// (The same key: p goes first.)
	if err := tv.Remove("p"); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.ImportFile(filepath.Join(vectors, "telethon/string_session.txt"), ImportOptions{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	_, err = tv.Export("t", sessionstring.Pyrogram, false)
	if !errors.Is(err, ErrMissingField) || !strings.Contains(err.Error(), "api_id") {
		t.Errorf("telethon → pyrogram: %v, want ErrMissingField naming api_id", err)
	}
	if err := tv.ExportPlainFile("t", filepath.Join(t.TempDir(), "t.session"), false); !errors.Is(err, ErrMissingField) {
		t.Errorf("telethon → plain file: %v", err)
	}
	if _, err := tv.Export("missing", 0, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing account: %v", err)
	}
}

func TestExportPlainFile(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.ImportFile(filepath.Join(vectors, "pyrofork/pyrofork_v4.session"), ImportOptions{Name: "p"}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.session")
	if err := tv.ExportPlainFile("p", out, false); err != nil {
		t.Fatal(err)
	}
	// Never over anything: the file there may be another session.
	before, _ := os.ReadFile(out)
	err := tv.ExportPlainFile("p", out, false)
	if after, _ := os.ReadFile(out); !errors.Is(err, fs.ErrExist) || !bytes.Equal(before, after) || err.Error() != "export: "+out+" exists; remove it or choose another path" {
		t.Errorf("ExportPlainFile over a file: %v; want fs.ErrExist and the file unchanged", err)
	}
	if hits := scanTree(filepath.Dir(out)); len(hits) != 1 {
		t.Errorf("the secret scan finds the key in %d plain files, want 1", len(hits))
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v %v", fi, err)
	}
	db, err := sql.Open("sqlite", "file:"+out+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var (
		dc, apiID, user, version int
		key                      []byte
		peers                    int
		username                 string
	)
	if err := db.QueryRow("SELECT dc_id, api_id, user_id, auth_key FROM sessions").Scan(&dc, &apiID, &user, &key); err != nil {
		t.Fatal(err)
	}
	if dc != 2 || apiID != 12345 || user != 123456789 || !reflect.DeepEqual(key, vectorKey()) {
		t.Errorf("sessions row: dc %d api %d user %d", dc, apiID, user)
	}
	if err := db.QueryRow("SELECT number FROM version").Scan(&version); err != nil || version != 3 {
		t.Errorf("version %d, %v", version, err)
	}
	if err := db.QueryRow("SELECT count(*) FROM peers").Scan(&peers); err != nil || peers != 5 {
		t.Errorf("peers %d, %v", peers, err)
	}
	if err := db.QueryRow("SELECT username FROM peers WHERE id = 111111111").Scan(&username); err != nil || username != "alice_example" {
		t.Errorf("username %q, %v", username, err)
	}
	var ok string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check %q, %v", ok, err)
	}
}

// TestSealedHandOff moves an account to another vault: sealed to its
// recipient, imported there with the same key, refused here until
// Reclaim.
func TestSealedHandOff(t *testing.T) {
	src := newTestVault(t)
	dst := newTestVault(t)
	if _, err := src.ImportFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"), ImportOptions{Name: "acct"}); err != nil {
		t.Fatal(err)
	}
	to, err := dst.Recipient()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := crypto.ParseRecipient(to)
	sealed, err := src.ExportSealed("acct", SealedExportOptions{To: []*crypto.Recipient{r}, Move: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(sealed, "\n\r ") || len(sealed) >= 1000 {
		t.Errorf("sealed string: %d chars, one line: %v", len(sealed), !strings.ContainsAny(sealed, "\n"))
	}
	t.Logf("sealed hand-off without peers: %d chars", len(sealed))

	// The source keeps listing it, handed off, and refuses to give it out.
	a, err := src.Show("acct")
	if err != nil || a.Status != StatusHandedOff {
		t.Fatalf("Show = %+v, %v", a, err)
	}
	if _, err := src.Export("acct", 0, false); !errors.Is(err, ErrHandedOff) {
		t.Errorf("Export after move: %v", err)
	}
	if _, err := src.ExportSealed("acct", SealedExportOptions{To: []*crypto.Recipient{r}}); !errors.Is(err, ErrHandedOff) {
		t.Errorf("ExportSealed after move: %v", err)
	}
	if _, err := src.OpenAccount("acct"); !errors.Is(err, ErrHandedOff) {
		t.Errorf("OpenAccount after move: %v", err)
	}
	// Not for this vault's key.
	if _, err := src.Import([]byte(sealed), "", ImportOptions{Name: "back"}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("import into the wrong vault: %v", err)
	}

	rep, err := dst.Import([]byte(sealed+"\n"), "", ImportOptions{Name: "moved"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Source != sourceHandOff || rep.PlaintextRemains || len(rep.Lacks) != 0 {
		t.Errorf("report = %+v", rep)
	}
	fs, err := src.reopen(t, Options{Keyring: src.kr}).readSnapshotUnchecked(t, "acct")
	if err != nil {
		t.Fatal(err)
	}
	f, err := dst.OpenAccount("moved")
	if err != nil {
		t.Fatal(err)
	}
	row, _ := f.Session()
	f.Close()
	if !row.AuthKey.Equal(fs.Session.AuthKey) || row.UserID != fs.Session.UserID || row.APIID != fs.Session.APIID {
		t.Error("the imported session differs from the source's")
	}
	got, err := dst.Export("moved", 0, false)
	if err != nil || got != strings.TrimSpace(string(vector(t, "pyrogram/session_string_v3.txt"))) {
		t.Errorf("export at the destination: %v", err)
	}

	if err := src.Reclaim("acct"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Export("acct", 0, false); err != nil {
		t.Errorf("Export after Reclaim: %v", err)
	}
}

// readSnapshotUnchecked reads an account's snapshot whatever its status.
func (v *Vault) readSnapshotUnchecked(t *testing.T, name string) (*storage.Snapshot, error) {
	t.Helper()
	st, err := v.unlock()
	if err != nil {
		return nil, err
	}
	x, err := v.loadIndex(st)
	if err != nil {
		return nil, err
	}
	a := x.Accounts[x.find(name)]
	s, _ := st.sealer()
	f, err := v.openFile(s, false, &a)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Snapshot()
}

func TestSealedHandOffPassphraseAndPeers(t *testing.T) {
	src := newTestVault(t)
	dst := newTestVault(t)
	if _, err := src.ImportFile(filepath.Join(vectors, "telethon/telethon.session"), ImportOptions{Name: "tl"}); err != nil {
		t.Fatal(err)
	}
	sealed, err := src.ExportSealed("tl", SealedExportOptions{Passphrase: otherPass, WithPeers: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(sealed, "\n ") {
		t.Error("passphrase hand-off is not one line")
	}
	if _, err := dst.Import([]byte(sealed), "", ImportOptions{Name: "x"}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("without the passphrase: %v", err)
	}
	if _, err := dst.Import([]byte(sealed), "", ImportOptions{Name: "x", Passphrase: crypto.Passphrase("wrong")}); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	rep, err := dst.Import([]byte(sealed), "", ImportOptions{Name: "x", Passphrase: otherPass})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Peers != 3 || strings.Join(rep.Lacks, ",") != "api_id,is_bot" {
		t.Errorf("report = %+v", rep)
	}
	// The server address travels too: a Telethon export is the same.
	a, _ := src.Export("tl", sessionstring.Telethon, false)
	b, _ := dst.Export("x", sessionstring.Telethon, false)
	if a == "" || a != b {
		t.Error("telethon export differs after the hand-off")
	}
	// Armored form, sealed to an SSH key, opens too (not by the vault).
	if _, err := src.ExportSealed("tl", SealedExportOptions{}); err == nil {
		t.Error("ExportSealed with neither recipients nor passphrase succeeded")
	}
}

// TestValidImportFormat: the names ImportOptions.Format takes are the
// ones Import reads: every session-string format, the two .session file
// names and "" (detect); any other is refused by both.
func TestValidImportFormat(t *testing.T) {
	t.Parallel()
	valid := []string{"", FormatPyrogramFile, FormatTelethonFile}
	for _, f := range sessionstring.Formats() {
		valid = append(valid, f.String())
	}
	for _, name := range valid {
		if !ValidImportFormat(name) {
			t.Errorf("ValidImportFormat(%q) = false", name)
		}
	}
	tv := newTestVault(t)
	for _, name := range []string{"pyrogram-sqlite", "Telethon-File", "nope"} {
		if ValidImportFormat(name) {
			t.Errorf("ValidImportFormat(%q) = true", name)
		}
		if _, err := tv.Import([]byte("x"), "", ImportOptions{Format: name}); !errors.Is(err, ErrBadInput) {
			t.Errorf("Import with format %q: %v, want ErrBadInput", name, err)
		}
	}
}
