package storage

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/realpart"
)

// The file engine with the sealer the vault really uses: age, from package
// crypto (a test-only import; storage itself never imports age).
func ageSealer(t testing.TB) (*crypto.Sealer, *crypto.Identity) {
	t.Helper()
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	s, err := crypto.NewSealer([]*crypto.Identity{id}, []*crypto.Recipient{id.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	return s, id
}

// The sealed benchmarks seal as the vault seals an account file: age to
// the vault's recipient, with the authentication stanza, for the file's
// name (crypto.VaultSealer).
func init() {
	benchSealer = func(b *testing.B) Sealer {
		id, err := crypto.GenerateIdentity()
		if err != nil {
			b.Fatal(err)
		}
		s, err := crypto.NewVaultSealer([]*crypto.Identity{id}, []*crypto.Identity{id})
		if err != nil {
			b.Fatal(err)
		}
		return s.For("bench-vault/accounts/bench.age")
	}
}

// TestAgeCLIOpensOurSealedFile: a file sealed by tgvault is an ordinary age
// file; `age -d` with the vault identity gives back a SQLite database that
// SQLite's own shell reads as Pyrogram's schema with the session row.
func TestAgeCLIOpensOurSealedFile(t *testing.T) {
	t.Parallel()
	ageBin := realpart.LookPath(t, "age", "apt-get install age")
	sqlite := realpart.LookPath(t, "sqlite3", "apt-get install sqlite3")
	dir := t.TempDir()
	s, id := ageSealer(t)
	f, err := CreateFile(filepath.Join(dir, "a.age"), s, Binding{"v", "a", 1}, &Snapshot{Session: testRow(t), Peers: vectorPeers()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	keyFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(keyFile, []byte(id.Reveal()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "out.session")
	if out, err := exec.Command(ageBin, "-d", "-i", keyFile, "-o", plain, f.Path()).CombinedOutput(); err != nil {
		t.Fatalf("age -d: %v: %s", err, out)
	}
	defer os.Remove(plain)
	q := func(sql string) string {
		out, err := exec.Command(sqlite, "-readonly", plain, sql).CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 %q: %v: %s", sql, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := q("PRAGMA integrity_check"); got != "ok" {
		t.Fatalf("integrity_check: %s", got)
	}
	if got := q("SELECT number FROM version"); got != "3" {
		t.Fatalf("version %s", got)
	}
	if got := q("SELECT dc_id, api_id, test_mode, length(auth_key), date, user_id, is_bot FROM sessions"); got != "2|12345|0|256|1700000000|123456789|0" {
		t.Fatalf("session row %q", got)
	}
	if got := q("SELECT group_concat(name) FROM pragma_table_info('sessions')"); got != "dc_id,api_id,test_mode,auth_key,date,user_id,is_bot" {
		t.Fatalf("sessions columns %q", got)
	}
	if got := q("SELECT id, type, username FROM peers WHERE username = 'example_channel'"); got != "-1001555555555|channel|example_channel" {
		t.Fatalf("peer row %q", got)
	}
	if got := q("SELECT vault_id, account_id, revision FROM tgvault_binding"); got != "v|a|1" {
		t.Fatalf("binding %q", got)
	}
}

// TestOurCodeOpensAgeCLISealedFile: an image sealed by the age CLI opens
// with the file engine.
func TestOurCodeOpensAgeCLISealedFile(t *testing.T) {
	t.Parallel()
	ageBin := realpart.LookPath(t, "age", "apt-get install age")
	dir := t.TempDir()
	s, id := ageSealer(t)
	img, err := encodeImage(&Snapshot{Session: testRow(t), Peers: vectorPeers()}, &Binding{"v", "a", 4})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ageBin, "-r", id.Recipient().String(), "-o", filepath.Join(dir, "a.age"))
	cmd.Stdin = bytes.NewReader(img)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("age -r: %v: %s", err, out)
	}
	f, err := OpenFile(filepath.Join(dir, "a.age"), s, Binding{"v", "a", 4}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p, err := f.PeerByUsername("example_bot"); err == nil || p.ID != 0 {
		// The rows are dated 1700000000: long expired.
		t.Fatalf("expected an expired username, got %+v %v", p, err)
	}
	if p, err := f.PeerByID(-1002666666666); err != nil || p.AccessHash != -1 {
		t.Fatalf("peer %+v %v", p, err)
	}
	if r, _ := f.Session(); !r.AuthKey.Equal(testKey(t)) || r.UserID.Or(0) != 123456789 {
		t.Fatal("session row")
	}
}

// TestConformanceAge runs the conformance suite's file engine with age.
func TestConformanceAge(t *testing.T) {
	t.Parallel()
	e := engines()[1]
	e.open = func(t *testing.T, snap *Snapshot, opts Options) Storage {
		if snap == nil {
			snap = &Snapshot{Session: SessionRow{DCID: 2}}
		}
		s, _ := ageSealer(t)
		f, err := CreateFile(filepath.Join(t.TempDir(), "acct.age"), s, Binding{VaultID: "vault", AccountID: "acct", Revision: 1}, snap, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	conformance(t, e)
}

// pyrogramOpen replays what Pyrogram's FileStorage does with an existing
// file, through Python's sqlite3 module (the C SQLite Pyrogram runs on):
// read the version, VACUUM, read the session columns by name, and run the
// username lookup query of its storage code.
const pyrogramOpen = `
import sqlite3, sys, json
conn = sqlite3.connect(sys.argv[1], timeout=1, check_same_thread=False)
version = conn.execute("SELECT number FROM version").fetchone()[0]
conn.execute("VACUUM")
conn.commit()
row = conn.execute("SELECT dc_id, api_id, test_mode, auth_key, date, user_id, is_bot FROM sessions").fetchone()
empty = any(v is None for v in (row[2], row[3], row[5], row[6]))
peer = conn.execute("SELECT id, access_hash, type, last_update_on FROM peers WHERE username = ? ORDER BY last_update_on DESC", ("example_channel",)).fetchone()
phone = conn.execute("SELECT id, access_hash, type FROM peers WHERE phone_number = ?", ("15551234567",)).fetchone()
print(json.dumps({"version": version, "dc": row[0], "api_id": row[1], "key_len": len(row[3]), "user_id": row[5], "empty": empty, "peer": peer[:3], "phone": phone}))
`

func TestPythonSQLiteLoadsPlainPyrogramFile(t *testing.T) {
	t.Parallel()
	py := realpart.LookPath(t, "python3", "apt-get install python3")
	path := filepath.Join(t.TempDir(), "acct.session")
	if err := WritePyrogramFile(path, &Snapshot{Session: testRow(t), Peers: vectorPeers()}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", pyrogramOpen, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v: %s", err, out)
	}
	want := `{"version": 3, "dc": 2, "api_id": 12345, "key_len": 256, "user_id": 123456789, "empty": false, "peer": [-1001555555555, 7777777777777777777, "channel"], "phone": [111111111, 1234567890123456789, "user"]}`
	if strings.TrimSpace(string(out)) != want {
		t.Fatalf("Pyrogram's view of the file:\n got %s\nwant %s", out, want)
	}
}
