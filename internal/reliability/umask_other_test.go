//go:build !unix

package reliability

// setUmask reports that the OS has no umask (Windows: file modes are not
// POSIX permissions, so the mode test does not apply).
func setUmask(int) (old int, ok bool) { return 0, false }
