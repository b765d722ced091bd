package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/internal/atomicfile"
	"github.com/tgvault/tgvault/internal/userdirs"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/vault"
)

// The demo's accounts: the dev server's demo bot and demo user.
const (
	demoBotName  = "demo-bot"
	demoUserName = "demo-user"
)

// demoReadyTimeout bounds how long the demo waits for its accounts to be
// online.
const demoReadyTimeout = 60 * time.Second

// demoCmd runs tgvault's main job on a throwaway vault: init, login of the
// dev server's demo bot and user, and run, each the command itself run in
// this process on the demo's own environment (its vault directory, its
// dev server, a keyring that lives in this process's memory).
func (a *app) demoCmd() *cobra.Command {
	var socket, infoFile string
	cmd := &cobra.Command{
		Use:   "demo [--socket PATH] [--info-file FILE]",
		Short: "Try tgvault: a throwaway vault with two accounts online on a local dev server",
		Long: `Try tgvault without a Telegram account, a keyring or a passphrase: demo makes
a throwaway vault in a temporary directory, starts a local dev server (real
MTProto key exchange and encryption; it is not Telegram), logs its demo bot
and demo user in (` + demoBotName + `, ` + demoUserName + `), and runs the pool with the local API, as
` + "`tgvault run`" + ` does. It prints the ` + "`tgvault call`" + ` and curl lines to try in another
terminal. Ctrl-C stops it and removes the throwaway vault and server.

The local API listens on run's usual socket when no run serves there (so
` + "`tgvault call`" + ` finds it), else on a socket in the throwaway directory; --socket
puts it elsewhere. The vault key lives only in this process's memory; nothing
is written outside the temporary directory, and nothing goes to the network.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			return a.demo(ctx, socket, infoFile)
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "the local API socket `PATH`")
	cmd.Flags().StringVar(&infoFile, "info-file", "", "once the accounts are online, write what the demo prints, as JSON, to `FILE`")
	return cmd
}

// demo runs the demo until ctx ends: a throwaway directory, the dev
// server, init and the two logins as commands of this process, then run.
//
// Long: the demo's life in order, each step's cleanup deferred right after
// it (the throwaway directory is removed last, after run and the server
// are done with it); the steps that stand alone are functions already.
func (a *app) demo(ctx context.Context, socket, infoFile string) (err error) {
	dir, err := os.MkdirTemp(userdirs.TempDir(a.getenv), "tgvault-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing the throwaway vault: %w", rerr))
			return
		}
		if !a.json {
			a.notef("demo stopped; removed the throwaway vault %s", dir)
		}
	}()
	sock, err := a.demoSocket(socket, dir)
	if err != nil {
		return err
	}

	srv, stopSrv, err := devserver.StartDemo(filepath.Join(dir, "dev-server"))
	if err != nil {
		return err
	}
	defer stopSrv()
	env, err := demoFiles(dir, srv)
	if err != nil {
		return err
	}
	kr := &vault.MemoryKeyring{} // the throwaway vault's key lives in this process only
	step := func(ctx context.Context, extra map[string]string, args ...string) error {
		var errOut bytes.Buffer
		c := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errOut, held: kr, ctx: ctx,
			getenv: demoEnv(a.getenv, env, extra)}
		if code := c.run(args); code != exitOK {
			return fmt.Errorf("demo: tgvault %s: exit %d: %s", args[0], code, strings.TrimSpace(errOut.String()))
		}
		return nil
	}
	if err := step(ctx, map[string]string{"TGVAULT_PASSPHRASE_FILE": filepath.Join(dir, "pass")}, "init"); err != nil {
		return err
	}
	if err := step(ctx, nil, "login", demoBotName); err != nil {
		return err
	}
	if err := step(ctx, map[string]string{"TGVAULT_BOT_TOKEN_FILE": ""}, "login", demoUserName, "--phone", "+"+devserver.DemoPhone); err != nil {
		return err
	}

	// run, until ctx ends (Ctrl-C).
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var runOut lockedBuffer
	run := goRun(func() error {
		c := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &runOut, held: kr, ctx: runCtx,
			getenv: demoEnv(a.getenv, env, nil)}
		if code := c.run([]string{"run", "--socket", sock}); code != exitOK {
			return fmt.Errorf("demo: tgvault run: exit %d: %s", code, strings.TrimSpace(runOut.String()))
		}
		return nil
	})
	if err := demoWaitReady(ctx, sock, run); err != nil {
		// run must be done with the throwaway vault before it is removed.
		stopRun()
		if rerr := run.wait(); rerr != nil && ctx.Err() == nil && !errors.Is(err, rerr) {
			err = errors.Join(err, rerr)
		}
		if ctx.Err() != nil {
			return nil // Ctrl-C before the accounts were online: a clean stop
		}
		return err
	}
	if err := a.demoPrint(dir, srv.Addr(), sock, socket != "" || sock != a.defaultSocket(), infoFile); err != nil {
		stopRun()
		_ = run.wait()
		return err
	}
	// run's own warnings (an account's trouble) from here on.
	runOut.tee(a.stderr)
	select {
	case <-run.done:
		return run.err
	case <-ctx.Done():
		stopRun()
		return run.wait()
	}
}

// background is a function running in a goroutine: done is closed when it
// has returned err (wait may be called any number of times).
type background struct {
	done chan struct{}
	err  error
}

func goRun(f func() error) *background {
	b := &background{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.err = f()
	}()
	return b
}

func (b *background) wait() error {
	<-b.done
	return b.err
}

// demoFiles writes the secrets the demo's commands read from files (a
// random vault passphrase, the login code, the demo bot's token) into
// dir, 0600, and returns the demo's environment naming them.
func demoFiles(dir string, srv *devserver.Server) (map[string]string, error) {
	token, err := srv.Demo() // the same token every call
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"pass": hex.EncodeToString(randBytes(16)) + "\n",
		"code": devserver.DefaultLoginCode + "\n",
		"bot":  token + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	return map[string]string{
		"TGVAULT_DIR":             filepath.Join(dir, "vault"),
		"TGVAULT_SERVER":          srv.Addr(),
		"TGVAULT_SERVER_KEY":      srv.PublicKeyPath(),
		"TGVAULT_LOGIN_CODE_FILE": filepath.Join(dir, "code"),
		"TGVAULT_BOT_TOKEN_FILE":  filepath.Join(dir, "bot"),
		"TGVAULT_MLOCK":           "off",
		// The format anchors of a throwaway vault stay in its directory.
		"XDG_STATE_HOME": filepath.Join(dir, "state"),
	}, nil
}

// demoSocket is --socket, else run's usual socket unless a run serves on
// it, else one in the throwaway directory.
func (a *app) demoSocket(flag, dir string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if def := a.defaultSocket(); def != "" && !localapi.InUse(def) {
		return def, nil
	}
	return filepath.Join(dir, userdirs.RunSocketName), nil
}

// defaultSocket is the socket `tgvault call` uses without --socket ("" when
// its directory is not usable).
func (a *app) defaultSocket() string {
	s, err := a.socketPath("")
	if err != nil {
		return ""
	}
	return s
}

// demoWaitReady waits until both demo accounts are ready in run's pool,
// run stops, or ctx ends.
func demoWaitReady(ctx context.Context, sock string, run *background) error {
	ctx, cancel := context.WithTimeout(ctx, demoReadyTimeout)
	defer cancel()
	ready := goRun(func() error { return localapi.NewClient(sock).WaitReady(ctx, demoBotName, demoUserName) })
	select {
	case <-ready.done:
		if errors.Is(ready.err, context.DeadlineExceeded) {
			return fmt.Errorf("demo: the accounts were not online within %v (%w)", demoReadyTimeout, ready.err)
		}
		return ready.err
	case <-run.done:
		cancel()
		_ = ready.wait()
		if run.err == nil {
			return errors.New("demo: run stopped before its accounts were online")
		}
		return run.err
	}
}

// demoPrint says what runs and what to try.
func (a *app) demoPrint(dir, addr, sock string, ownSocket bool, infoFile string) error {
	self := selfCommand()
	call := self + " call"
	if ownSocket {
		call += " --socket " + sock
	}
	try := []string{
		call + " " + demoBotName + " me",
		call + " " + demoUserName + " users.getUsers '{\"id\":[{\"_\":\"inputUserSelf\"}]}'",
		"curl --unix-socket " + sock + " " + localapi.AccountsURL(),
		"curl --unix-socket " + sock + " " + localapi.InvokeURL(demoUserName) + " -d '{\"_\":\"help.getConfig\"}'",
	}
	info := struct {
		Dir      string   `json:"dir"`
		Server   string   `json:"server"`
		Socket   string   `json:"socket"`
		Accounts []string `json:"accounts"`
		Try      []string `json:"try"`
	}{dir, addr, sock, []string{demoBotName, demoUserName}, try}
	if a.json {
		if err := a.printJSON(info); err != nil {
			return err
		}
	} else {
		a.printf("tgvault demo: a throwaway vault in %s\n", dir)
		a.printf("  a local dev server on %s (real MTProto; not Telegram)\n", addr)
		a.printf("  %s and %s logged in and online; the local API on %s\n\n", demoBotName, demoUserName, sock)
		a.printf("Try, in another terminal:\n")
		for _, l := range try {
			a.printf("  %s\n", l)
		}
		a.printf("\nCtrl-C stops the demo and removes the throwaway vault.\n")
	}
	if infoFile == "" {
		return nil
	}
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(infoFile, append(b, '\n'))
}

// selfCommand is how the user ran tgvault, for the lines to try: `go run`
// builds into a temporary directory.
func selfCommand() string {
	self := os.Args[0]
	if strings.Contains(self, "go-build") {
		return "go run ./cmd/tgvault"
	}
	return self
}

// demoEnv is the demo commands' environment: tgvault's variables only
// from env and extra (an empty value unsets), the rest from getenv.
func demoEnv(getenv func(string) string, env, extra map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := extra[k]; ok {
			return v
		}
		if v, ok := env[k]; ok {
			return v
		}
		if strings.HasPrefix(k, "TGVAULT_") {
			return ""
		}
		return getenv(k)
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// lockedBuffer collects a writer's output until tee, then passes it on.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	out io.Writer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out != nil {
		return b.out.Write(p)
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tee writes what was collected to w, and everything after it.
func (b *lockedBuffer) tee(w io.Writer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, _ = w.Write(b.buf.Bytes())
	b.buf.Reset()
	b.out = w
}
