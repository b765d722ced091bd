package atomicfile

import (
	"os"
	"syscall"
)

// holdReplaced opens the file at path, which a rename is about to
// replace, to hold its inode across the rename (Temp.Rename); nil when
// there is none or it cannot be opened. O_NOFOLLOW and O_NONBLOCK: a
// symlink is not followed, a FIFO planted there does not block; nothing
// is read.
func holdReplaced(path string) *os.File {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	return f
}
