package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tgvault/tgvault/internal/userdirs"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/vault"
)

// app is one invocation of tgvault: its streams, its environment and its
// global flags. Nothing here is global state, so tests can run many apps
// side by side.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// Global flags.
	vaultDir string
	identity string
	json     bool

	// started is set once a command's own code runs: a failure before
	// that (unknown command or flag, wrong argument count) is a usage
	// error.
	started bool
	// warnedKeyring keeps the insecure-keyring warning to once a run.
	warnedKeyring bool
	// warnedFiles keeps the readable-secret-file warning to once a file.
	warnedFiles map[string]bool
}

func (a *app) run(args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	if !a.started {
		var u *usageError
		if !errors.As(err, &u) {
			err = &usageError{err}
		}
	}
	code, kind := classify(err)
	a.printError(cmd, err, code, kind)
	return code
}

// printError prints err as `tgvault: <message>` on stderr, or as one JSON
// object with --json. Messages come from the error values, which never
// carry secrets (the packages below guarantee it for theirs; this one
// never puts a passphrase, key or session string into an error).
func (a *app) printError(cmd *cobra.Command, err error, code int, kind string) {
	h := hint(err)
	if a.json {
		out := struct {
			Error string `json:"error"`
			Code  int    `json:"code"`
			Kind  string `json:"kind"`
			// KeyringCause says why the keyring failed (vault.KeyringCause).
			KeyringCause string `json:"keyring_cause,omitempty"`
			Hint         string `json:"hint,omitempty"`
			// A Telegram error through the local API (tgvault call).
			RPCCode    int    `json:"rpc_code,omitempty"`
			RPCType    string `json:"rpc_type,omitempty"`
			RetryAfter int    `json:"retry_after,omitempty"`
		}{Error: err.Error(), Code: code, Kind: kind, Hint: h}
		var ke *vault.KeyringError
		if errors.As(err, &ke) {
			out.KeyringCause = string(ke.Cause)
		}
		if le, ok := errors.AsType[*localapi.Error](err); ok {
			out.RPCCode, out.RPCType = le.Body.RPCCode, le.Body.RPCType
			if le.Body.RetryAfter != nil {
				out.RetryAfter = *le.Body.RetryAfter
			}
		}
		b, _ := json.Marshal(out)
		fmt.Fprintf(a.stderr, "%s\n", b)
		return
	}
	fmt.Fprintf(a.stderr, "tgvault: %v\n", err)
	if h != "" {
		fmt.Fprintf(a.stderr, "tgvault: %s\n", h)
	}
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tgvault",
		Short: "An encrypted vault for many Telegram accounts",
		Long: `tgvault keeps Telegram sessions (auth keys) age-encrypted in a vault and
hands them out as session strings in every common format.

Environment:
  TGVAULT_DIR              the vault directory (like --vault)
  TGVAULT_IDENTITY         an age identity file that unlocks this process only
  TGVAULT_PASSPHRASE_FILE  a file holding the vault passphrase: unlocks this
                           process only, and answers init/unlock/passwd/rekey
  TGVAULT_NEW_PASSPHRASE_FILE   the new passphrase for passwd
  TGVAULT_SEAL_PASSPHRASE_FILE  the one-time passphrase of export --passphrase
                           and of importing such a string
  TGVAULT_SERVER, TGVAULT_SERVER_KEY  a custom server and its public key
                           (login, run), like --server, --server-key
  TGVAULT_API_ID, TGVAULT_API_HASH    API credentials (login), like
                           --api-id, --api-hash
  TGVAULT_LOGIN_CODE_FILE, TGVAULT_2FA_PASSWORD_FILE  the login code and
                           2FA password of login --phone
  TGVAULT_BOT_TOKEN_FILE   the bot token of login (instead of --bot-token)
  TGVAULT_SOCKET           the local API socket of run, call and status
  TGVAULT_AGENT_SOCKET     the socket of the tgvault agent that holds the
                           unlocked key where there is no OS keyring
  TGVAULT_PROXY_FILE       a file holding the proxy URL (login, run)
  TGVAULT_MLOCK            auto, on or off: run locks its memory (like --mlock)
  NO_COLOR                 no colour in the output`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Completion is a real command below, with bash, zsh and fish.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRun: func(*cobra.Command, []string) {
			a.started = true
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					return usagef("unknown command %q (did you mean %s?)", args[0], strings.Join(s, ", "))
				}
				return usagef("unknown command %q", args[0])
			}
			fmt.Fprint(a.stderr, cmd.UsageString())
			return usagef("no command given")
		},
		Args:                       cobra.ArbitraryArgs,
		SuggestionsMinimumDistance: 2,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.vaultDir, "vault", "", "the vault `DIR` (default $TGVAULT_DIR, else "+userdirs.DefaultVaultDoc+")")
	pf.StringVar(&a.identity, "identity", "", "an age identity `FILE` that unlocks this process only (default $TGVAULT_IDENTITY)")
	pf.BoolVar(&a.json, "json", false, "print results and errors as JSON")

	root.AddCommand(
		a.initCmd(), a.unlockCmd(), a.lockCmd(), a.statusCmd(), a.migrateCmd(),
		a.importCmd(), a.listCmd(), a.showCmd(), a.exportCmd(),
		a.reclaimCmd(), a.recipientCmd(), a.rmCmd(), a.renameCmd(),
		a.passwdCmd(), a.rekeyCmd(), a.execCmd(), a.doctorCmd(),
		a.completionCmd(root), a.inspectCmd(), a.setCmd(),
		a.loginCmd(), a.logoutCmd(), a.proxyCmd(), a.runCmd(), a.callCmd(), a.relayCmd(), a.devServerCmd(), a.demoCmd(),
		a.agentCmd(),
	)
	return root
}

// exactArgs is cobra.ExactArgs with the argument names in the message.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s takes %d argument(s): %s (got %d)", cmd.Name(), len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// rangeArgs accepts min to max arguments, named in the message.
func rangeArgs(min, max int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return usagef("%s takes %d to %d argument(s): %s (got %d)", cmd.Name(), min, max, names, len(args))
		}
		return nil
	}
}

// printJSON writes v as indented JSON to stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// result prints a command's result: v as JSON with --json, else the
// text of format and args for people. Most commands end with it.
func (a *app) result(v any, format string, args ...any) error {
	if a.json {
		return a.printJSON(v)
	}
	a.printf(format, args...)
	return nil
}

// resultFunc is result for text that takes more than one printf: v as
// JSON with --json, else what text prints.
func (a *app) resultFunc(v any, text func() error) error {
	if a.json {
		return a.printJSON(v)
	}
	return text()
}

// done prints the outcome of a command that has no other output.
func (a *app) done(msg string) error {
	return a.result(struct {
		OK      bool   `json:"ok"`
		Message string `json:"message"`
	}{true, msg}, "%s\n", msg)
}

// printf writes human output to stdout.
func (a *app) printf(format string, args ...any) {
	fmt.Fprintf(a.stdout, format, args...)
}

// warnf writes a warning to stderr, in colour on a terminal unless
// NO_COLOR is set.
func (a *app) warnf(format string, args ...any) {
	prefix := "tgvault: warning: "
	if a.color(a.stderr) {
		prefix = "\x1b[1;33mtgvault: warning:\x1b[0m "
	}
	fmt.Fprintf(a.stderr, prefix+format+"\n", args...)
}

// timeWithZone is how times are printed for people: local time with its
// offset and zone name, so that "unlocked until" means the same on a
// server in UTC and to the user reading it elsewhere.
const timeWithZone = "2006-01-02 15:04:05 -0700 MST"

// notef writes a note to stderr.
func (a *app) notef(format string, args ...any) {
	fmt.Fprintf(a.stderr, "tgvault: "+format+"\n", args...)
}

// isTerminal reports whether w (or r) is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// color reports whether to colour output to w: a terminal, and NO_COLOR
// unset or empty (https://no-color.org).
func (a *app) color(w io.Writer) bool {
	return a.getenv("NO_COLOR") == "" && isTerminal(w)
}
