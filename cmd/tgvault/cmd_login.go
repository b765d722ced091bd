package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tgvault/tgvault/daemon"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/vault"
)

// serverFlags are the server and API credential flags of login and run.
type serverFlags struct {
	addr    string
	keyPath string
	testDC  bool
	apiID   int
	apiHash string
	proxy   string
}

func (f *serverFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "server", "", "a custom MTProto server `HOST:PORT`, such as `tgvault dev-server` (default $TGVAULT_SERVER, else Telegram's DCs)")
	fs.StringVar(&f.keyPath, "server-key", "", "the custom server's RSA public key, a PEM `FILE` (default $TGVAULT_SERVER_KEY)")
	fs.BoolVar(&f.testDC, "test-dc", false, "use Telegram's test DCs instead of the production ones")
	fs.IntVar(&f.apiID, "api-id", 0, "the application's api_id from my.telegram.org (default $TGVAULT_API_ID)")
	fs.StringVar(&f.apiHash, "api-hash", "", "the application's api_hash (default $TGVAULT_API_HASH)")
	fs.StringVar(&f.proxy, "proxy", "", "connect through a proxy `URL`: SOCKS5 (socks5://[user:password@]host:port) or MTProxy (tg://proxy?server=HOST&port=PORT&secret=SECRET, https://t.me/proxy?..., mtproxy://SECRET@host:port); default $TGVAULT_PROXY; login stores it with the account, run uses it for accounts without their own")
}

// serverConf is where an account connects (kept under mtproto.MetaServer).
type serverConf = mtproto.ServerConf

// serverConf resolves the server flags and their environment variables
// (mtproto.ReadServerConf). set reports whether anything was given.
func (a *app) serverConf(f *serverFlags) (c serverConf, set bool, err error) {
	addr, keyPath := f.addr, f.keyPath
	if addr == "" {
		addr = a.getenv("TGVAULT_SERVER")
	}
	if keyPath == "" {
		keyPath = a.getenv("TGVAULT_SERVER_KEY")
	}
	c, err = mtproto.ReadServerConf(addr, keyPath, f.testDC)
	switch {
	case errors.Is(err, mtproto.ErrServerNeedsKey):
		return c, false, usagef("--server needs --server-key (or TGVAULT_SERVER_KEY): the server's public key")
	case errors.Is(err, mtproto.ErrKeyNeedsServer):
		return c, false, usagef("--server-key needs --server (or TGVAULT_SERVER)")
	case errors.As(err, new(*mtproto.ServerKeyError)):
		return c, false, fmt.Errorf("%w: %w", vault.ErrBadInput, err)
	}
	return c, err == nil && (addr != "" || f.testDC), err
}

// defaults are the server flags as run and logout take them: the server,
// api_id and proxy of the accounts that keep none of their own.
func (a *app) defaults(f *serverFlags) (mtproto.Defaults, error) {
	conf, confSet, err := a.serverConf(f)
	if err != nil {
		return mtproto.Defaults{}, err
	}
	apiID, err := a.apiID(f)
	if err != nil {
		return mtproto.Defaults{}, err
	}
	proxy, err := a.proxyURL(f)
	if err != nil {
		return mtproto.Defaults{}, err
	}
	return mtproto.Defaults{Server: conf, ServerSet: confSet, APIID: apiID, Proxy: proxy}, nil
}

// apiID resolves --api-id and TGVAULT_API_ID (0 when neither is set).
func (a *app) apiID(f *serverFlags) (int32, error) {
	id := int64(f.apiID)
	if id == 0 {
		if s := a.getenv("TGVAULT_API_ID"); s != "" {
			n, err := strconv.ParseInt(s, 10, 32)
			if err != nil || n <= 0 {
				return 0, usagef("TGVAULT_API_ID must be a positive 32-bit number")
			}
			id = n
		}
	}
	if id < 0 || id > 1<<31-1 {
		return 0, usagef("--api-id must be a positive 32-bit number")
	}
	return int32(id), nil
}

// apiCreds resolves --api-id/--api-hash and their environment variables.
// A custom server gets placeholders when none are given; Telegram's DCs
// need real ones.
func (a *app) apiCreds(f *serverFlags, c serverConf) (int32, string, error) {
	id, err := a.apiID(f)
	if err != nil {
		return 0, "", err
	}
	hash := f.apiHash
	if hash == "" {
		hash = a.getenv("TGVAULT_API_HASH")
	}
	id, hash, err = c.APICreds(id, hash)
	if errors.Is(err, mtproto.ErrNeedAPICreds) {
		return 0, "", usagef("Telegram needs --api-id and --api-hash (or TGVAULT_API_ID, TGVAULT_API_HASH; get them at https://my.telegram.org); a dev server does not (tgvault dev-server)")
	}
	return id, hash, err
}

// signalContext is ctx canceled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// loginCmd is `tgvault login`. Long: its help text is a third of it; the
// login itself is login.
func (a *app) loginCmd() *cobra.Command {
	var (
		sf       serverFlags
		botToken string
		phone    string
		qrCode   bool
		df       deviceFlags
	)
	cmd := &cobra.Command{
		Use:   "login NAME (--bot-token TOKEN | --phone +NUMBER | --qr) [--server HOST:PORT --server-key FILE] [--test-dc] [--api-id N --api-hash H]",
		Short: "Log a new account in and keep its session in the vault",
		Long: `Log a new account in and keep its session in the vault under NAME: a bot
with its token, or a user with its phone number, the code Telegram sends and,
if the account has one, its 2FA password. The code and password are asked on
the terminal without echo, or read from TGVAULT_LOGIN_CODE_FILE and
TGVAULT_2FA_PASSWORD_FILE. The bot token may come from the file named by
TGVAULT_BOT_TOKEN_FILE instead of --bot-token, which other users of the
machine can see in the process list.

The account logs in on Telegram's production DCs (--test-dc: the test DCs),
which need --api-id and --api-hash (or TGVAULT_API_ID, TGVAULT_API_HASH), or
on a custom server (--server and --server-key, or TGVAULT_SERVER and
TGVAULT_SERVER_KEY), such as ` + "`tgvault dev-server`" + `. The account remembers
its server: ` + "`tgvault run`" + ` connects it there.

--qr logs a user in by QR code instead: scan it with Telegram on a device
where the account is logged in (Settings > Devices > Link Desktop Device);
it is redrawn as each code expires, and the 2FA password is asked for when
the account has one (TGVAULT_2FA_PASSWORD_FILE).`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if botToken == "" && phone == "" && !qrCode {
				// The token from a file keeps it out of the process list.
				t, err := a.passphraseFromEnv("TGVAULT_BOT_TOKEN_FILE")
				if err != nil {
					return err
				}
				botToken = strings.TrimSpace(string(t))
				t.Wipe()
			}
			req := daemon.LoginRequest{Name: name, BotToken: botToken, Phone: phone, QR: qrCode}
			if req.Check() != nil {
				return usagef("give exactly one of --bot-token (or TGVAULT_BOT_TOKEN_FILE), --phone and --qr")
			}
			conf, _, err := a.serverConf(&sf)
			if err != nil {
				return err
			}
			if req.APIID, req.APIHash, err = a.apiCreds(&sf, conf); err != nil {
				return err
			}
			req.Server = conf
			if req.Proxy, err = a.proxyURL(&sf); err != nil {
				return err
			}
			if req.Device, err = df.pick(); err != nil {
				return err
			}
			return a.withVault(perProcess, func(v *vault.Vault) error { return a.login(v, req) })
		},
	}
	f := cmd.Flags()
	sf.register(f)
	f.StringVar(&botToken, "bot-token", "", "log a bot in with its `TOKEN` (from @BotFather, or the dev server)")
	f.StringVar(&phone, "phone", "", "log a user in with its phone `NUMBER` (international form, +...)")
	df.register(f)
	f.BoolVar(&qrCode, "qr", false, "log a user in by QR code, scanned with Telegram on a device where it is logged in")
	return cmd
}

// login logs r in (daemon.Login, asking on the terminal) and prints the
// account.
func (a *app) login(v *vault.Vault, r daemon.LoginRequest) error {
	ctx, stop := signalContext()
	defer stop()
	acct, id, err := daemon.Login(ctx, v, r, userAuth{a})
	if err != nil {
		return err
	}
	kind := "user"
	if id.IsBot {
		kind = "bot"
	}
	return a.result(acct, "logged in %s as %s %d; the session is in the vault\n", r.Name, kind, id.UserID)
}

// userAuth answers a user login's questions from the files named by the
// environment, or on the terminal without echo.
type userAuth struct{ a *app }

var _ daemon.LoginPrompts = userAuth{}

func (u userAuth) Code(context.Context) (string, error) {
	p, err := u.a.passphrase("TGVAULT_LOGIN_CODE_FILE", "Login code (Telegram sent it to the account): ", false)
	if err != nil {
		return "", err
	}
	defer p.Wipe()
	return strings.TrimSpace(string(p)), nil
}

func (u userAuth) Password(context.Context) (string, error) {
	p, err := u.a.passphrase("TGVAULT_2FA_PASSWORD_FILE", "2FA password: ", false)
	if err != nil {
		return "", err
	}
	defer p.Wipe()
	return string(p), nil
}

func (a *app) logoutCmd() *cobra.Command {
	var sf serverFlags
	cmd := &cobra.Command{
		Use:   "logout NAME",
		Short: "Log an account out on the server and mark it revoked",
		Long: `Log an account out on the server (auth.logOut): the server ends the session,
and the account is marked revoked in the vault (tgvault rm deletes it). The
account connects to the server it logged in on; the server flags serve
imported accounts, as for run. While another process holds the account (a
` + "`tgvault run`" + ` serving it) it is refused (exit 5): stop it first.`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			d, err := a.defaults(&sf)
			if err != nil {
				return err
			}
			return a.withVault(perProcess, func(v *vault.Vault) error {
				ctx, stop := signalContext()
				defer stop()
				already, err := daemon.Logout(ctx, v, name, d)
				if err != nil {
					return err
				}
				msg := "logged out " + name + "; marked revoked (tgvault rm deletes it)"
				if already {
					msg = name + " was already logged out on the server; marked revoked (tgvault rm deletes it)"
				}
				return a.done(msg)
			})
		},
	}
	sf.register(cmd.Flags())
	return cmd
}
