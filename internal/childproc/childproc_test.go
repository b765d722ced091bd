package childproc

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestRunStatus: the child's exit code comes back as the status, its
// streams and environment are the ones given.
func TestRunStatus(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run")
	}
	t.Parallel()
	for _, tt := range []struct {
		script string
		status int
		out    string
	}{
		{`exit 0`, 0, ""},
		{`exit 3`, 3, ""},
		{`read line; echo "$line $CHILDPROC_TEST"; exit 42`, 42, "in from-env\n"},
	} {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			status, err := Run(Cmd{
				Argv:   []string{"sh", "-c", tt.script},
				Env:    append(os.Environ(), "CHILDPROC_TEST=from-env"),
				Stdin:  strings.NewReader("in\n"),
				Stdout: &out,
			})
			if err != nil || status != tt.status || out.String() != tt.out {
				t.Fatalf("Run = %d, %v, stdout %q; want %d, nil, %q", status, err, out.String(), tt.status, tt.out)
			}
		})
	}
}

// TestRunSignaled: a child that a signal ended reports 128 plus its
// number, as a shell does.
func TestRunSignaled(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no signals end processes on Windows")
	}
	t.Parallel()
	status, err := Run(Cmd{Argv: []string{"sh", "-c", `kill -KILL $$`}})
	if err != nil || status != SignalBase+9 {
		t.Fatalf("Run = %d, %v; want %d", status, err, SignalBase+9)
	}
}

// TestRunNotStarted: a command that cannot be started is an error, not a
// status.
func TestRunNotStarted(t *testing.T) {
	t.Parallel()
	for _, argv := range [][]string{nil, {"/nonexistent/childproc-test"}} {
		if status, err := Run(Cmd{Argv: argv}); err == nil {
			t.Errorf("Run(%q) = %d, nil; want an error", argv, status)
		}
	}
}
