package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
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
// quote the URL, which may hold a password or an MTProxy secret.
var errBadProxy = errors.New("bad proxy")

// proxyForms is what a proxy URL may look like, for errors.
const proxyForms = "want socks5://[user:password@]host:port, tg://proxy?server=HOST&port=PORT&secret=SECRET, https://t.me/proxy?server=...&port=...&secret=... or mtproxy://SECRET@host:port"

// proxyConf is how an account connects: through a SOCKS5 dialer, an
// MTProxy, or directly (the zero value).
type proxyConf struct {
	dial    dialFunc
	mtproxy *mtproto.MTProxy
}

// direct says the connection is not proxied.
func (p proxyConf) direct() bool { return p.dial == nil && p.mtproxy == nil }

// apply sets the client options' Dial and MTProxy.
func (p proxyConf) apply(o *mtproto.Options) {
	o.Dial = p.dial
	o.MTProxy = p.mtproxy
}

// parseProxy turns a proxy URL into a proxyConf: socks5://host:port or
// socks5://user:password@host:port (socks5h too; the DC address is an IP
// either way), or an MTProxy as Telegram's links carry it
// (tg://proxy?server=HOST&port=PORT&secret=SECRET, the same query on
// https://t.me/proxy, and the shorthand mtproxy://SECRET@host:port). ""
// and "none" mean a direct connection.
func parseProxy(raw string) (proxyConf, error) {
	if raw == "" || raw == "none" {
		return proxyConf{}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return proxyConf{}, fmt.Errorf("%w: not a URL (%s)", errBadProxy, proxyForms)
	}
	switch strings.ToLower(u.Scheme) {
	case "socks5", "socks5h":
	case "mtproxy", "tg", "https", "http":
		p, err := parseMTProxy(u)
		if err != nil {
			return proxyConf{}, err
		}
		return proxyConf{mtproxy: &p}, nil
	default:
		return proxyConf{}, fmt.Errorf("%w: scheme %q is not supported (%s)", errBadProxy, u.Scheme, proxyForms)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" || u.Hostname() == "" {
		return proxyConf{}, fmt.Errorf("%w: want socks5://[user:password@]host:port", errBadProxy)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return proxyConf{}, fmt.Errorf("%w: a SOCKS5 proxy URL has no path or query", errBadProxy)
	}
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		if user == "" {
			return proxyConf{}, fmt.Errorf("%w: a SOCKS5 login needs a username (socks5://user:password@host:port)", errBadProxy)
		}
	}
	// A refused login fails the dial with mtproto.ErrProxyAuth, which the
	// client and the pool treat as final.
	d, err := mtproto.SOCKS5(u.Host, user, pass)
	if err != nil {
		return proxyConf{}, fmt.Errorf("%w: the username or password is too long (at most 255 bytes each)", errBadProxy)
	}
	return proxyConf{dial: d}, nil
}

// parseMTProxy reads an MTProxy link. Its errors name what is wrong and
// the secret's type, never the secret.
func parseMTProxy(u *url.URL) (mtproto.MTProxy, error) {
	var host, port, secret string
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "mtproxy":
		if u.User == nil || u.Host == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
			return mtproto.MTProxy{}, fmt.Errorf("%w: want mtproxy://SECRET@host:port", errBadProxy)
		}
		if _, has := u.User.Password(); has {
			return mtproto.MTProxy{}, fmt.Errorf("%w: want mtproxy://SECRET@host:port (no password)", errBadProxy)
		}
		var err error
		if host, port, err = net.SplitHostPort(u.Host); err != nil {
			return mtproto.MTProxy{}, fmt.Errorf("%w: want mtproxy://SECRET@host:port", errBadProxy)
		}
		secret = u.User.Username()
	case scheme == "tg" && strings.EqualFold(u.Host, "proxy") && (u.Path == "" || u.Path == "/"),
		(scheme == "https" || scheme == "http") && isTelegramHost(u.Host) && strings.TrimSuffix(u.Path, "/") == "/proxy":
		if u.User != nil {
			return mtproto.MTProxy{}, fmt.Errorf("%w: an MTProxy link has no user", errBadProxy)
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return mtproto.MTProxy{}, fmt.Errorf("%w: the MTProxy link's query is unreadable", errBadProxy)
		}
		host, port, secret = q.Get("server"), q.Get("port"), q.Get("secret")
		if host == "" || port == "" || secret == "" {
			return mtproto.MTProxy{}, fmt.Errorf("%w: an MTProxy link needs server, port and secret", errBadProxy)
		}
	case scheme == "tg" && strings.EqualFold(u.Host, "socks"):
		return mtproto.MTProxy{}, fmt.Errorf("%w: tg://socks links are not supported; write socks5://[user:password@]host:port", errBadProxy)
	case scheme == "tg" || scheme == "mtproxy":
		return mtproto.MTProxy{}, fmt.Errorf("%w: want tg://proxy?server=HOST&port=PORT&secret=SECRET", errBadProxy)
	default:
		return mtproto.MTProxy{}, fmt.Errorf("%w: scheme %q is only for MTProxy links on t.me (%s)", errBadProxy, u.Scheme, proxyForms)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || host == "" {
		return mtproto.MTProxy{}, fmt.Errorf("%w: the MTProxy needs a host and a port (1-65535)", errBadProxy)
	}
	b, err := mtproto.ParseMTProxySecret(secret)
	if err != nil {
		return mtproto.MTProxy{}, fmt.Errorf("%w: %w", errBadProxy, err)
	}
	return mtproto.MTProxy{Addr: net.JoinHostPort(strings.Trim(host, "[]"), port), Secret: b}, nil
}

func isTelegramHost(h string) bool {
	switch strings.ToLower(h) {
	case "t.me", "www.t.me", "telegram.me", "www.telegram.me":
		return true
	}
	return false
}

// redactProxy shows a proxy URL without its password or secret.
func redactProxy(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unreadable)"
	}
	switch strings.ToLower(u.Scheme) {
	case "socks5", "socks5h":
	default:
		p, err := parseMTProxy(u)
		if err != nil {
			return "(unreadable)"
		}
		kind := "plain"
		switch t, _ := p.SecretType(); t {
		case mtproto.MTProxySecured:
			kind = "dd"
		case mtproto.MTProxyFakeTLS:
			kind = "ee"
		}
		return "mtproxy://(" + kind + "-secret:redacted)@" + p.Addr
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
	if _, err := parseProxy(raw); err != nil {
		return "", usagef("--proxy: %v", err)
	}
	return raw, nil
}

func (a *app) proxyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy NAME [URL|none]",
		Short: "Show or set an account's own proxy",
		Long: `Show or set the proxy an account connects through: a SOCKS5 proxy
(socks5://host:port or socks5://user:password@host:port) or an MTProxy as
Telegram's links give it (tg://proxy?server=HOST&port=PORT&secret=SECRET,
https://t.me/proxy?server=...&port=...&secret=..., or the shorthand
mtproxy://SECRET@host:port). MTProxy secrets may be 16 bytes (plain
obfuscated2), dd and 16 bytes (random padding) or ee, 16 bytes and a domain
(fake-TLS), in hex or base64; the proxy picks the DC. "none" removes it. An
account's own proxy wins over run's --proxy (TGVAULT_PROXY). The URL is kept
inside the sealed account file; it is shown without its password or secret.
While ` + "`tgvault run`" + `
holds the vault, setting is refused (exit 5): stop run first.`,
		Args: rangeArgs(1, 2, "NAME [URL|none]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			set := len(args) == 2
			if set {
				if _, err := parseProxy(args[1]); err != nil {
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
