package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testHookStrings are what only a build with the test hooks carries: the
// file keyring's variable, the dev server's harness flags, the scrypt
// knob's old exported name.
var testHookStrings = []string{"TGVAULT_INSECURE_TEST_KEYRING", "reject-duplicates", "stats-file", "TestingSetScryptWorkFactor", "internal/filekeyring", "internal/devharness"}

// goCmd runs go with the environment's GOFLAGS dropped, so that a
// -tags in them does not change what is built.
func goCmd(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestReleaseBuildHasNoTestHooks: a normal build of tgvault has none of
// the test hooks (the file keyring of TGVAULT_INSECURE_TEST_KEYRING,
// dev-server's --stats-file and --reject-duplicates), and neither it nor
// crypto imports package testing; a build with -tags tgvault_testhooks,
// which the harnesses use, does have them (so the check can fail).
func TestReleaseBuildHasNoTestHooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	for _, pkg := range []string{".", "github.com/tgvault/tgvault/crypto"} {
		for _, dep := range strings.Fields(string(goCmd(t, "list", "-deps", pkg))) {
			switch dep {
			case "testing", "github.com/tgvault/tgvault/internal/filekeyring", "github.com/tgvault/tgvault/internal/devharness":
				t.Errorf("a normal build of %s imports %s", pkg, dep)
			}
		}
	}
	tagged := string(goCmd(t, "list", "-tags", "tgvault_testhooks", "-deps", "."))
	for _, dep := range []string{"github.com/tgvault/tgvault/internal/filekeyring", "github.com/tgvault/tgvault/internal/devharness"} {
		if !strings.Contains(tagged, dep+"\n") {
			t.Errorf("a -tags tgvault_testhooks build lacks %s", dep)
		}
	}
	bin := filepath.Join(t.TempDir(), "tgvault")
	goCmd(t, "build", "-o", bin, ".")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range testHookStrings {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("the normal build carries %q", s)
		}
	}
	help, err := exec.Command(bin, "dev-server", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("dev-server --help: %v\n%s", err, help)
	}
	if bytes.Contains(help, []byte("--stats-file")) || !bytes.Contains(help, []byte("--seed-accounts")) {
		t.Errorf("dev-server --help of a normal build:\n%s", help)
	}
}
