package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// capIPCLock is CAP_IPC_LOCK, the capability that lifts RLIMIT_MEMLOCK.
const capIPCLock = 14

// memlockAllowed reports whether the whole process may be locked: its
// RLIMIT_MEMLOCK is unlimited or it holds CAP_IPC_LOCK. Any finite limit
// is refused, however large: with MCL_FUTURE every later mapping must
// lock too, and the Go runtime aborts when one cannot.
func memlockAllowed() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return fmt.Errorf("%w: reading RLIMIT_MEMLOCK: %v", errMemlock, err)
	}
	if lim.Cur == unix.RLIM_INFINITY || hasCapIPCLock() {
		return nil
	}
	return fmt.Errorf("%w: RLIMIT_MEMLOCK is %d KiB and the process lacks CAP_IPC_LOCK (in the initial user namespace); "+
		"raise the limit to unlimited (systemd: LimitMEMLOCK=infinity; shell: ulimit -l unlimited; "+
		"/etc/security/limits.conf: memlock unlimited) or grant CAP_IPC_LOCK (systemd: AmbientCapabilities=CAP_IPC_LOCK; docker: --cap-add IPC_LOCK; in a rootless container only the unlimited limit helps)",
		errMemlockNotAllowed, lim.Cur/1024)
}

// hasCapIPCLock reports whether the calling thread has CAP_IPC_LOCK in
// its effective set and that counts: the kernel checks it against the
// initial user namespace, so inside another one (rootless containers,
// userns-remap, unprivileged LXC) it lifts no limit and only an
// unlimited RLIMIT_MEMLOCK does. tgvault never changes its credentials,
// so every thread has the same.
func hasCapIPCLock() bool {
	if !initialUserNS() {
		return false
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[capIPCLock/32].Effective&(1<<(capIPCLock%32)) != 0
}

// initialUserNS reports whether the process is in the initial user
// namespace: its uid_map maps every uid to itself. Unreadable means no.
func initialUserNS() bool {
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

// mlockAll locks every page the process has and will have, each when it
// is first touched (MCL_ONFAULT, Linux 4.4): without it every heap arena
// the runtime maps would be filled at once.
func mlockAll() error {
	err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w: mlockall: the kernel has no MCL_ONFAULT (Linux 4.4 or later needed)", errMemlock)
	}
	return fmt.Errorf("%w: mlockall: %v", errMemlock, err)
}
