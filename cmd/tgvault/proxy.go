package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

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

// errSecretOnArgv is a proxy URL with a password or secret on the
// command line, where every user of the machine sees it (ps, /proc) and
// the shell keeps it in its history.
var errSecretOnArgv = errors.New("a proxy URL with a password or MTProxy secret is not taken from the command line (it shows in the process list and the shell history)")

// proxyHasSecret reports whether a proxy URL carries a secret: a SOCKS5
// password, or an MTProxy secret (every MTProxy link has one). An URL that
// does not parse carries none as far as this is concerned: parseProxy
// refuses it without quoting it.
func proxyHasSecret(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "socks5", "socks5h":
		pass, ok := u.User.Password()
		return ok && pass != ""
	case "mtproxy":
		return u.User != nil
	case "tg", "https", "http":
		q, err := url.ParseQuery(u.RawQuery)
		return err != nil || q.Get("secret") != ""
	}
	return false
}

// maxProxyURL bounds a proxy URL read from stdin or a file.
const maxProxyURL = 4 << 10

// readProxyURL reads a proxy URL from r: one line, surrounding white
// space dropped.
func readProxyURL(r io.Reader, from string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxProxyURL+1))
	if err != nil {
		return "", fmt.Errorf("reading the proxy URL from %s: %w", from, err)
	}
	if len(b) > maxProxyURL {
		return "", usagef("the proxy URL in %s is longer than %d bytes", from, maxProxyURL)
	}
	raw := strings.TrimSpace(string(b))
	clear(b)
	if raw == "" || strings.ContainsAny(raw, "\r\n") {
		return "", usagef("%s holds no proxy URL, or more than one line", from)
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
		if proxyHasSecret(raw) {
			return "", usagef("--proxy: %v: put the URL in a file (0600) and name it in TGVAULT_PROXY_FILE", errSecretOnArgv)
		}
	case a.getenv("TGVAULT_PROXY_FILE") != "":
		path := a.getenv("TGVAULT_PROXY_FILE")
		fh, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("TGVAULT_PROXY_FILE: %w", err)
		}
		defer fh.Close()
		a.warnIfReadable(fh, "TGVAULT_PROXY_FILE "+path, "a proxy URL")
		if raw, err = readProxyURL(fh, "TGVAULT_PROXY_FILE"); err != nil {
			return "", err
		}
	default:
		raw = a.getenv("TGVAULT_PROXY")
	}
	if _, err := parseProxy(raw); err != nil {
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
(fake-TLS), in hex or base64; the proxy picks the DC. "none" removes it. An
account's own proxy wins over run's --proxy (TGVAULT_PROXY_FILE,
TGVAULT_PROXY). The URL is kept inside the sealed account file; it is shown
without its password or secret.

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
				case proxyHasSecret(val):
					return usagef("%v: give it on stdin instead: tgvault proxy %s - (or a file: tgvault proxy %s - < FILE)", errSecretOnArgv, name, name)
				}
				if _, err := parseProxy(val); err != nil {
					return usagef("%v", err)
				}
			}
			return a.withVault(perProcess, func(v *vault.Vault) error {
				if set {
					release, err := v.ClaimAccount(name)
					if err != nil {
						return fmt.Errorf("%w: stop it first", err)
					}
					defer release()
				}
				f, err := v.OpenAccount(name)
				if err != nil {
					return err
				}
				defer f.Close()
				if set {
					var b []byte
					if val != "none" {
						b = []byte(val)
					}
					if err := v.Commit(f, func() error { return f.SetMeta(metaProxy, b) }); err != nil {
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
