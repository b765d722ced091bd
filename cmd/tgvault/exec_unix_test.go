//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestExecPassesTERM: a SIGTERM sent to tgvault alone (kill PID, a
// supervisor) reaches CMD, and exec waits for CMD and returns its status,
// so what follows CMD (exec --relay's revoke) still runs. Without the
// pass-on the SIGTERM kills the test binary.
func TestExecPassesTERM(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var stderr bytes.Buffer
	a := &app{stdout: w, stderr: &stderr, getenv: func(string) string { return "" }}
	done := make(chan error, 1)
	go func() {
		done <- a.execWith([]string{"sh", "-c", `trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done`})
		w.Close()
	}()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var st exitStatus
		if !errors.As(err, &st) || st != 42 {
			t.Fatalf("exec returned %v, want CMD's exit status 42 (stderr %q)", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("CMD did not end after the SIGTERM")
	}
}
