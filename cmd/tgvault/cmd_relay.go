package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto/relay"
)

// relayFormats are the --format names of a relay session.
var relayFormats = relay.ClientFormatNames()

// relayFlags are the policy flags of a relay session (relay NAME, exec
// --relay).
type relayFlags struct {
	readOnly bool
	allow    []string
	service  bool
	ttl      time.Duration
	socket   string
}

func (f *relayFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.readOnly, "read-only", false, "refuse every method that sends, edits, deletes, joins or changes settings")
	fs.StringArrayVar(&f.allow, "allow", nil, "allow only `METHOD` (repeatable; the methods a library calls to connect stay allowed)")
	fs.BoolVar(&f.service, "allow-service-messages", false, "let the messages of Telegram's service account 777000 (login codes) through; withheld by default")
	fs.DurationVar(&f.ttl, "ttl", 0, "how long the relay session lives (`D`: 1h, 30m, ...; default a day, at most 720h)")
	fs.StringVar(&f.socket, "socket", "", "the local API socket `PATH` of the running tgvault run")
}

// changed reports whether a policy flag was given (exec uses them only
// with --relay).
func (f *relayFlags) changed(fs *pflag.FlagSet) bool {
	for _, n := range []string{"read-only", "allow", "allow-service-messages", "ttl"} {
		if fs.Changed(n) {
			return true
		}
	}
	return false
}

// request makes the local API's mint request, checked as run would.
func (f *relayFlags) request(format string) (localapi.RelayRequest, error) {
	req := localapi.RelayRequest{Format: format, ReadOnly: f.readOnly, Allow: f.allow, ServiceMessages: f.service, TTLSeconds: localapi.RelayTTL(f.ttl)}
	switch err := req.Check(); {
	case errors.Is(err, localapi.ErrRelayFormat):
		return req, usagef("--format %q: a relay session is for %s", format, relayFormats)
	case errors.Is(err, localapi.ErrRelayTTL):
		return req, usagef("--ttl %v: between 1s and %v", f.ttl, relay.MaxTTL)
	case err != nil:
		return req, usagef("%v", err)
	}
	return req, nil
}

// relayClient is the local API's client of --socket and the checked mint
// request of a relay session.
func (a *app) relayClient(format string, f *relayFlags) (*localapi.Client, localapi.RelayRequest, error) {
	req, err := f.request(format)
	if err != nil {
		return nil, req, err
	}
	c, err := a.apiClient(f.socket)
	return c, req, err
}

// execRelay is exec --relay: the child gets a relay session, which ends
// when the child does (localapi's WithRelay). callContext bounds the mint
// only (Ctrl-C or callTimeout while the account connects), not the child.
func (a *app) execRelay(name, format string, argv []string, f *relayFlags) error {
	c, req, err := a.relayClient(format, f)
	if err != nil {
		return err
	}
	var m localapi.RelayMinted
	err, revokeErr := c.WithRelay(callContext, name, req, func(minted localapi.RelayMinted) error {
		m = minted
		return a.execWith(argv, m.Env()...)
	})
	if revokeErr != nil {
		a.warnf("relay session %s: not revoked (%v); it ends at %s or when run stops", m.ID, revokeErr, m.Expires.Local().Format(timeWithZone))
	}
	return err
}

func (a *app) relayCmd() *cobra.Command {
	var (
		format string
		f      relayFlags
	)
	cmd := &cobra.Command{
		Use:   "relay NAME --format F [--read-only] [--allow METHOD] [--allow-service-messages] [--ttl D]",
		Short: "Mint a relay session: a script uses the account through run without its key",
		Long: `Ask the running ` + "`tgvault run`" + ` for a relay session of account NAME and print it
as a session string in the client library's format (--format telethon, gramjs,
mtcute, pyrogram or gotd). The string holds a fresh random key that is valid
only at run's MTProto relay, which passes the client's calls on over the
account's own connection: the account's key never leaves run, and the
string is worthless anywhere else and once the session ends (--ttl, default a
day; ` + "`tgvault relay revoke ID`" + `; run stopping).

Telethon, mtcute and gotd strings point at the relay; GramJS and Pyrogram
clients must connect through the relay's SOCKS5 proxy, which is printed (and
in --json as proxy.url). A client that downloads media from another DC must
trust the relay's RSA key (rsa_public_key in --json); README.md, "Run a script
without giving it the key", shows the one line per library.

The policy: the methods run refuses (run --allow/--deny) stay refused;
--read-only refuses every method that sends, edits, deletes, joins or changes
settings; --allow METHOD limits the session to the methods named; the messages
of Telegram's service account 777000 (login codes) are withheld unless
--allow-service-messages. A refused call gets the error 403
TGVAULT_METHOD_REFUSED.

  tgvault relay list          the open relay sessions
  tgvault relay revoke ID     end one (its connections close at once)

The string goes to stdout, what else to know to stderr; --json prints it all
as one object. ` + "`tgvault exec NAME --relay -- CMD`" + ` hands a session to one command
and revokes it when the command ends.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: a.completeNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, req, err := a.relayClient(format, &f)
			if err != nil {
				return err
			}
			ctx, cancel := callContext()
			defer cancel()
			m, err := c.MintRelay(ctx, args[0], req)
			if err != nil {
				return err
			}
			return a.resultFunc(m, func() error {
				a.printf("%s\n", m.Session)
				a.notef("relay session %s of %s (%s) until %s; end it with: tgvault relay revoke %s", m.ID, m.Account, m.Policy, m.Expires.Local().Format(timeWithZone), m.ID)
				if m.Proxy != nil {
					a.notef("connect through the relay's SOCKS5 proxy %s", m.Proxy.URL)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "the client library's string format `F`: "+relayFormats)
	f.register(cmd.Flags())
	cmd.AddCommand(a.relayRevokeCmd(), a.relayListCmd())
	return cmd
}

func (a *app) relayRevokeCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "End a relay session: its key is forgotten and its connections closed",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.apiClient(socket)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.RevokeRelay(ctx, args[0]); err != nil {
				return err
			}
			return a.resultFunc(localapi.RelayRevoked{ID: args[0], Revoked: true}, func() error {
				a.notef("relay session %s revoked", args[0])
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "the local API socket `PATH` of the running tgvault run")
	return cmd
}

func (a *app) relayListCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the open relay sessions of the running tgvault run",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.apiClient(socket)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			list, err := c.RelaySessions(ctx)
			if err != nil {
				return err
			}
			return a.resultFunc(list, func() error {
				for _, s := range list {
					a.printf("%s  %-20s %-12s %d connection(s), until %s\n", s.ID, s.Account, s.Policy, s.Connections, s.Expires.Local().Format(timeWithZone))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "the local API socket `PATH` of the running tgvault run")
	return cmd
}
