//go:build unix

package vault

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFindSourcesFIFO: a named pipe is reported and never opened (opening
// one without a writer blocks for ever), below a directory or named.
func TestFindSourcesFIFO(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fifo := filepath.Join(root, "pipe.session")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, paths := range [][]string{{root}, {fifo}} {
			srcs, skip, err := FindSources(paths, FindOptions{})
			if err != nil || len(srcs) != 0 || len(skip) != 1 || !strings.Contains(skip[0].Reason, "named pipe") {
				t.Errorf("%v: %+v %+v %v", paths, srcs, skip, err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("FindSources blocked on a FIFO")
	}
}
