package reliability

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/memlock"
	"github.com/tgvault/tgvault/internal/realpart"
)

// TestRunMemory checks the real binary's `run`, serving accounts against
// the dev server, for what SECURITY.md promises of its memory: no core
// file (RLIMIT_CORE 0 in /proc/PID/limits, checked everywhere), and its
// memory locked against swap where this machine allows it (root, as in CI): VmLck > 0, (nearly)
// all of its resident memory locked, and the start-up line says so.
func TestRunMemory(t *testing.T) {
	d := startDevServer(t, 4)
	v, _ := runVault(t, "memory", d, 4)
	p := v.startRun(t, d, sockPath())
	defer p.stop()
	if err := p.waitReady(4, time.Minute); err != nil {
		t.Fatal(err)
	}
	pid := p.cmd.Process.Pid
	core, err := coreLimit(pid)
	if err != nil {
		t.Fatal(err)
	}
	if core != "0 0" {
		t.Errorf("run's core file limit (soft, hard) is %q, want 0 0", core)
	}
	if memlock.Allowed() != nil {
		realpart.Missing(t, "the permission to lock memory", "run as root, grant CAP_IPC_LOCK or ulimit -l unlimited")
	}
	for name := range d.users {
		if r := apiCall(p.client, "POST", "/v1/accounts/"+name+"/invoke", strings.NewReader(getSelf)); r.err != nil || r.code != 200 {
			t.Errorf("invoke %s: %v", name, r)
		}
	}
	vm, err1 := memlock.ProcKB(pid, "status", "VmLck:")
	rss, err2 := memlock.ProcKB(pid, "smaps_rollup", "Locked:")
	// smaps' Locked is proportional (PSS): compare it with Pss, not Rss
	// (the binary's pages are shared with the dev server's).
	pss, err3 := memlock.ProcKB(pid, "smaps_rollup", "Pss:")
	if errors.Is(err2, fs.ErrPermission) || errors.Is(err3, fs.ErrPermission) {
		// Not root: the smaps of a process that is not dumpable are
		// closed to us; VmLck (status) is not.
		t.Logf("smaps_rollup of run not readable here: resident locked memory not checked")
		rss, pss, err2, err3 = 1, 1, nil, nil
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if vm == 0 || rss == 0 {
		t.Errorf("run serving 4 accounts: VmLck %d kB, resident locked %d kB: memory not locked", vm, rss)
	}
	r := p.stop()
	if r.code != 0 || !strings.Contains(r.stderr, "memory locked") {
		t.Errorf("run: exit %d; its start-up line does not say memory locked: %s", r.code, firstLine(r.stderr))
	}
	if rss < pss*9/10 {
		t.Errorf("run serving 4 accounts: %d kB of its %d kB (PSS) locked; want all but what the runtime maps lazily", rss, pss)
	}
	figures.add("memory", "run serving 4 accounts: core limit %s; VmLck %d kB; resident %d kB (PSS) of which locked %d kB (%.0f%%)",
		core, vm, pss, rss, 100*float64(rss)/float64(max(pss, 1)))
}

// coreLimit returns "SOFT HARD" of the core file size in /proc/PID/limits.
func coreLimit(pid int) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "limits"))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "Max core file size"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				return f[0] + " " + f[1], nil
			}
		}
	}
	return "", fmt.Errorf("no core file size in /proc/%d/limits", pid)
}
