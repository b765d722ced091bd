//go:build unix && !linux

package agent

// dontDump: no per-mapping exclusion here (FreeBSD's MADV_NOCORE is not in
// x/sys for every BSD); the process sets its core limit to 0.
func dontDump([]byte) {}
