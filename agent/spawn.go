package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// SpawnTimeout bounds how long Spawn waits for a new agent to listen.
const SpawnTimeout = 10 * time.Second

// The agent process's first line on its stdout tells Spawn how it went:
// ReadyLine once Serve listens (Config.Ready), RunningLine when another
// agent serves the socket already (ErrRunning); anything else is why it
// could not start.
const RunningLine = "ok already running\n"

// ReadyLine is the line an agent process writes once it listens.
func ReadyLine(in Info) string { return fmt.Sprintf("ok pid %d memory %s\n", in.PID, in.Memory) }

// ServeSpawned is Serve in the process Spawn started: it writes ReadyLine
// to w once it listens, and RunningLine when another agent serves the
// socket already (then it returns nil: the key goes to that one).
func ServeSpawned(ctx context.Context, cfg Config, w io.Writer) error {
	cfg.Ready = func(in Info) { fmt.Fprint(w, ReadyLine(in)) }
	err := Serve(ctx, cfg)
	if errors.Is(err, ErrRunning) {
		fmt.Fprint(w, RunningLine)
		return nil
	}
	return err
}

// Spawn starts argv, a command that runs Serve and reports with ReadyLine
// or RunningLine, as a process of its own (a new session, no terminal, an
// empty environment, in /) and waits until it listens, or says why it
// cannot. Nothing secret reaches it this way: a key follows over the
// socket.
func Spawn(argv []string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("starting the agent: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = detached()
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("starting the agent: %w", err)
	}
	defer cmd.Process.Release()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		if strings.HasPrefix(l, "ok") {
			return nil
		}
		if l == "" {
			l = "it exited without a word"
		}
		return fmt.Errorf("starting the agent: %s", strings.TrimPrefix(l, "tgvault: "))
	case <-time.After(SpawnTimeout):
		_ = cmd.Process.Kill()
		return fmt.Errorf("starting the agent: not listening after %v", SpawnTimeout)
	}
}
