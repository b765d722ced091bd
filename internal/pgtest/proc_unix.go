//go:build unix

package pgtest

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// unprivilegedUser runs PostgreSQL's programs when the tests run as root,
// which initdb, pg_ctl and postgres all refuse.
const unprivilegedUser = "nobody"

// unprivileged returns the process attributes for PostgreSQL's programs:
// nil normally, and when this process is root, those that run them as
// nobody, to whom it then gives the paths (the directory the cluster, the
// socket and the log live in, and the log).
func unprivileged(paths ...string) (*syscall.SysProcAttr, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(unprivilegedUser)
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs an unprivileged user: %w", err)
	}
	uid, err := strconv.ParseInt(u.Uid, 10, 64) // macOS's nobody is -2
	if err != nil {
		return nil, fmt.Errorf("uid of %s: %w", unprivilegedUser, err)
	}
	gid, err := strconv.ParseInt(u.Gid, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("gid of %s: %w", unprivilegedUser, err)
	}
	for _, p := range paths {
		if err := os.Chown(p, int(uid), int(gid)); err != nil {
			return nil, err
		}
	}
	return &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, // no supplementary groups
	}, nil
}
