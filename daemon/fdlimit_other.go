//go:build !unix

package daemon

// openFileLimit reports no limit: Windows has no per-process limit on
// sockets like RLIMIT_NOFILE.
func openFileLimit() (uint64, bool) { return 0, false }
