package peercred

import "golang.org/x/sys/unix"

// Supported: Linux has SO_PEERCRED.
const Supported = true

func fdUID(fd int) (int, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}
