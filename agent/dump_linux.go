package agent

import "golang.org/x/sys/unix"

// dontDump leaves b out of core dumps (MADV_DONTDUMP), besides the
// process-wide no-core and not-dumpable settings of memlock.Harden
// (which cmd/tgvault's main calls first).
func dontDump(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTDUMP) }
