package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/childproc"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

type exportFlags struct {
	format        string
	force         bool
	plaintextFile string
	to            []string
	passphrase    bool
	withPeers     bool
	move          bool
	armor         bool
	// weakPassphrase accepts a short --passphrase.
	weakPassphrase bool
}

func (a *app) exportCmd() *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "export NAME [--format F] [--force] | --to RECIPIENT|--passphrase [--with-peers] [--move] | --plaintext-file PATH",
		Short: "Print an account's session string, or seal it for another vault",
		Long: `Print an account's session as a plain string in the chosen format (default
pyrogram) on stdout.

--to RECIPIENT (an age X25519 key, an ssh-ed25519/ssh-rsa public key, or
@FILE of such keys, one a line; repeatable) or --passphrase gives a sealed
one-line string instead, which 'tgvault import' on the other side opens.
--with-peers adds the peer cache. --move marks the account here as handed
off: nothing here uses or exports it until 'tgvault reclaim'. Telegram kills a
session that is used from two places at once.

--plaintext-file PATH writes a plain Pyrogram v3 .session file (with peers).
It is NOT encrypted: whoever reads it has the account.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: a.completeNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runExport(cmd, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.format, "format", "f", "pyrogram", "the string format `F`: "+formatNames())
	fl.BoolVar(&f.force, "force", false, "export even while tgvault run uses the account")
	fl.StringVar(&f.plaintextFile, "plaintext-file", "", "write an UNENCRYPTED Pyrogram v3 .session file to `PATH`")
	fl.StringArrayVar(&f.to, "to", nil, "seal to `RECIPIENT` (age1..., ssh-ed25519/ssh-rsa key, or @FILE); repeatable")
	fl.BoolVar(&f.passphrase, "passphrase", false, "seal with a one-time passphrase (asked for, or TGVAULT_SEAL_PASSPHRASE_FILE)")
	fl.BoolVar(&f.weakPassphrase, "weak-passphrase", false, fmt.Sprintf("accept a --passphrase shorter than %d characters", crypto.MinPassphraseLen))
	fl.BoolVar(&f.withPeers, "with-peers", false, "include the peer cache in the sealed string")
	fl.BoolVar(&f.move, "move", false, "mark the account here as handed off (with --to or --passphrase)")
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return strings.Split(formatNames(), ", "), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (a *app) runExport(cmd *cobra.Command, f exportFlags, name string) error {
	sealed := len(f.to) > 0 || f.passphrase
	switch {
	case len(f.to) > 0 && f.passphrase:
		return usagef("--to and --passphrase exclude each other")
	case sealed && f.plaintextFile != "":
		return usagef("--plaintext-file cannot be sealed (--to, --passphrase)")
	case sealed && cmd.Flags().Changed("format"):
		return usagef("a sealed string carries the whole session; --format applies to plain strings")
	case f.plaintextFile != "" && cmd.Flags().Changed("format"):
		return usagef("--plaintext-file always writes a Pyrogram v3 .session file; drop --format")
	case !sealed && (f.move || f.withPeers):
		return usagef("--move and --with-peers need --to or --passphrase")
	}
	if sealed {
		return a.exportSealed(f, name)
	}
	if f.plaintextFile != "" {
		// A taken path fails before the vault is opened and unlocked.
		if err := vault.CheckPlainFileTarget(f.plaintextFile); err != nil {
			return err
		}
		return a.withVault(perProcess, func(v *vault.Vault) error {
			if err := v.ExportPlainFile(name, f.plaintextFile, f.force); err != nil {
				return err
			}
			a.warnf("%s is a PLAINTEXT session file: whoever reads it has the account. Delete it when done.", f.plaintextFile)
			if a.json {
				return a.printJSON(struct {
					Name      string `json:"name"`
					Path      string `json:"path"`
					Plaintext bool   `json:"plaintext"`
				}{name, f.plaintextFile, true})
			}
			return nil
		})
	}
	format, err := sessionstring.ParseFormat(f.format)
	if err != nil {
		return usagef("unknown --format %q (%s)", f.format, formatNames())
	}
	return a.withVault(perProcess, func(v *vault.Vault) error {
		s, err := v.Export(name, format, f.force)
		if err != nil {
			return err
		}
		return a.resultFunc(struct {
			Name    string `json:"name"`
			Format  string `json:"format"`
			Session string `json:"session"`
		}{name, format.String(), s}, func() error {
			tty := isTerminal(a.stdout)
			if tty {
				a.warnf("printing a plain session string: whoever sees it has the account")
			}
			// A string ends with a newline, as every library's string
			// file does; gotd's session JSON is a file that gotd writes
			// without one, so `export --format gotd > session.json` is
			// byte-identical to it.
			if format != sessionstring.Gotd || tty {
				s += "\n"
			}
			_, err := io.WriteString(a.stdout, s)
			return err
		})
	})
}

func (a *app) exportSealed(f exportFlags, name string) error {
	opts := vault.SealedExportOptions{WithPeers: f.withPeers, Move: f.move, Force: f.force}
	for _, t := range f.to {
		rs, err := parseRecipients(t)
		if err != nil {
			return err
		}
		opts.To = append(opts.To, rs...)
	}
	var shown []string
	for _, r := range opts.To {
		shown = append(shown, r.String())
	}
	if f.passphrase {
		opts.AskPassphrase = func() (crypto.Passphrase, error) {
			return a.newPassphrase("TGVAULT_SEAL_PASSPHRASE_FILE", "One-time passphrase for the sealed string: ", f.weakPassphrase)
		}
	}
	return a.withVault(perProcess, func(v *vault.Vault) error {
		s, err := v.ExportSealed(name, opts)
		if err != nil {
			return err
		}
		return a.resultFunc(struct {
			Name       string   `json:"name"`
			Sealed     string   `json:"sealed"`
			Recipients []string `json:"recipients"`
			Passphrase bool     `json:"passphrase"`
			Moved      bool     `json:"moved"`
		}{name, s, shown, f.passphrase, f.move}, func() error {
			if _, err := fmt.Fprintln(a.stdout, s); err != nil {
				return err
			}
			if f.move {
				a.notef("%s is handed off: it is not used or exported here until `tgvault reclaim %s`", name, name)
			}
			return nil
		})
	})
}

// parseRecipients parses --to: a public key, or @FILE of them.
func parseRecipients(arg string) ([]*crypto.Recipient, error) {
	if path, ok := strings.CutPrefix(arg, "@"); ok {
		fh, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--to: %w", err)
		}
		defer fh.Close()
		rs, err := crypto.ParseRecipients(fh) // none is an error too
		if err != nil {
			return nil, &usageError{fmt.Errorf("--to %s: %w", arg, err)}
		}
		return rs, nil
	}
	r, err := crypto.ParseRecipient(arg)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--to: %w", err)}
	}
	return []*crypto.Recipient{r}, nil
}

func (a *app) execCmd() *cobra.Command {
	var format string
	var force, useRelay bool
	var rf relayFlags
	cmd := &cobra.Command{
		Use:   "exec NAME [--format F] [--force | --relay [--read-only] [--allow M] [--ttl D]] -- CMD [ARGS...]",
		Short: "Run a command with the session string in TGVAULT_SESSION",
		Long: `Run CMD with the account's session string (default pyrogram format) in the
environment variable TGVAULT_SESSION, so that it never appears in a shell
history or a file. Standard input, output and error are passed through, and
so is CMD's exit status (a command that cannot be started exits 127).

With --relay, CMD never gets the account's key: the running tgvault run
mints a relay session (see tgvault relay; --read-only, --allow,
--allow-service-messages and --ttl set its policy), TGVAULT_SESSION holds
its string, TGVAULT_RELAY_RSA_KEY the relay's RSA public key (PEM; a client
trusts it to reach media on another DC) and TGVAULT_RELAY_RSA_FINGERPRINT
its fingerprint, TGVAULT_RELAY_SESSION_ID the session's id,
and for GramJS and Pyrogram TGVAULT_PROXY_HOST, TGVAULT_PROXY_PORT and
TGVAULT_PROXY_URL the relay's SOCKS5 proxy, which they must connect
through. The session is revoked when CMD ends.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(execArgv(cmd, args)) == 0 {
				return usagef("exec needs NAME and a command: tgvault exec NAME -- CMD [ARGS...]")
			}
			return nil
		},
		ValidArgsFunction: a.completeNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := sessionstring.ParseFormat(format)
			if err != nil {
				return usagef("unknown --format %q (%s)", format, formatNames())
			}
			name, argv := args[0], execArgv(cmd, args)
			switch {
			case useRelay && force:
				return usagef("--relay and --force: a relay session leaves the key in run, --force exports it")
			case useRelay:
				return a.execRelay(name, format, argv, &rf)
			case rf.changed(cmd.Flags()):
				return usagef("--read-only, --allow, --allow-service-messages and --ttl set a relay session's policy: they need --relay")
			}
			var s string
			err = a.withVault(perProcess, func(v *vault.Vault) error {
				var err error
				s, err = v.Export(name, f, force)
				return err
			})
			if err != nil {
				return err
			}
			return a.execWith(argv, localapi.EnvSession+"="+s)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "pyrogram", "the string format `F`: "+formatNames())
	cmd.Flags().BoolVar(&force, "force", false, "run even while tgvault run uses the account")
	cmd.Flags().BoolVar(&useRelay, "relay", false, "give CMD a relay session of the running tgvault run instead of the key (formats "+relayFormats+")")
	rf.register(cmd.Flags())
	return cmd
}

// execWith runs argv with more environment variables (NAME=VALUE) and
// passes its exit status through as an exitStatus (childproc.Run: a
// SIGTERM or SIGHUP to tgvault reaches CMD, and tgvault waits for it).
func (a *app) execWith(argv []string, env ...string) error {
	status, err := childproc.Run(childproc.Cmd{
		Argv: argv, Env: localapi.ChildEnviron(os.Environ(), env...),
		Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr,
	})
	switch {
	case err != nil:
		a.notef("exec: %v", err)
		return exitStatus(exitNoCommand)
	case status != 0:
		return exitStatus(status)
	}
	return nil
}

// execArgv returns CMD ARGS... from exec's arguments: NAME -- CMD
// ARGS... (pflag drops the "--"), or NAME CMD when CMD has no flags.
// It returns nil when anything but NAME comes before the "--".
func execArgv(cmd *cobra.Command, args []string) []string {
	dash := cmd.ArgsLenAtDash()
	if len(args) < 2 || dash > 1 || dash == 0 {
		return nil
	}
	return args[1:]
}
