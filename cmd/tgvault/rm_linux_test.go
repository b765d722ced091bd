package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/testhooks"
)

// testApp runs one tgvault command line in this process with env as its
// whole environment.
func testApp(env map[string]string, stdin *os.File, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	if stdin != nil {
		a.stdin = stdin
	}
	code = a.run(args)
	return code, out.String(), errb.String()
}

// TestRmAsksOnATerminal: on a terminal rm asks; "y" removes, anything else
// keeps the account and exits 2.
func TestRmAsksOnATerminal(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, scryptLogN)
	dir := t.TempDir()
	pass := filepath.Join(dir, "vault.pass")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"TGVAULT_DIR":                   filepath.Join(dir, "vault"),
		"TGVAULT_INSECURE_TEST_KEYRING": filepath.Join(dir, "keyring"),
		"TGVAULT_PASSPHRASE_FILE":       pass,
		"NO_COLOR":                      "1",
	}
	if code, _, errb := testApp(env, nil, "init"); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb)
	}
	if code, _, errb := testApp(env, nil, "import", "--name", "acct", vector("pyrogram", "session_string_v3.txt")); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errb)
	}
	for _, c := range []struct {
		name, answer string
		code         int
		kept         bool
	}{
		{"acct", "n\n", exitUsage, true},
		{"acct", "\n", exitUsage, true},
		{"acct", "yes\n", exitOK, false},
	} {
		master, tty := openPTY(t)
		// Typed ahead: the terminal keeps it until rm reads its answer.
		if _, err := master.WriteString(c.answer); err != nil {
			t.Fatal(err)
		}
		code, _, errb := testApp(env, tty, "rm", c.name)
		// On a terminal stdin, rm asks on stderr.
		if !strings.Contains(errb, "remove account "+c.name) || !strings.Contains(errb, "[y/N]") {
			t.Errorf("rm %s: stderr %q, want the question", c.name, errb)
		}
		if code != c.code {
			t.Errorf("rm %s answered %q: exit %d, want %d: %s", c.name, c.answer, code, c.code, errb)
		}
		showCode, _, _ := testApp(env, nil, "show", c.name)
		if kept := showCode == 0; kept != c.kept {
			t.Errorf("rm %s answered %q: account kept %v, want %v", c.name, c.answer, kept, c.kept)
		}
	}
}
