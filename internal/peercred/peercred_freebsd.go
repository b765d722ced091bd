package peercred

import "golang.org/x/sys/unix"

// Supported: FreeBSD has LOCAL_PEERCRED (getpeereid's source).
const Supported = true

func fdUID(fd int) (int, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}
