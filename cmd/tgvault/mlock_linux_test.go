package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/tgvault/tgvault/internal/memlock"
	"github.com/tgvault/tgvault/internal/realpart"
)

// envMlockChild selects what the re-exec'd child of TestMemlock checks.
const envMlockChild = "TGVAULT_TEST_MLOCK"

// lowMemlock is the RLIMIT_MEMLOCK of a process without the permission:
// far below what the Go runtime maps, as on a desktop (8 MiB there).
const lowMemlock = 64 << 10

// TestMemlock checks run's memory locking in child processes, so that the
// test binary keeps its own memory unlocked: with the permission (root,
// as in CI) every page is locked, those mapped later too, and memory
// freed is still given back to the OS; without it (the
// capability dropped, the limit lowered) on refuses naming the fixes,
// auto warns and goes on, and nothing is locked.
func TestMemlock(t *testing.T) {
	switch os.Getenv(envMlockChild) {
	case "lock":
		memlockChildLock(t)
		return
	case "refuse":
		memlockChildRefuse(t)
		return
	case "userns":
		memlockChildUserNS(t)
		return
	}
	child := func(mode string, argv ...string) {
		t.Helper()
		argv = append(argv, os.Args[0], "-test.run=^TestMemlock$", "-test.count=1", "-test.v")
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), envMlockChild+"="+mode)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestMemlock") {
			t.Fatalf("child %s: %v\n%s", mode, err, out)
		}
	}
	// The scripts' nomlock (on PATH, from testscript.Main) drops the
	// permission and execs the child.
	child("refuse", "nomlock")
	// Root of a user namespace of its own (a rootless container): its
	// CAP_IPC_LOCK lifts no limit.
	child("userns", realpart.LookPath(t, "unshare", "util-linux"), "--user", "--map-root-user")
	if err := memlock.Allowed(); err != nil {
		realpart.Missing(t, "the permission to lock memory", "run as root, grant CAP_IPC_LOCK or ulimit -l unlimited")
	}
	child("lock")
}

func memlockChildLock(t *testing.T) {
	if n, r := vmLck(t, os.Getpid()), lockedRSS(t, os.Getpid()); n != 0 || r != 0 {
		t.Fatalf("VmLck %d kB, resident locked %d kB before locking: the test shows nothing", n, r)
	}
	var stderr bytes.Buffer
	a := &app{stderr: &stderr, getenv: func(string) string { return "" }}
	locked, err := a.lockMemory(memlock.On)
	if !locked || err != nil || stderr.Len() != 0 {
		t.Fatalf("lockMemory(on) = %v, %v, stderr %q; want locked", locked, err, stderr.String())
	}
	if vmLck(t, os.Getpid()) == 0 {
		t.Fatal("VmLck is 0 after mlockall")
	}
	before := lockedRSS(t, os.Getpid())
	if before == 0 {
		t.Fatal("no resident memory is locked after mlockall")
	}
	// Memory mapped after the lock is locked as it is touched.
	const size = 64 << 20
	b := make([]byte, size)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	peak := lockedRSS(t, os.Getpid())
	if peak < before+size/1024 {
		t.Fatalf("resident locked memory %d kB -> %d kB after touching %d kB: later memory is not locked", before, peak, size/1024)
	}
	runtime.KeepAlive(b)
	b = nil
	// The runtime's madvise fails on locked pages; it must not mind, and
	// it gives them back all the same (it maps fresh pages over them).
	runtime.GC()
	debug.FreeOSMemory()
	// Against the peak, not the start: under -race the detector's shadow
	// of the freed memory stays.
	if after := lockedRSS(t, os.Getpid()); after > peak-size/1024/2 {
		t.Errorf("resident locked memory %d kB after freeing %d kB (%d kB at the peak): not given back", after, size/1024, peak)
	}
	t.Logf("resident locked: %d kB before, %d kB with %d kB touched, %d kB after freeing it", before, peak, size/1024, lockedRSS(t, os.Getpid()))
}

func memlockChildRefuse(t *testing.T) {
	if memlock.HasCapIPCLock() {
		t.Fatal("CAP_IPC_LOCK survived the drop")
	}
	err := memlock.Allowed()
	if !errors.Is(err, memlock.ErrNotAllowed) || !errors.Is(err, memlock.ErrNotLocked) {
		t.Fatalf("memlock.Allowed() = %v; want memlock.ErrNotAllowed", err)
	}
	for _, want := range []string{"RLIMIT_MEMLOCK is 64 KiB", "CAP_IPC_LOCK", "LimitMEMLOCK=infinity", "ulimit -l unlimited"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not say %q", err, want)
		}
	}
	if err := checkMemlock(memlock.On); !errors.Is(err, memlock.ErrNotAllowed) {
		t.Errorf("checkMemlock(on) = %v; want the refusal", err)
	}
	var stderr bytes.Buffer
	a := &app{stderr: &stderr, getenv: func(string) string { return "" }}
	if locked, err := a.lockMemory(memlock.On); locked || !errors.Is(err, memlock.ErrNotAllowed) {
		t.Errorf("lockMemory(on) = %v, %v; want the refusal", locked, err)
	}
	if locked, err := a.lockMemory(memlock.Auto); locked || err != nil || !strings.Contains(stderr.String(), "LimitMEMLOCK=infinity") {
		t.Errorf("lockMemory(auto) = %v, %v, stderr %q; want a warning naming the fix", locked, err, stderr.String())
	}
	if n := vmLck(t, os.Getpid()); n != 0 {
		t.Errorf("VmLck is %d kB after the refusals", n)
	}
}

func memlockChildUserNS(t *testing.T) {
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: lowMemlock, Max: lowMemlock}); err != nil {
		t.Fatal(err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatal(err)
	}
	if data[0].Effective&(1<<memlock.CapIPCLock) == 0 || memlock.InInitialUserNS() {
		t.Fatalf("not root of a new user namespace (CapEff %#x, initial namespace %v): the test shows nothing", data[0].Effective, memlock.InInitialUserNS())
	}
	if memlock.HasCapIPCLock() {
		t.Error("CAP_IPC_LOCK of a user namespace counted as lifting RLIMIT_MEMLOCK")
	}
	if err := checkMemlock(memlock.On); !errors.Is(err, memlock.ErrNotAllowed) || !strings.Contains(err.Error(), "rootless") {
		t.Errorf("checkMemlock(on) in a user namespace = %v; want the refusal naming the rootless case", err)
	}
	if n := vmLck(t, os.Getpid()); n != 0 {
		t.Errorf("VmLck is %d kB", n)
	}
}

// dropMemlockPermission takes the permission to lock memory from the
// calling thread and every program it execs: RLIMIT_MEMLOCK down to
// lowMemlock, CAP_IPC_LOCK out of the bounding, ambient, inheritable,
// permitted and effective sets. The caller must be locked to its thread.
func dropMemlockPermission() error {
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: lowMemlock, Max: lowMemlock}); err != nil {
		return fmt.Errorf("lowering RLIMIT_MEMLOCK: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAPBSET_DROP, memlock.CapIPCLock, 0, 0, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("dropping CAP_IPC_LOCK from the bounding set: %w", err)
	}
	_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_LOWER, memlock.CapIPCLock, 0, 0)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	for i := range data {
		data[i].Effective &^= bitIPCLock(i)
		data[i].Permitted &^= bitIPCLock(i)
		data[i].Inheritable &^= bitIPCLock(i)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

func bitIPCLock(word int) uint32 {
	if word != memlock.CapIPCLock/32 {
		return 0
	}
	return 1 << (memlock.CapIPCLock % 32)
}

// vmLck returns the memory of process pid in locked mappings, in kB
// (VmLck of /proc/PID/status: with MCL_ONFAULT this counts pages not yet
// touched too).
func vmLck(t testing.TB, pid int) int64 {
	t.Helper()
	n, err := memlock.ProcKB(pid, "status", "VmLck:")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lockedRSS returns the memory of process pid that is resident and
// locked, in kB (Locked of /proc/PID/smaps_rollup).
func lockedRSS(t testing.TB, pid int) int64 {
	t.Helper()
	n, err := memlock.ProcKB(pid, "smaps_rollup", "Locked:")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// nomlockMain is `nomlock PROG ARGS...` of the scripts: it runs PROG
// without the permission to lock memory (dropMemlockPermission).
func nomlockMain() {
	runtime.LockOSThread()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: nomlock PROG [ARGS...]")
		os.Exit(2)
	}
	prog, err := exec.LookPath(os.Args[1])
	if err == nil {
		err = dropMemlockPermission()
	}
	if err == nil {
		err = syscall.Exec(prog, os.Args[1:], os.Environ())
	}
	fmt.Fprintln(os.Stderr, "nomlock:", err)
	os.Exit(1)
}

// cmdVmLck runs `[!] vmlck VAULTDIR`: the run holding the vault's run
// lock has locked memory (VmLck > 0, and resident locked memory where
// this process may read the smaps of a process that is not dumpable), or
// with ! none (VmLck 0).
func cmdVmLck(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: vmlck SOCKET")
	}
	pid := socketPID(ts, ts.MkAbs(args[0]))
	n, err := memlock.ProcKB(pid, "status", "VmLck:")
	ts.Check(err)
	ts.Logf("VmLck of run: %d kB", n)
	if (n > 0) == neg {
		ts.Fatalf("vmlck: VmLck of run is %d kB", n)
	}
	if neg {
		return
	}
	switch rss, err := memlock.ProcKB(pid, "smaps_rollup", "Locked:"); {
	case errors.Is(err, fs.ErrPermission):
		ts.Logf("smaps_rollup of run not readable here: resident locked memory not checked")
	case err != nil:
		ts.Fatalf("vmlck: %v", err)
	case rss == 0:
		ts.Fatalf("vmlck: no resident memory of run is locked")
	default:
		ts.Logf("resident and locked: %d kB", rss)
	}
}

// memlockCond is the scripts' [memlock] condition: this process may lock
// its memory, so a run it starts may too.
func memlockCond() bool { return memlock.Allowed() == nil }
