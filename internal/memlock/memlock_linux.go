package memlock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// CapIPCLock is CAP_IPC_LOCK, the capability that lifts RLIMIT_MEMLOCK.
const CapIPCLock = 14

// Allowed reports whether the whole process may be locked: its
// RLIMIT_MEMLOCK is unlimited or it holds CAP_IPC_LOCK. Any finite limit
// is refused, however large: with MCL_FUTURE every later mapping must
// lock too, and the Go runtime aborts when one cannot.
func Allowed() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return fmt.Errorf("%w: reading RLIMIT_MEMLOCK: %v", ErrNotLocked, err)
	}
	if lim.Cur == unix.RLIM_INFINITY || HasCapIPCLock() {
		return nil
	}
	return fmt.Errorf("%w: RLIMIT_MEMLOCK is %d KiB and the process lacks CAP_IPC_LOCK (in the initial user namespace); "+
		"raise the limit to unlimited (systemd: LimitMEMLOCK=infinity; shell: ulimit -l unlimited; "+
		"/etc/security/limits.conf: memlock unlimited) or grant CAP_IPC_LOCK (systemd: AmbientCapabilities=CAP_IPC_LOCK; docker: --cap-add IPC_LOCK; in a rootless container only the unlimited limit helps)",
		ErrNotAllowed, lim.Cur/1024)
}

// HasCapIPCLock reports whether the calling thread has CAP_IPC_LOCK in
// its effective set and that counts: the kernel checks it against the
// initial user namespace, so inside another one (rootless containers,
// userns-remap, unprivileged LXC) it lifts no limit and only an
// unlimited RLIMIT_MEMLOCK does. tgvault never changes its credentials,
// so every thread has the same.
func HasCapIPCLock() bool {
	if !InInitialUserNS() {
		return false
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[CapIPCLock/32].Effective&(1<<(CapIPCLock%32)) != 0
}

// InInitialUserNS reports whether the process is in the initial user
// namespace: its uid_map maps every uid to itself. Unreadable means no.
func InInitialUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return isIdentityUIDMap(string(b))
}

// isIdentityUIDMap reports whether a uid_map is the initial namespace's:
// one line "0 0 4294967295".
func isIdentityUIDMap(m string) bool {
	f := strings.Fields(m)
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// LockAll locks every page the process has and will have, each when it
// is first touched (MCL_ONFAULT, Linux 4.4): without it every heap arena
// the runtime maps would be filled at once.
func LockAll() error {
	err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w: mlockall: the kernel has no MCL_ONFAULT (Linux 4.4 or later needed)", ErrNotLocked)
	}
	return fmt.Errorf("%w: mlockall: %v", ErrNotLocked, err)
}

// ProcKB returns the figure in kB of the line of /proc/PID/FILE that
// starts with field: "VmLck:" of status (locked mappings), "Locked:" and
// "Pss:" of smaps_rollup (resident memory locked, and in all; both
// proportional). For the tests that check a running tgvault.
func ProcKB(pid int, file, field string) (int64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), file))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/%s", field, pid, file)
}
