package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tgvault/tgvault/daemon"
	"github.com/tgvault/tgvault/internal/secretfile"
	"github.com/tgvault/tgvault/mtproto/dial"
	"github.com/tgvault/tgvault/vault"
)

// errSecretOnArgv is a proxy URL with a password or secret on the
// command line, where every user of the machine sees it (ps, /proc) and
// the shell keeps it in its history.
var errSecretOnArgv = errors.New("a proxy URL with a password or MTProxy secret is not taken from the command line (it shows in the process list and the shell history)")

// readProxyURL reads a proxy URL from r (dial.ReadURL); from names r.
func readProxyURL(r io.Reader, from string) (string, error) {
	raw, err := dial.ReadURL(r)
	switch {
	case errors.Is(err, dial.ErrBadProxy):
		return "", usagef("the proxy URL in %s: %v", from, err)
	case err != nil:
		return "", fmt.Errorf("reading the proxy URL from %s: %w", from, err)
	}
	return raw, nil
}

// proxyURL resolves --proxy, TGVAULT_PROXY_FILE and TGVAULT_PROXY, in that
// order, checked. A --proxy URL that carries a secret is refused: it
// belongs in TGVAULT_PROXY_FILE.
func (a *app) proxyURL(f *serverFlags) (string, error) {
	raw := f.proxy
	switch {
	case raw != "":
		if dial.HasSecret(raw) {
			return "", usagef("--proxy: %v: put the URL in a file (0600) and name it in TGVAULT_PROXY_FILE", errSecretOnArgv)
		}
	case a.getenv("TGVAULT_PROXY_FILE") != "":
		path := a.getenv("TGVAULT_PROXY_FILE")
		b, exposed, err := secretfile.Read(path)
		defer clear(b)
		a.warnExposed(path, exposed, "TGVAULT_PROXY_FILE "+path, "a proxy URL")
		if err != nil {
			return "", fmt.Errorf("TGVAULT_PROXY_FILE: %w", err)
		}
		if raw, err = readProxyURL(bytes.NewReader(b), "TGVAULT_PROXY_FILE"); err != nil {
			return "", err
		}
	default:
		raw = a.getenv("TGVAULT_PROXY")
	}
	if _, err := dial.Parse(raw); err != nil {
		return "", usagef("--proxy: %v", err)
	}
	return raw, nil
}

func (a *app) proxyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy NAME [URL|-|none]",
		Short: "Show or set an account's own proxy",
		Long: `Show or set the proxy an account connects through: a SOCKS5 proxy
(socks5://host:port or socks5://user:password@host:port) or an MTProxy as
Telegram's links give it (tg://proxy?server=HOST&port=PORT&secret=SECRET,
https://t.me/proxy?server=...&port=...&secret=..., or the shorthand
mtproxy://SECRET@host:port). MTProxy secrets may be 16 bytes (plain
obfuscated2), dd and 16 bytes (random padding) or ee, 16 bytes and a domain
(fake-TLS), in hex or base64; the proxy picks the DC. "none" (or "")
removes it. An account's own proxy wins over run's --proxy
(TGVAULT_PROXY_FILE, TGVAULT_PROXY). The URL is kept inside the sealed
account file; it is shown without its password or secret.

A URL that carries a password or an MTProxy secret is not taken from the
command line, where other users see it in the process list and the shell
keeps it: give "-" and the URL on stdin (asked without echo on a terminal):

  tgvault proxy alice - < proxy.url

While another process holds the account (a ` + "`tgvault run`" + ` serving
it), setting is refused (exit 5): stop it first.`,
		Args: rangeArgs(1, 2, "NAME [URL|-|none]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			set := len(args) == 2
			var val string
			if set {
				val = args[1]
				switch {
				case val == "-":
					var err error
					if val, err = a.proxyFromStdin(); err != nil {
						return err
					}
				case dial.HasSecret(val):
					return usagef("%v: give it on stdin instead: tgvault proxy %s - (or a file: tgvault proxy %s - < FILE)", errSecretOnArgv, name, name)
				}
				if _, err := dial.Parse(val); err != nil {
					return usagef("%v", err)
				}
			}
			return a.withVault(perProcess, func(v *vault.Vault) error { return a.proxy(v, name, val, set) })
		},
	}
	return cmd
}

// proxy shows the account's proxy, after setting it to val when set
// ("none" removes it).
func (a *app) proxy(v *vault.Vault, name, val string, set bool) error {
	if set {
		if err := daemon.SetProxy(v, name, val); err != nil {
			return err
		}
	}
	shown, err := daemon.AccountProxy(v, name)
	if err != nil {
		return err
	}
	return a.result(map[string]string{"name": name, "proxy": shown}, "%s proxy %s\n", name, shown)
}

// proxyFromStdin reads `proxy NAME -`'s URL: asked without echo when stdin
// is a terminal, else read from it.
func (a *app) proxyFromStdin() (string, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, "Proxy URL (not shown): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the proxy URL: %w", err)
		}
		return readProxyURL(bytes.NewReader(b), "the terminal")
	}
	if a.stdin == nil {
		return "", usagef("no stdin to read the proxy URL from")
	}
	return readProxyURL(a.stdin, "stdin")
}
