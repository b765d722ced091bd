package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tgvault/tgvault/internal/atomicfile"
	"github.com/tgvault/tgvault/internal/userdirs"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// devHarness is nil in a normal build. Test binaries (testhooks_test.go)
// and builds with -tags tgvault_testhooks (testhooks.go) set it to add the
// test harness's flags to dev-server (internal/devharness: --stats-file,
// --reject-duplicates).
var devHarness func(fs *pflag.FlagSet) harness

// harness is what devHarness adds to a dev-server run.
type harness interface {
	// Options applies the harness flags to the server's options.
	Options(o *devserver.Options)
	// Run works beside the server until done.
	Run(srv *devserver.Server, done <-chan struct{})
}

// devServerFlags are dev-server's flags.
type devServerFlags struct {
	opts      devserver.Options // --state, --other-dcs, --qr-accept (and the harness's)
	listen    string
	seedBots  int
	seedAccts int
	infoFile  string
	harness   harness
}

func (a *app) devServerCmd() *cobra.Command {
	var df devServerFlags
	cmd := &cobra.Command{
		Use:   "dev-server [--state DIR] [--listen 127.0.0.1:0] [--seed-bots N] [--seed-accounts N] [--qr-accept] [--info-file FILE]",
		Short: "Run a local Telegram-like server, to try tgvault without a Telegram account",
		Long: `Run a local Telegram-like MTProto server (real key exchange and encryption,
a handful of methods) for demos and tests; it is not Telegram. It prints its
address and the path of its public key, a demo bot's token and a demo user's
phone number and code, and runs until SIGINT or SIGTERM. Its accounts and
keys persist in the state directory (default $XDG_STATE_HOME/tgvault/dev-server,
else ~/.local/state/tgvault/dev-server), and so does its address: the first
start picks a free port, and later starts listen on it again, since the
accounts logged in to it connect there (--listen chooses another; a port in
use is an error saying so).

Try it:
  tgvault dev-server
  tgvault login demo --server ADDR --server-key KEY.pem --bot-token TOKEN
  tgvault run &
  tgvault call demo me

--seed-accounts N creates N user accounts with random keys straight in the
state (no key exchange, so even 10,000 take a second) and writes their
sessions as Pyrogram .session files to STATE/seeds, to try tgvault at scale:
  tgvault import STATE/seeds
  tgvault run --server ADDR --server-key KEY.pem
Those files are plaintext sessions of this server only: they log in
nowhere else, and live beside the server's own keys in its state.

--info-file writes the printed JSON to FILE once the server listens.

Like Telegram, the server closes a connection whose client asked for it with
ping_delay_disconnect and then sent no such ping within the delay.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDevServer(df, cmd.Flags().Changed("listen"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&df.opts.Dir, "state", "", "the state `DIR` (accounts, keys, the RSA key)")
	f.StringVar(&df.listen, "listen", devserver.DefaultAddr, "the `ADDRESS` to listen on (port 0: any free port; default: the one the state directory keeps, else a free port)")
	f.IntVar(&df.seedBots, "seed-bots", 0, "add `N` more bots and print their tokens")
	f.IntSliceVar(&df.opts.OtherDCs, "other-dcs", nil, "also be these DC `IDS` (1,3,4,5, say), each on a free port of its own, with keys of its own; help.getConfig lists them, auth.exportAuthorization/importAuthorization move a login there")
	f.BoolVar(&df.opts.QRAccept, "qr-accept", false, "accept every QR login (login --qr) as the demo user, as if its phone scanned the code")
	f.IntVar(&df.seedAccts, "seed-accounts", 0, "create `N` logged-in users with random keys and write their sessions to STATE/seeds")
	f.StringVar(&df.infoFile, "info-file", "", "write the address, key path and demo tokens as JSON to `FILE`")
	if devHarness != nil {
		df.harness = devHarness(f)
	}
	return cmd
}

// runDevServer serves a dev server until SIGINT or SIGTERM.
func (a *app) runDevServer(df devServerFlags, listenGiven bool) (err error) {
	if df.seedBots < 0 || df.seedAccts < 0 {
		return usagef("--seed-bots and --seed-accounts must not be negative")
	}
	if err := devserver.CheckDCs(devserver.HomeDC, df.opts.OtherDCs); err != nil {
		de, _ := errors.AsType[*devserver.DCError](err)
		return usagef("--other-dcs: %d is not a DC id other than %d (the home DC) and the others given", de.DC, devserver.HomeDC)
	}
	ctx, stop := signalContext()
	defer stop()
	if df.opts.Dir == "" {
		if df.opts.Dir, err = userdirs.DevServerStateDir(a.getenv); err != nil {
			return fmt.Errorf("no dev server state directory: %w (use --state)", err)
		}
	}
	if listenGiven {
		df.opts.Addr = df.listen // else the address the state directory keeps
	}
	if df.harness != nil {
		df.harness.Options(&df.opts)
	}
	srv, err := devserver.OpenKept(df.opts)
	if _, ok := errors.AsType[*devserver.KeptAddrError](err); ok {
		return fmt.Errorf("%w Stop it, or give --listen %s for a new port "+
			"(accounts logged in before then need `tgvault set NAME --address NEWADDR`)", err, devserver.DefaultAddr)
	} else if err != nil {
		return err
	}
	defer srv.Close()
	info, err := srv.Setup(df.seedBots, df.seedAccts)
	if err != nil {
		return err
	}
	if err := a.printDevServer(srv, info, df); err != nil {
		return err
	}
	done := make(chan struct{})
	var harness sync.WaitGroup
	if df.harness != nil {
		harness.Go(func() { df.harness.Run(srv, done) })
	}
	err = srv.Serve(ctx)
	close(done)
	harness.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if !a.json {
		a.notef("dev server stopped")
	}
	return nil
}

// printDevServer writes --info-file and says what runs and how to log in.
func (a *app) printDevServer(srv *devserver.Server, info devserver.Info, df devServerFlags) error {
	if err := writeInfoFile(df.infoFile, info); err != nil {
		return err
	}
	if a.json {
		return json.NewEncoder(a.stdout).Encode(info) // one line, as in the file
	}
	a.printf("dev server listening on %s (DC %d); this is not Telegram\n", info.Addr, info.DC)
	for _, dc := range srv.DCs()[1:] {
		addr, _ := srv.DCAddr(dc)
		a.printf("DC %d        %s\n", dc, addr)
	}
	a.printf("public key  %s\nstate       %s\n", info.PublicKey, info.State)
	a.printf("demo bot    --bot-token %s\n", info.BotToken)
	a.printf("demo user   --phone %s (code %s)\n", info.Phone, info.Code)
	for _, t := range info.Bots {
		a.printf("bot         --bot-token %s\n", t)
	}
	if info.Seeds != "" {
		a.printf("seeded      %d accounts: tgvault import %s\n", df.seedAccts, info.Seeds)
	}
	a.printf("\nlog in:  tgvault login demo --server %s --server-key %s --bot-token %s\n", info.Addr, info.PublicKey, info.BotToken)
	a.printf("stop with Ctrl-C\n")
	return nil
}

// writeInfoFile writes v as one line of JSON to path, atomically, for a
// script to wait for (--info-file of dev-server and demo); "" writes
// nothing.
func writeInfoFile(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}
