package vault

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/realpart"
	"github.com/tgvault/tgvault/internal/secretservicetest"
	"github.com/tgvault/tgvault/sessionstring"
)

// TestMain runs the tests with a private temp directory and, after them,
// scans it for the vectors' auth key and the test passphrases: no test
// may leave a secret behind in plaintext. It also serves the child
// process of TestSecondProcessRefused.
func TestMain(m *testing.M) {
	if dir := os.Getenv("TGVAULT_TEST_HOLD_LOCK"); dir != "" {
		holdLock(dir)
		return
	}
	tmp, err := os.MkdirTemp("", "vault-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", tmp)
	// A test holding an account it then exports waits this long (the
	// test binary is no `run`: its holds count as a moment's).
	ownerWait = 500 * time.Millisecond
	// The real Secret Service of the keyring tests is stopped (and its
	// files removed) before the scan; missing real parts are reported.
	code := realpart.Main(realpart.RunFunc(func() int { return secretservicetest.Main(m) }))
	if code == 0 {
		if hits := scanTree(tmp); len(hits) > 0 {
			fmt.Fprintf(os.Stderr, "secret bytes left in the temp dir: %s\n", strings.Join(hits, ", "))
			code = 1
		}
	}
	os.RemoveAll(tmp)
	os.Exit(code)
}

// secretNeedles are the byte strings no sealed file may contain: the
// passphrases and the 16 aligned 16-byte blocks of the vectors' key (any
// 32-byte window of 0..255 contains one).
func secretNeedles() [][]byte {
	key := vectorKey()
	n := [][]byte{testPass, otherPass}
	for i := 0; i < 256; i += 16 {
		n = append(n, key[i:i+16])
	}
	return n
}

func scanTree(dir string) []string {
	var hits []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, n := range secretNeedles() {
			if bytes.Contains(b, n) {
				hits = append(hits, p)
				break
			}
		}
		return nil
	})
	return hits
}

// holdLock is the child process: it takes the write lock of the vault in
// dir, says so, and waits to be killed.
func holdLock(dir string) {
	v, err := Open(Options{Dir: dir})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if _, err := v.writeLock(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
}

// TestSecondProcessRefused: another process holding the write lock makes
// writes fail with a *BusyError naming its pid.
func TestSecondProcessRefused(t *testing.T) {
	tv := newTestVault(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TGVAULT_TEST_HOLD_LOCK="+tv.Dir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "locked") {
		t.Fatalf("child: %q", buf[:n])
	}
	_, err = tv.Import(vector(t, "pyrogram/session_string_v3.txt"), "", ImportOptions{Name: "x"})
	var be *BusyError
	if !errors.As(err, &be) || be.Holder.PID != cmd.Process.Pid {
		t.Fatalf("Import = %v, want *BusyError naming pid %d", err, cmd.Process.Pid)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("error does not name the pid: %v", err)
	}
	if err := tv.Rekey(testPass); !errors.Is(err, ErrBusy) {
		t.Errorf("Rekey = %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// The lock dies with its holder.
	if _, err := tv.Import(vector(t, "pyrogram/session_string_v3.txt"), "", ImportOptions{Name: "x"}); err != nil {
		t.Fatalf("Import after the holder died: %v", err)
	}
}

// TestNoSecretsOnDisk runs every kind of operation on two vaults and
// scans their directories: neither the key nor a passphrase nor an
// account name may appear in any file.
func TestNoSecretsOnDisk(t *testing.T) {
	a, b := newTestVault(t), newTestVault(t)
	name := []byte("secret-account-name-5f2a")
	files, _ := filepath.Glob(filepath.Join(vectors, "*", "*"))
	for i, f := range files {
		if fi, _ := os.Stat(f); fi.IsDir() || strings.HasSuffix(f, ".md") || strings.HasSuffix(f, "results.json") {
			continue
		}
		// Every vector holds the same key: each replaces the one before,
		// under a new name, and the last ones are variants.
		if _, err := a.ImportFile(f, ImportOptions{Name: fmt.Sprintf("%s-%d", name, i), Replace: true}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 6; i++ {
		if _, err := a.ImportFile(variantFile(t, i), ImportOptions{Name: fmt.Sprintf("%s-v%d", name, i)}); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := a.List()
	rb, _ := b.Recipient()
	r, _ := crypto.ParseRecipient(rb)
	for _, acct := range list[:3] {
		s, err := a.ExportSealed(acct.Name, SealedExportOptions{To: []*crypto.Recipient{r}, WithPeers: true, Move: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Import([]byte(s), "", ImportOptions{Name: acct.Name}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Export(list[5].Name, sessionstring.Telethon, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Rename(list[4].Name, string(name)+"-renamed"); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(list[6].Name); err != nil {
		t.Fatal(err)
	}
	if err := a.Passwd(testPass, otherPass); err != nil {
		t.Fatal(err)
	}
	if err := a.Rekey(otherPass); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*testVault{a, b} {
		for _, p := range scanTree(v.Dir()) {
			t.Errorf("secret bytes in %s", p)
		}
		filepath.Walk(v.Dir(), func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				data, _ := os.ReadFile(p)
				if bytes.Contains(data, name) || strings.Contains(p, string(name)) {
					t.Errorf("account name in %s", p)
				}
			}
			return nil
		})
	}
}
