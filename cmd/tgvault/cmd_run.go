package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/daemon"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

// callTimeout bounds one `tgvault call` (it waits for the account to
// connect).
const callTimeout = 60 * time.Second

// callContext bounds one request that waits for an account to connect
// (call, a relay session's mint): callTimeout, or SIGINT or SIGTERM.
func callContext() (context.Context, context.CancelFunc) {
	ctx, stop := signalContext()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	return ctx, func() { cancel(); stop() }
}

// socketPath returns the local API socket: --socket, else
// localapi.DefaultSocket.
func (a *app) socketPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	return localapi.DefaultSocket(a.getenv)
}

// printServing prints run's start-up line (--json: one object).
func (a *app) printServing(s daemon.Serving, locked bool) {
	switch {
	case a.json:
		out := struct {
			Socket   string `json:"socket"`
			Accounts int    `json:"accounts"`
			PID      int    `json:"pid"`
			Worker   string `json:"worker,omitempty"`
			Locked   bool   `json:"memory_locked"`
		}{Socket: s.Socket, Accounts: s.Accounts, PID: os.Getpid(), Worker: s.Worker, Locked: locked}
		b, _ := json.Marshal(out)
		fmt.Fprintf(a.stdout, "%s\n", b)
	case s.Worker != "":
		a.printf("worker %s serving the accounts its leases give it on %s (pid %d, lease %v%s); stop with Ctrl-C or SIGTERM\n", s.Worker, s.Socket, os.Getpid(), s.Lease, lockedNote(locked))
	default:
		a.printf("serving %d account(s) on %s (pid %d%s); stop with Ctrl-C or SIGTERM\n", s.Accounts, s.Socket, os.Getpid(), lockedNote(locked))
	}
}

// runFlags are run's flags.
type runFlags struct {
	socket      string
	sf          serverFlags
	worker      string
	lease       time.Duration
	mlock       string
	allow, deny []string
	force       bool
	noRelay     bool
}

func (a *app) runCmd() *cobra.Command {
	var fl runFlags
	cmd := &cobra.Command{
		Use:   "run [NAME...] [--socket PATH] [--worker NAME [--lease 30s]]",
		Short: "Keep the vault's accounts connected and serve the local API",
		Long:  runHelp,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, names []string) error {
			return a.runServe(&fl, names)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.socket, "socket", "", "the local API socket `PATH`")
	f.StringVar(&fl.worker, "worker", "", "join the fleet of a PostgreSQL vault as worker `NAME`")
	f.DurationVar(&fl.lease, "lease", daemon.DefaultLease, "the lease `PERIOD` of a worker (3s to 1h)")
	f.StringArrayVar(&fl.allow, "allow", nil, "let the local API call `METHOD`, which it refuses by default (repeatable; wrappers and MTProto service functions stay refused)")
	f.StringArrayVar(&fl.deny, "deny", nil, "refuse `METHOD` on the local API as well (repeatable)")
	f.StringVar(&fl.mlock, "mlock", "", "lock run's memory against swap: `MODE` auto (where the OS allows, else warn), on (refuse to start without) or off (default $TGVAULT_MLOCK, else auto)")
	f.BoolVar(&fl.force, "force", false, "serve a directory vault that was migrated to PostgreSQL (never while the fleet serves it)")
	f.BoolVar(&fl.noRelay, "no-relay", false, "serve no MTProto relay (tgvault relay and exec --relay then answer relay_off)")
	fl.sf.register(f)
	return cmd
}

// runServe is run: its flags and environment make a daemon.Config,
// daemon.Serve serves it until SIGINT or SIGTERM, and the start-up and
// stop lines are printed here.
func (a *app) runServe(fl *runFlags, names []string) error {
	// From the start: a signal during start-up stops run cleanly.
	sig, stopSig := signalContext()
	defer stopSig()
	cfg, err := a.runConfig(fl, names)
	if err != nil {
		return err
	}
	mode, err := a.mlockMode(fl.mlock)
	if err != nil {
		return err
	}
	if fl.worker != "" {
		if err := pgvault.CheckPeriod(fl.lease); err != nil {
			return usagef("--lease: %v", err)
		}
	}
	if err := checkMemlock(mode); err != nil {
		return err
	}
	return a.withVault(perProcess, func(v *vault.Vault) error {
		// Unlock first (exit 3 when locked, before memory is locked);
		// Recipient reads no index: Serve reads it.
		if _, err := v.Recipient(); err != nil {
			return err
		}
		// Unlocking by passphrase ran scrypt (256 MiB): give that back to
		// the OS now rather than hold it for run's life.
		debug.FreeOSMemory()
		locked, err := a.lockMemory(mode)
		if err != nil {
			return err
		}
		cfg.Vault = v
		cfg.Serving = func(s daemon.Serving) { a.printServing(s, locked) }
		// NAMEs with a fleet: daemon.ErrFleetNames (exit 2).
		err = daemon.Serve(sig, cfg)
		switch {
		case errors.Is(err, daemon.ErrFleetNeedsWorker):
			return usagef("a vault in PostgreSQL is served by workers: run --worker NAME")
		case errors.Is(err, daemon.ErrWorkerNeedsFleet):
			return usagef("--worker needs a vault in PostgreSQL (--vault postgres://...)")
		case errors.As(err, new(*daemon.BadWorkerError)):
			return &usageError{err}
		}
		return err
	})
}

// runConfig turns run's flags and environment into a daemon.Config (all
// but the vault and the fleet).
func (a *app) runConfig(fl *runFlags, names []string) (daemon.Config, error) {
	defaults, err := a.defaults(&fl.sf)
	if err != nil {
		return daemon.Config{}, err
	}
	methods, err := tljson.NewMethodPolicy(fl.allow, fl.deny)
	if err != nil {
		return daemon.Config{}, usagef("%v", err)
	}
	path, err := a.socketPath(fl.socket)
	if err != nil {
		return daemon.Config{}, err
	}
	return daemon.Config{
		Log:      a.logger(),
		Socket:   path,
		Names:    names,
		Worker:   fl.worker,
		Lease:    fl.lease,
		Force:    fl.force,
		NoRelay:  fl.noRelay,
		Defaults: defaults,
		Methods:  methods,
		LowerGC:  a.getenv("GOGC") == "",
		Stopped: func(s daemon.Stopped) {
			if !a.json {
				a.noteStopped(s)
			}
		},
	}, nil
}

// noteStopped says on stderr that a daemon stopped with every account
// saved (run, and demo's run).
func (a *app) noteStopped(s daemon.Stopped) {
	a.notef("stopped; every account saved (%d with changes, in %.2f s)", s.Changed, s.Took.Seconds())
}

// runHelp is run's --help.
const runHelp = `Keep the vault's active accounts (or the NAMEs given) connected to Telegram
through one MTProto pool, and serve the local API (HTTP+JSON) on a unix socket
(mode 0600, owner only) until SIGINT or SIGTERM; ` + "`tgvault call`" + ` is its client.

Each account connects to the server it logged in on (tgvault login --server);
an imported account to Telegram's DCs for its dc_id and test mode, or to the
--server given here. Handed-off, revoked, key-lost, broken and mismatch
accounts are skipped. A stored key is never replaced: an account whose key the
server lost or revoked is marked key_lost or revoked in the index and left
alone. On an account's first connect run stores what its source lacked (user
id, bot flag, test mode) as the server says it; a known one the server
contradicts is not overwritten: the account is marked mismatch. An
account whose SOCKS5 proxy refuses the username or password is left alone
too (state proxy_auth) until run restarts; the index is not changed.

run holds each account it serves (its ownership lock, taken before the
account is opened, released when run exits or dies): while it runs, export,
export --move, rm, rename, reclaim, logout and proxy of those accounts are
refused (exit 5, naming run's pid; export --force exports anyway), and the
vault's other accounts stay free. An account another run serves is skipped
with a warning (run exits 5 when that is every account); one a command holds
for a moment (an export) is waited for, up to 10 s. An account handed off by
export --move is not served, whatever the index says: its file says so.
On SIGINT or SIGTERM it stops accepting calls, finishes the ones in flight,
saves every account and exits 0.

A directory vault that was migrated to PostgreSQL is refused (exit 5) naming
the database; --force serves it anyway (never while the fleet serves it).

--mlock (TGVAULT_MLOCK) locks run's memory against swap, so that keys are
not swapped out while it serves: auto (the default) locks it where the OS allows,
else says why not and goes on; on refuses to start without it; off skips
it. Linux allows it to a process with CAP_IPC_LOCK (in the initial user
namespace) or an unlimited RLIMIT_MEMLOCK (systemd: LimitMEMLOCK=infinity);
a finite limit is not used, because the Go runtime aborts when it reaches
one. Elsewhere it is not implemented: auto warns, on refuses.

The local API refuses the methods that could export, replace or end an
account's login or change how it logs in (README.md lists them): --allow
METHOD lifts one refusal (not of a wrapper around another query, nor of an
MTProto service function), --deny METHOD adds one; both repeat.

run also serves an MTProto relay on 127.0.0.1 (` + "`tgvault relay`" + `, ` + "`exec --relay`" + `):
unmodified Telethon, GramJS, mtcute, Pyrogram or gotd programs use an account
with a relay session, never its key, under the same refused methods
(README.md, "Run a script without giving it the key"). --no-relay turns it
off; a fleet worker serves none.

The socket is --socket, else TGVAULT_SOCKET, else
$XDG_RUNTIME_DIR/tgvault/run.sock, else run.sock in a per-user directory
under the temp directory.

A vault in PostgreSQL (--vault postgres://...) is served by a fleet: each
` + "`run --worker NAME`" + ` (a name unique in the fleet) claims leases on its share of
the accounts, connects exactly those, renews the leases every third of
--lease (3s to 1h), and gives surplus ones back when workers join. A worker
that cannot renew stops its sessions before its leases can expire, and
sends nothing past them; every connection asks Telegram to close it when its
pings stop (ping_delay_disconnect, half the lease, 3s to 75s), so that a
worker that dies or is paused has its accounts taken over by the others once
its leases expired and that delay passed. See docs/fleet.md.`

// errNotRunning reports a socket nobody serves (status tells it apart).
var errNotRunning = localapi.ErrNoServer

// apiClient is the local API's client on --socket (else run's socket).
func (a *app) apiClient(socket string) (*localapi.Client, error) {
	sock, err := a.socketPath(socket)
	if err != nil {
		return nil, err
	}
	return localapi.NewClient(sock), nil
}

func (a *app) callCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "call NAME me | call NAME peer QUERY | call NAME METHOD [JSON|-]",
		Short: "Use an account of a running `tgvault run` (the local API's client)",
		Long:  callHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 2 && args[1] == "me":
			case len(args) == 3 && args[1] == "peer":
			case (len(args) == 2 || len(args) == 3) && args[1] != "me" && args[1] != "peer":
				if !tljson.IsMethod(args[1]) {
					return usagef("%q is not a Telegram method (usage: call NAME me | call NAME peer QUERY | call NAME METHOD [JSON|-])", args[1])
				}
			default:
				return usagef("usage: call NAME me | call NAME peer QUERY | call NAME METHOD [JSON|-]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(socket, args)
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "the local API socket `PATH`")
	return cmd
}

// call is `tgvault call`: one request of the local API, its answer
// printed.
func (a *app) call(socket string, args []string) error {
	name, what := args[0], args[1]
	var body []byte
	if what != "me" && what != "peer" {
		var params []byte
		if len(args) == 3 {
			params = []byte(args[2])
			if args[2] == "-" {
				var err error
				params, err = io.ReadAll(io.LimitReader(a.stdin, tljson.MaxInvokeBody+1))
				if err != nil {
					return fmt.Errorf("reading the parameters: %w", err)
				}
			}
		}
		var err error
		if body, err = tljson.CallBody(what, params); err != nil {
			return &usageError{err}
		}
	}
	c, err := a.apiClient(socket)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	switch what {
	case "me":
		me, err := c.Me(ctx, name)
		if err != nil {
			return err
		}
		return a.result(me, "%-12s %d\n%-12s %t\n", "user_id", me.UserID, "is_bot", me.IsBot)
	case "peer":
		p, err := c.Peer(ctx, name, args[2])
		if err != nil {
			return err
		}
		return a.result(p, "%-12s %d\n%-12s %s\n%-12s %s\n%-12s %s\n", "id", p.ID, "type", p.Type, "access_hash", p.AccessHash, "username", p.Username)
	}
	out, err := c.Invoke(ctx, name, body)
	if err != nil {
		return err
	}
	return a.printJSON(out)
}

// callHelp is call's --help.
const callHelp = `Ask the local API of a running ` + "`tgvault run`" + ` to use an account:

  call NAME me            the logged-in user (user_id, is_bot)
  call NAME peer QUERY    a peer by "me", marked id or username (from the
                          account's peer cache, else resolved on the server)
  call NAME METHOD [JSON] any Telegram method, its parameters a JSON object
                          (from the argument, or stdin for "-"; none for {}),
                          and the result printed as JSON

Methods and objects are in TL JSON: "_" names a constructor, field names
are the schema's, long (int64) values are strings in results (strings or
numbers in parameters), bytes are base64, and an optional field is sent
when present. For example:

  tgvault call alice users.getUsers '{"id":[{"_":"inputUserSelf"}]}'
  tgvault call alice contacts.resolveUsername '{"username":"durov"}'
  echo '{"offset_peer":{"_":"inputPeerEmpty"},"limit":20}' | tgvault call alice messages.getDialogs -

Methods that could export, replace or end the account's login (every
auth.* method, account.resetAuthorization, bots.exportBotToken, wrappers
such as invokeWithLayer, ...) are refused; README.md lists them. Exit
codes: 1 for a bad or refused call or a Telegram error, 4 for an unknown
account; with --json the error's kind says which (bad_call, refused,
rpc_error with rpc_code and rpc_type, flood_wait with retry_after,
unauthorized, key_lost, proxy_auth, timeout, ...).

The local API refuses the methods that could export, replace or end an
account's login or change how it logs in (README.md lists them): --allow
METHOD lifts one refusal (not of a wrapper around another query, nor of an
MTProto service function), --deny METHOD adds one; both repeat.

The socket is --socket, else TGVAULT_SOCKET, else run's default.`

// poolStatus asks a running `tgvault run` for its accounts.
func (a *app) poolStatus(socket string) ([]localapi.Account, error) {
	c, err := a.apiClient(socket)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Accounts(ctx)
}
