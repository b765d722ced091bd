// Package realpart lets a test that needs a real outside part (the age CLI,
// a Secret Service, PostgreSQL, python3-telethon) skip loudly where the part
// is missing, and fail instead in CI, where TGVAULT_REQUIRE_REAL=1 is set.
package realpart

import (
	"os"
	"os/exec"
	"testing"
)

// EnvRequire is the variable that turns a missing real part into a failure.
const EnvRequire = "TGVAULT_REQUIRE_REAL"

// Required reports whether missing real parts must fail the test run.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Missing skips t with a loud message naming the part and how to get it, or
// fails t when real parts are required.
func Missing(t testing.TB, part, hint string) {
	t.Helper()
	msg := "REAL PART MISSING: " + part + " is not available (" + hint + "); this test did not run"
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
