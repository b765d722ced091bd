package memlock

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHarden checks, in a child process so the test binary keeps its own
// limits, that Harden leaves no core file and a process that is not
// dumpable, and that the child was dumpable with a core limit before.
func TestHarden(t *testing.T) {
	if os.Getenv("TGVAULT_TEST_HARDEN") == "1" {
		var before unix.Rlimit
		_ = unix.Getrlimit(unix.RLIMIT_CORE, &before)
		d0, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		Harden()
		var after unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_CORE, &after); err != nil {
			t.Fatal(err)
		}
		d1, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if after.Cur != 0 || after.Max != 0 || d1 != 0 {
			t.Fatalf("after Harden: core limit %d/%d, dumpable %d; want 0/0, 0", after.Cur, after.Max, d1)
		}
		if d0 != 1 {
			t.Fatalf("before Harden the child was not dumpable (%d): the test shows nothing", d0)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHarden$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "TGVAULT_TEST_HARDEN=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestHarden") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
