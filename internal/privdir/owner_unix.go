//go:build unix

package privdir

import (
	"io/fs"
	"os"
	"syscall"
)

// checkModes: POSIX permission bits mean what they say here.
const checkModes = true

// owner returns the uid that owns fi and whether it is the effective user.
func owner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, false
	}
	return int(st.Uid), int(st.Uid) == os.Geteuid()
}
