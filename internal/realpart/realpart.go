// Package realpart lets a test that needs a real outside part (the age CLI,
// a Secret Service, PostgreSQL, python3-telethon) skip loudly where the part
// is missing, and fail instead in CI, where TGVAULT_REQUIRE_REAL=1 is set.
// Main reports the parts a test binary missed once, at its end, where the
// person running `go test ./...` sees it even without -v.
package realpart

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// EnvRequire is the variable that turns a missing real part into a failure.
const EnvRequire = "TGVAULT_REQUIRE_REAL"

// Required reports whether missing real parts must fail the test run.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// missed are the parts this test binary missed: part -> hint and the tests
// that skipped for it.
var missed struct {
	sync.Mutex
	parts map[string]*missedPart
}

type missedPart struct {
	hint  string
	tests []string
}

// Record notes that test could not run for want of part (Missing calls it;
// a test helper that skips by other means calls it too).
func Record(test, part, hint string) {
	missed.Lock()
	defer missed.Unlock()
	if missed.parts == nil {
		missed.parts = map[string]*missedPart{}
	}
	p := missed.parts[part]
	if p == nil {
		p = &missedPart{hint: hint}
		missed.parts[part] = p
	}
	p.tests = append(p.tests, test)
}

// Message is the skip (or failure) message for a missing part.
func Message(part, hint string) string {
	return "REAL PART MISSING: " + part + " is not available (" + hint + "); this test did not run"
}

// Missing skips t with a loud message naming the part and how to get it, or
// fails t when real parts are required. Main lists it at the end.
func Missing(t testing.TB, part, hint string) {
	t.Helper()
	Record(t.Name(), part, hint)
	msg := Message(part, hint)
	if Required() {
		t.Fatal(msg + "; " + EnvRequire + "=1 makes this a failure")
	}
	t.Skip(msg)
}

// LookPath returns the path of the named program, or skips/fails t as
// Missing does when it is not installed.
func LookPath(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, hint)
	}
	return p
}

// RunFunc makes a function a test runner for Main (to chain pgtest.Main
// and secretservicetest.Main inside it).
type RunFunc func() int

// Run calls f.
func (f RunFunc) Run() int { return f() }

// Main runs the tests of m and then, when some real part was missing,
// prints one summary of them: the part, how to get it, and how many tests
// did not run. `go test ./...` shows a passing package's output only with
// -v, so on Linux the summary goes to the stderr of the go command that
// runs this binary, where it is seen either way; elsewhere to this
// binary's stderr. A TestMain calls it:
//
//	func TestMain(m *testing.M) { os.Exit(realpart.Main(m)) }
func Main(m interface{ Run() int }) int {
	code := m.Run()
	if s := summary(); s != "" {
		w, closeW := reportWriter()
		fmt.Fprint(w, s)
		closeW()
	}
	return code
}

// summary is the report of the missed parts, "" when none was.
func summary() string {
	missed.Lock()
	defer missed.Unlock()
	if len(missed.parts) == 0 {
		return ""
	}
	names := make([]string, 0, len(missed.parts))
	for n := range missed.parts {
		names = append(names, n)
	}
	slices.Sort(names)
	pkg := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	var b strings.Builder
	fmt.Fprintf(&b, "%s: REAL PARTS MISSING: these tests did not run (%s=1 makes them fail):\n", pkg, EnvRequire)
	for _, n := range names {
		p := missed.parts[n]
		fmt.Fprintf(&b, "  %s (%s): %d test(s), e.g. %s\n", n, p.hint, len(p.tests), p.tests[0])
	}
	return b.String()
}

// reportWriter is where Main's summary goes: the go command's stderr when
// this binary runs under `go test` on Linux, else this binary's stderr.
func reportWriter() (io.Writer, func()) {
	ppid := os.Getppid()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", ppid))
	if err != nil || filepath.Base(exe) != "go" {
		return os.Stderr, func() {}
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/2", ppid), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return os.Stderr, func() {}
	}
	return f, func() { f.Close() }
}
