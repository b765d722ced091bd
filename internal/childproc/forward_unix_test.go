//go:build unix

package childproc

import (
	"bufio"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestRunPassesTERM: a SIGTERM sent to this process alone (kill PID, a
// supervisor) reaches the child, and Run waits for the child and returns
// its status, so what follows it still runs. Without the pass-on the
// SIGTERM kills the test binary. Not parallel: it signals the process.
func TestRunPassesTERM(t *testing.T) {
	r, w := io.Pipe()
	done := make(chan struct{})
	var status int
	var err error
	go func() {
		defer close(done)
		status, err = Run(Cmd{Argv: []string{"sh", "-c", `trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done`}, Stdout: w})
		w.Close()
	}()
	line, rerr := bufio.NewReader(r).ReadString('\n')
	if rerr != nil || line != "ready\n" {
		t.Fatalf("child said %q, %v", line, rerr)
	}
	go io.Copy(io.Discard, r)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if err != nil || status != 42 {
			t.Fatalf("Run = %d, %v; want the child's exit status 42", status, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not end after the SIGTERM")
	}
}
