//go:build unix

package agent

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockedBuf is memory outside the Go heap, locked against swap where the
// OS lets the process lock it, and left out of core dumps where it can
// say so. The runtime never moves or copies it; free wipes it.
type lockedBuf struct {
	b      []byte // the n bytes asked for
	mem    []byte // the whole mapping (nil when on the heap)
	mapped bool
	locked bool
}

// newLockedBuf maps n bytes (rounded up to whole pages). A failed mapping
// falls back to the Go heap (still wiped on free); a failed lock leaves
// the memory swappable and says so in locked.
func newLockedBuf(n int) *lockedBuf {
	ps := os.Getpagesize()
	size := (n + ps - 1) / ps * ps
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return &lockedBuf{b: make([]byte, n)}
	}
	l := &lockedBuf{b: b[:n:n], mem: b, mapped: true}
	l.locked = unix.Mlock(b) == nil
	dontDump(b)
	return l
}

// free wipes the memory and gives it back.
func (l *lockedBuf) free() {
	if l == nil || l.b == nil {
		return
	}
	clear(l.b)
	if l.mapped {
		clear(l.mem)
		if l.locked {
			_ = unix.Munlock(l.mem)
		}
		_ = unix.Munmap(l.mem)
	}
	l.b, l.mem = nil, nil
}
