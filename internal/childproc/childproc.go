// Package childproc runs one command as a child of tgvault and passes its
// exit status on: `tgvault exec` and `exec --relay` hand a session (or a
// relay session) to a program this way, and what follows the program
// (the relay session's revoke) must run however the program ends.
//
// A Ctrl-C reaches the child by itself (it is in the terminal's process
// group); a SIGTERM or SIGHUP sent to tgvault alone (kill PID, a
// supervisor) is passed on to the child. Either way Run waits for the
// child to end and returns its status instead of letting tgvault die
// first.
//
// Layer rule (docs/ARCHITECTURE.md): a leaf; it imports the standard
// library only.
package childproc

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
)

// SignalBase is added to the number of the signal that ended a child, as
// shells report it (a child killed by SIGTERM: 143).
const SignalBase = 128

// Cmd is one command to run.
type Cmd struct {
	Argv []string // the program and its arguments; Argv[0] is looked up in PATH
	Env  []string // its whole environment (NAME=VALUE)
	// Its standard streams; nil is the null device.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Run runs c until it ends and returns its exit status: its exit code,
// or SignalBase plus the signal's number when a signal ended it. While it
// runs, the signals of forwarded (SIGTERM, and SIGHUP where there is one)
// that reach this process are passed on to it, and SIGINT is ignored here
// (the child, in the same process group, gets its own). err is set only
// when c could not be started or waited for (then the status is
// meaningless).
func Run(c Cmd) (status int, err error) {
	if len(c.Argv) == 0 {
		return 0, errors.New("childproc: no command")
	}
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Env = c.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, append([]os.Signal{os.Interrupt}, forwarded...)...)
	defer signal.Stop(sig)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sig:
				if s != os.Interrupt {
					_ = cmd.Process.Signal(s) // the child may have ended already
				}
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		if n, ok := signaled(ee.ProcessState); ok {
			return SignalBase + n, nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}
