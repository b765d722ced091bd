package vault

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/realpart"
)

// TestAgeCLIDecryptsVaultFiles: Debian's age CLI, given the vault identity,
// decrypts a sealed hand-off string (after base64) and an account file; the
// account file is a SQLite database SQLite's shell reads.
func TestAgeCLIDecryptsVaultFiles(t *testing.T) {
	ageBin := realpart.LookPath(t, "age", "apt-get install age")
	sqlite := realpart.LookPath(t, "sqlite3", "apt-get install sqlite3")
	src, dst := newTestVault(t), newTestVault(t)
	if _, err := src.Import(vector(t, "pyrogram/pyrogram_v3.session"), "", ImportOptions{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	keyFile := func(tv *testVault) string {
		secret, ok := tv.kr.secret(tv.ID())
		if !ok {
			t.Fatal("no identity in the fake keyring")
		}
		p := filepath.Join(t.TempDir(), "identity.txt")
		if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rcpt, err := dst.Recipient()
	if err != nil {
		t.Fatal(err)
	}
	to, err := crypto.ParseRecipient(rcpt)
	if err != nil {
		t.Fatal(err)
	}
	line, err := src.ExportSealed("alice", SealedExportOptions{To: []*crypto.Recipient{to}})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := base64.StdEncoding.DecodeString(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("the sealed string is not one line of base64: %v", err)
	}
	cmd := exec.Command(ageBin, "-d", "-i", keyFile(dst))
	cmd.Stdin = bytes.NewReader(bin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -d of the hand-off string: %v", err)
	}
	if !isEnvelope(out) {
		t.Fatal("age -d gave something other than a hand-off envelope")
	}

	list, err := src.List()
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	plain := filepath.Join(t.TempDir(), "alice.session")
	if out, err := exec.Command(ageBin, "-d", "-i", keyFile(src), "-o", plain, src.accountPath(list[0].ID)).CombinedOutput(); err != nil {
		t.Fatalf("age -d of the account file: %v: %s", err, out)
	}
	got, err := exec.Command(sqlite, "-readonly", plain, "SELECT dc_id, api_id, user_id, is_bot, length(auth_key), (SELECT count(*) FROM peers) FROM sessions").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v: %s", err, got)
	}
	if strings.TrimSpace(string(got)) != "2|12345|123456789|0|256|5" {
		t.Fatalf("account file's session row: %q", got)
	}
}
