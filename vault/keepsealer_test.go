package vault

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/tgvault/tgvault/internal/realpart"
)

// TestAccountSavesKeepHeader: saves of an account a store holds open reuse
// the file's age header (no new file key), and each saved file is still one
// that the vault reopens (authenticated, at its revision) and that Debian's
// age CLI decrypts with the vault identity.
func TestAccountSavesKeepHeader(t *testing.T) {
	ageBin := realpart.LookPath(t, "age", "apt-get install age")
	tv := newTestVault(t)
	if _, err := tv.Import(vector(t, "pyrogram/pyrogram_v3.session"), "", ImportOptions{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	list, err := tv.List()
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	path := tv.accountPath(list[0].ID)
	header := func() []byte {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := age.ExtractHeader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	secret, ok := tv.kr.secret(tv.ID())
	if !ok {
		t.Fatal("no identity in the fake keyring")
	}
	idFile := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(idFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	imported := header()
	f, err := tv.OpenAccount("alice")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := tv.Commit(f, func() error { return f.SetMeta("test.n", []byte{byte('0' + i)}) }); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(header(), imported) {
			t.Fatalf("save %d: the header changed", i+1)
		}
		plain := filepath.Join(t.TempDir(), "alice.session")
		if out, err := exec.Command(ageBin, "-d", "-i", idFile, "-o", plain, path).CombinedOutput(); err != nil {
			t.Fatalf("save %d: age -d: %v: %s", i+1, err, out)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := tv.reopen(t, Options{Keyring: tv.kr}).OpenAccount("alice")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if v, ok, err := g.Meta("test.n"); err != nil || !ok || string(v) != "2" {
		t.Fatalf("reopened: meta = %q, %v, %v", v, ok, err)
	}
	if !strings.HasPrefix(string(imported), "age-encryption.org/v1\n-> X25519 ") {
		t.Fatalf("not an X25519 header: %q", imported)
	}
}
