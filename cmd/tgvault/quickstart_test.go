//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
)

// TestReadmeQuickStart runs the README's Quick start as a new user on a
// headless server would: on a copy of the repository's files (a fresh
// clone), with a clean HOME, no D-Bus session and no XDG_RUNTIME_DIR, every
// command line of its ```sh blocks in order, as written; each must exit 0.
// What the user brings is set up first: ~/sessions/alice.session (a real
// Pyrogram session from testdata/vectors) and, for `init` only, the
// passphrase in TGVAULT_PASSPHRASE_FILE (as its comment says); the one
// placeholder, `age1...`, becomes a fresh recipient. The sockets (the
// demo's local API, init's agent) are then in the home. `./tgvault demo` runs
// in the background until it says what to try (the lines after it are
// typed "in another terminal"), and is stopped with Ctrl-C (SIGINT) at the
// end: it must exit 0 and leave no throwaway vault behind. The agent that
// init starts must be gone after `lock`.
//
// It builds the binary (the first line), so it runs only with
// TGVAULT_QUICKSTART=1 (a step of .ci/run).
func TestReadmeQuickStart(t *testing.T) {
	if os.Getenv("TGVAULT_QUICKSTART") == "" {
		t.Skip("TGVAULT_QUICKSTART=1 runs the README's Quick start on a copy of the repository (a step of .ci/run)")
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := quickStartLines(string(readme))
	if len(lines) < 5 || !strings.HasPrefix(lines[0], "go build") {
		t.Fatalf("the README's Quick start has %d command lines, the first %q: the test no longer finds it", len(lines), lines)
	}

	base := t.TempDir()
	clone := filepath.Join(base, "clone")
	copyRepo(t, repo, clone)
	home := filepath.Join(base, "home")
	tmp := filepath.Join(base, "tmp")
	for _, d := range []string{filepath.Join(home, "sessions"), tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	session, err := os.ReadFile(vector("pyrogram", "pyrogram_v3.session"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "sessions", "alice.session"), session, 0o600); err != nil {
		t.Fatal(err)
	}
	passFile := filepath.Join(base, "passphrase")
	if err := os.WriteFile(passFile, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	env := quickStartEnv(t, home, tmp)

	var demo *bgCmd
	defer func() {
		if demo != nil {
			demo.stop()
		}
	}()
	for _, line := range lines {
		line = strings.ReplaceAll(line, "age1...", id.Recipient().String())
		if line == "./tgvault demo" {
			demo = startBg(t, clone, env, line)
			if err := demo.waitFor("Ctrl-C stops", 3*time.Minute); err != nil {
				t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", line, err, demo.out.String(), demo.err.String())
			}
			continue
		}
		lineEnv := env
		if strings.HasPrefix(line, "./tgvault init") {
			lineEnv = append(env[:len(env):len(env)], "TGVAULT_PASSPHRASE_FILE="+passFile)
		}
		timeout := 2 * time.Minute
		if strings.HasPrefix(line, "go build") {
			timeout = 15 * time.Minute
		}
		stdout, stderr, err := runLine(clone, lineEnv, line, timeout)
		if err != nil {
			t.Fatalf("Quick start line failed: %s\n%v\nstdout:\n%s\nstderr:\n%s", line, err, stdout, stderr)
		}
		t.Logf("ok: %s", line)
		for _, c := range []struct{ prefix, want string }{
			{"./tgvault call demo-bot me", "is_bot"},
			{"./tgvault list", "alice"},
			{"./tgvault export alice --format telethon", "1"}, // a Telethon string starts with its version, 1
		} {
			if strings.HasPrefix(line, c.prefix) && !strings.Contains(stdout, c.want) {
				t.Errorf("%s: stdout %q lacks %q", line, stdout, c.want)
			}
		}
	}
	if demo == nil {
		t.Fatal("the Quick start no longer runs ./tgvault demo")
	}
	code := demo.stop()
	demo = nil
	if code != 0 {
		t.Errorf("./tgvault demo after Ctrl-C: exit %d", code)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "tgvault-demo-*"))
	if len(left) > 0 {
		t.Errorf("the demo left its throwaway vault: %v", left)
	}
	// The agent's socket was in the home (no XDG_RUNTIME_DIR), and lock
	// leaves the agent holding nothing: it exits.
	runDir := filepath.Join(home, ".local", "state", "tgvault", "run")
	if fi, err := os.Stat(runDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the socket directory in the home: %v, %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(tmp, fmt.Sprintf("tgvault-%d", os.Geteuid()))); err == nil {
		t.Errorf("a socket directory was made under TMPDIR although the home has one")
	}
	agentSock := filepath.Join(runDir, "agent.sock")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(agentSock); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the agent's socket %s is still there 10 s after lock", agentSock)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// quickStartLines returns the command lines of the ```sh blocks of the
// README's "## Quick start" section (up to the next heading), without
// their trailing comments.
func quickStartLines(readme string) []string {
	var out []string
	in, fence := false, false
	comment := regexp.MustCompile(`\s{2,}#.*$`)
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```"):
			fence = !fence && strings.TrimPrefix(l, "```") == "sh"
			continue
		case !fence && strings.HasPrefix(l, "#"):
			if in {
				return out
			}
			in = strings.TrimSpace(l) == "## Quick start"
			continue
		}
		if in && fence {
			if l = strings.TrimSpace(comment.ReplaceAllString(l, "")); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return out
}

// quickStartEnv is a new user's environment on a headless server: PATH,
// a clean HOME and TMPDIR, no D-Bus, no XDG_RUNTIME_DIR, nothing of
// tgvault's; Go's caches stay where they are (a fresh clone still has the
// modules it downloads).
func quickStartEnv(t *testing.T, home, tmp string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + tmp, "NO_COLOR=1",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/tgvault-quickstart"}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		if v := strings.TrimSpace(string(out)); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// copyRepo copies the repository's files as a clone has them (and the
// work tree's new files not ignored, so that it tests work in progress).
func copyRepo(t *testing.T, repo, dst string) {
	out, err := exec.Command("git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(repo, f)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func runLine(dir string, env []string, line string, timeout time.Duration) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader("")
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// bgCmd is a Quick start line that runs until Ctrl-C.
type bgCmd struct {
	cmd      *exec.Cmd
	out, err syncBuffer
	done     chan struct{}
}

func startBg(t *testing.T, dir string, env []string, line string) *bgCmd {
	b := &bgCmd{done: make(chan struct{})}
	// exec: the shell becomes the command, so SIGINT reaches it.
	b.cmd = exec.Command("sh", "-c", "exec "+line)
	b.cmd.Dir, b.cmd.Env = dir, env
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.err
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.done)
	}()
	return b
}

func (b *bgCmd) waitFor(s string, d time.Duration) error {
	deadline := time.After(d)
	for !strings.Contains(b.out.String(), s) {
		select {
		case <-b.done:
			return fmt.Errorf("exited (%v) before printing %q", b.cmd.ProcessState, s)
		case <-deadline:
			return fmt.Errorf("did not print %q within %v", s, d)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// stop sends SIGINT (Ctrl-C) and returns the exit code (-1: killed after
// a minute).
func (b *bgCmd) stop() int {
	_ = b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-b.done:
	case <-time.After(time.Minute):
		_ = b.cmd.Process.Kill()
		<-b.done
		return -1
	}
	return b.cmd.ProcessState.ExitCode()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

var _ io.Writer = (*syncBuffer)(nil)

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
