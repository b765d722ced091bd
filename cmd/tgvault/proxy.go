package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/vault"
)

// metaProxy is the account meta key of the account's own proxy URL. The
// URL may carry a password: it lives only inside the sealed account file
// and is never printed whole (see redactProxy).
const metaProxy = "tgvault.proxy"

// dialFunc opens a connection, as net.Dialer.DialContext does.
type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// errBadProxy is a proxy URL that cannot be used. Its messages never
// quote the URL, which may hold a password.
var errBadProxy = errors.New("bad proxy")

// proxyDialer turns a proxy URL into a dial function: socks5://host:port
// or socks5://user:password@host:port (socks5h too; the DC address is an
// IP either way). "" and "none" mean a direct connection (nil).
func proxyDialer(raw string) (dialFunc, error) {
	if raw == "" || raw == "none" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL (want socks5://[user:password@]host:port)", errBadProxy)
	}
	switch strings.ToLower(u.Scheme) {
	case "socks5", "socks5h":
	case "mtproxy", "tg", "https":
		return nil, fmt.Errorf("%w: MTProxy is not supported yet; use a SOCKS5 proxy (socks5://host:port)", errBadProxy)
	default:
		return nil, fmt.Errorf("%w: scheme %q is not supported (want socks5://[user:password@]host:port)", errBadProxy, u.Scheme)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: want socks5://[user:password@]host:port", errBadProxy)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, fmt.Errorf("%w: a SOCKS5 proxy URL has no path or query", errBadProxy)
	}
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		if user == "" {
			return nil, fmt.Errorf("%w: a SOCKS5 login needs a username (socks5://user:password@host:port)", errBadProxy)
		}
	}
	// A refused login fails the dial with mtproto.ErrProxyAuth, which the
	// client and the pool treat as final.
	d, err := mtproto.SOCKS5(u.Host, user, pass)
	if err != nil {
		return nil, fmt.Errorf("%w: the username or password is too long (at most 255 bytes each)", errBadProxy)
	}
	return d, nil
}

// redactProxy shows a proxy URL without its password.
func redactProxy(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unreadable)"
	}
	user := ""
	if u.User != nil {
		user = u.User.Username() + ":(redacted)@"
	}
	return u.Scheme + "://" + user + u.Host
}

// proxyURL resolves --proxy and TGVAULT_PROXY, checked.
func (a *app) proxyURL(f *serverFlags) (string, error) {
	raw := f.proxy
	if raw == "" {
		raw = a.getenv("TGVAULT_PROXY")
	}
	if _, err := proxyDialer(raw); err != nil {
		return "", usagef("--proxy: %v", err)
	}
	return raw, nil
}

func (a *app) proxyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy NAME [URL|none]",
		Short: "Show or set an account's own proxy",
		Long: `Show or set the proxy an account connects through: socks5://host:port or
socks5://user:password@host:port. "none" removes it. An account's own proxy
wins over run's --proxy (TGVAULT_PROXY). The URL is kept inside the sealed
account file; it is shown without its password. While ` + "`tgvault run`" + `
holds the vault, setting is refused (exit 5): stop run first.`,
		Args: rangeArgs(1, 2, "NAME [URL|none]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			set := len(args) == 2
			if set {
				if _, err := proxyDialer(args[1]); err != nil {
					return usagef("%v", err)
				}
			}
			return a.withVault(perProcess, func(v *vault.Vault) error {
				if set {
					if pid, held := v.HeldByRun(); held {
						return fmt.Errorf("%w (pid %d): stop it first", vault.ErrHeldByRun, pid)
					}
				}
				f, err := v.OpenAccount(name)
				if err != nil {
					return err
				}
				defer f.Close()
				if set {
					var val []byte
					if args[1] != "none" {
						val = []byte(args[1])
					}
					if err := v.Commit(f, func() error { return f.SetMeta(metaProxy, val) }); err != nil {
						return err
					}
				}
				cur, ok, err := f.Meta(metaProxy)
				if err != nil {
					return err
				}
				shown := "none"
				if ok {
					shown = redactProxy(string(cur))
				}
				if a.json {
					return a.printJSON(map[string]string{"name": name, "proxy": shown})
				}
				a.printf("%s proxy %s\n", name, shown)
				return nil
			})
		},
	}
	return cmd
}
