//go:build unix

package reliability

import "syscall"

// setUmask sets the process umask and returns the old one.
func setUmask(m int) (old int, ok bool) { return syscall.Umask(m), true }
