//go:build linux

package storage

import (
	"syscall"
	"unsafe"
)

// madvCollapse is Linux's MADV_COLLAPSE (6.1 and later): back the range
// with huge pages now, synchronously, whatever the transparent huge page
// setting ("madvise" on most servers) says for later faults.
const madvCollapse = 25

// hugePages asks the kernel to back the whole huge pages inside the n
// bytes at p with huge pages. A random lookup in a table of megabytes
// misses the TLB as well as the cache; on a virtual machine each TLB miss
// walks two levels of page tables. Advice only: an older kernel, or one
// without huge pages free, says no, and nothing changes.
func hugePages(p unsafe.Pointer, n uintptr) {
	start := (uintptr(p) + hugePageSize - 1) &^ (hugePageSize - 1)
	end := (uintptr(p) + n) &^ (hugePageSize - 1)
	if end <= start {
		return
	}
	_ = syscall.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, start-uintptr(p))), end-start), madvCollapse)
}
