//go:build !linux && !freebsd

package peercred

// Supported: no peer credentials read here (macOS and Windows).
const Supported = false

func fdUID(int) (int, error) { return -1, ErrUnsupported }
