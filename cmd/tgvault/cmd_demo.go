package main

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/daemon/demo"
	"github.com/tgvault/tgvault/internal/userdirs"
	"github.com/tgvault/tgvault/localapi"
)

// demoCmd runs tgvault's main job on a throwaway vault (package
// daemon/demo): a dev server, a vault whose key lives in this process's
// memory, the dev server's demo bot and user logged in, and run.
func (a *app) demoCmd() *cobra.Command {
	var socket, infoFile string
	cmd := &cobra.Command{
		Use:   "demo [--socket PATH] [--info-file FILE]",
		Short: "Try tgvault: a throwaway vault with two accounts online on a local dev server",
		Long: `Try tgvault without a Telegram account, a keyring or a passphrase: demo makes
a throwaway vault in a temporary directory, starts a local dev server (real
MTProto key exchange and encryption; it is not Telegram), logs its demo bot
and demo user in (` + demo.BotName + `, ` + demo.UserName + `), and runs the pool with the local API, as
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

// demo runs the demo (package daemon/demo) until ctx ends, printing
// what runs and what to try once its accounts are online.
func (a *app) demo(ctx context.Context, socket, infoFile string) error {
	cfg := demo.Config{
		TempDir: userdirs.TempDir(a.getenv),
		Socket:  socket,
		Log:     a.logger(),
		LowerGC: a.getenv("GOGC") == "",
		Ready:   func(r demo.Ready) error { return a.demoPrint(r, infoFile) },
		Stopped: a.noteStopped,
		Removed: func(dir string) {
			if !a.json {
				a.notef("demo stopped; removed the throwaway vault %s", dir)
			}
		},
	}
	if socket == "" {
		// The socket `tgvault call` uses without --socket ("" when its
		// directory is not usable), made only then.
		cfg.DefaultSocket, _ = a.socketPath("")
	}
	return demoFailure(demo.Run(ctx, cfg))
}

// demoFailure is a failed demo as the user sees it: exit 1, kind "error",
// whatever failed inside it (as when the demo ran init, login and run as
// commands of its own); its text says what. classify must not see the
// cause: a vault or socket error inside the demo is not the user's vault
// or socket.
func demoFailure(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(err.Error())
}

// demoPrint says what runs and what to try.
func (a *app) demoPrint(r demo.Ready, infoFile string) error {
	dir, addr, sock := r.Dir, r.Server, r.Socket
	call := selfCommand() + " call"
	if !r.OnDefaultSocket {
		call += " --socket " + sock
	}
	try := []string{
		call + " " + demo.BotName + " me",
		call + " " + demo.UserName + " users.getUsers '{\"id\":[{\"_\":\"inputUserSelf\"}]}'",
		"curl --unix-socket " + sock + " " + localapi.AccountsURL(),
		"curl --unix-socket " + sock + " " + localapi.InvokeURL(demo.UserName) + " -d '{\"_\":\"help.getConfig\"}'",
	}
	info := struct {
		Dir      string   `json:"dir"`
		Server   string   `json:"server"`
		Socket   string   `json:"socket"`
		Accounts []string `json:"accounts"`
		Try      []string `json:"try"`
	}{dir, addr, sock, r.Accounts, try}
	err := a.resultFunc(info, func() error {
		a.printf("tgvault demo: a throwaway vault in %s\n", dir)
		a.printf("  a local dev server on %s (real MTProto; not Telegram)\n", addr)
		a.printf("  %s and %s logged in and online; the local API on %s\n\n", demo.BotName, demo.UserName, sock)
		a.printf("Try, in another terminal:\n")
		for _, l := range try {
			a.printf("  %s\n", l)
		}
		a.printf("\nCtrl-C stops the demo and removes the throwaway vault.\n")
		return nil
	})
	if err != nil {
		return err
	}
	return writeInfoFile(infoFile, info)
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
