package dial

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// proxyForms is what a proxy URL may look like, for errors.
const proxyForms = "want socks5://[user:password@]host:port, tg://proxy?server=HOST&port=PORT&secret=SECRET, https://t.me/proxy?server=...&port=...&secret=... or mtproxy://SECRET@host:port"

// None is the proxy URL that means a direct connection (as "" does): what
// `tgvault proxy NAME none` gives to remove an account's own proxy, and
// what it shows for an account without one.
const None = "none"

// IsNone reports whether raw means a direct connection: "" or None.
func IsNone(raw string) bool { return raw == "" || raw == None }

// Proxy is how an account connects: through a SOCKS5 dialer, an MTProxy,
// or directly (the zero value).
type Proxy struct {
	Dial    Func
	MTProxy *MTProxy
}

// Direct says the connection is not proxied.
func (p Proxy) Direct() bool { return p.Dial == nil && p.MTProxy == nil }

// Parse turns a proxy URL into a Proxy: socks5://host:port or
// socks5://user:password@host:port (socks5h too; the DC address is an IP
// either way), or an MTProxy as Telegram's links carry it
// (tg://proxy?server=HOST&port=PORT&secret=SECRET, the same query on
// https://t.me/proxy, and the shorthand mtproxy://SECRET@host:port). ""
// and None mean a direct connection (IsNone). Errors match ErrBadProxy and
// never quote the URL.
func Parse(raw string) (Proxy, error) {
	if IsNone(raw) {
		return Proxy{}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Proxy{}, fmt.Errorf("%w: not a URL (%s)", ErrBadProxy, proxyForms)
	}
	switch strings.ToLower(u.Scheme) {
	case "socks5", "socks5h":
	case "mtproxy", "tg", "https", "http":
		p, err := parseMTProxy(u)
		if err != nil {
			return Proxy{}, err
		}
		return Proxy{MTProxy: &p}, nil
	default:
		return Proxy{}, fmt.Errorf("%w: scheme %q is not supported (%s)", ErrBadProxy, u.Scheme, proxyForms)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" || u.Hostname() == "" {
		return Proxy{}, fmt.Errorf("%w: want socks5://[user:password@]host:port", ErrBadProxy)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return Proxy{}, fmt.Errorf("%w: a SOCKS5 proxy URL has no path or query", ErrBadProxy)
	}
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		if user == "" {
			return Proxy{}, fmt.Errorf("%w: a SOCKS5 login needs a username (socks5://user:password@host:port)", ErrBadProxy)
		}
	}
	// A refused login fails the dial with ErrProxyAuth, which the client
	// and the pool treat as final.
	d, err := SOCKS5(u.Host, user, pass)
	if err != nil {
		return Proxy{}, fmt.Errorf("%w: the username or password is too long (at most 255 bytes each)", ErrBadProxy)
	}
	return Proxy{Dial: d}, nil
}

// parseMTProxy reads an MTProxy link. Its errors name what is wrong and
// the secret's type, never the secret.
func parseMTProxy(u *url.URL) (MTProxy, error) {
	var host, port, secret string
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "mtproxy":
		if u.User == nil || u.Host == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
			return MTProxy{}, fmt.Errorf("%w: want mtproxy://SECRET@host:port", ErrBadProxy)
		}
		if _, has := u.User.Password(); has {
			return MTProxy{}, fmt.Errorf("%w: want mtproxy://SECRET@host:port (no password)", ErrBadProxy)
		}
		var err error
		if host, port, err = net.SplitHostPort(u.Host); err != nil {
			return MTProxy{}, fmt.Errorf("%w: want mtproxy://SECRET@host:port", ErrBadProxy)
		}
		secret = u.User.Username()
	case scheme == "tg" && strings.EqualFold(u.Host, "proxy") && (u.Path == "" || u.Path == "/"),
		(scheme == "https" || scheme == "http") && isTelegramHost(u.Host) && strings.TrimSuffix(u.Path, "/") == "/proxy":
		if u.User != nil {
			return MTProxy{}, fmt.Errorf("%w: an MTProxy link has no user", ErrBadProxy)
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return MTProxy{}, fmt.Errorf("%w: the MTProxy link's query is unreadable", ErrBadProxy)
		}
		host, port, secret = q.Get("server"), q.Get("port"), q.Get("secret")
		if host == "" || port == "" || secret == "" {
			return MTProxy{}, fmt.Errorf("%w: an MTProxy link needs server, port and secret", ErrBadProxy)
		}
	case scheme == "tg" && strings.EqualFold(u.Host, "socks"):
		return MTProxy{}, fmt.Errorf("%w: tg://socks links are not supported; write socks5://[user:password@]host:port", ErrBadProxy)
	case scheme == "tg" || scheme == "mtproxy":
		return MTProxy{}, fmt.Errorf("%w: want tg://proxy?server=HOST&port=PORT&secret=SECRET", ErrBadProxy)
	default:
		return MTProxy{}, fmt.Errorf("%w: scheme %q is only for MTProxy links on t.me (%s)", ErrBadProxy, u.Scheme, proxyForms)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || host == "" {
		return MTProxy{}, fmt.Errorf("%w: the MTProxy needs a host and a port (1-65535)", ErrBadProxy)
	}
	b, err := ParseMTProxySecret(secret)
	if err != nil {
		return MTProxy{}, fmt.Errorf("%w: %w", ErrBadProxy, err)
	}
	return MTProxy{Addr: net.JoinHostPort(strings.Trim(host, "[]"), port), Secret: b}, nil
}

func isTelegramHost(h string) bool {
	switch strings.ToLower(h) {
	case "t.me", "www.t.me", "telegram.me", "www.telegram.me":
		return true
	}
	return false
}

// Redact shows a proxy URL without its password or secret.
func Redact(raw string) string {
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
		case MTProxySecured:
			kind = "dd"
		case MTProxyFakeTLS:
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

// HasSecret reports whether a proxy URL carries a secret: a SOCKS5
// password, or an MTProxy secret (every MTProxy link has one). An URL that
// does not parse carries none as far as this is concerned: Parse refuses
// it without quoting it.
func HasSecret(raw string) bool {
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

// MaxURLSize bounds a proxy URL ReadURL reads.
const MaxURLSize = 4 << 10

// ReadURL reads a proxy URL from r (a file, stdin): one line, white space
// around it dropped, at most MaxURLSize bytes. A longer input, an empty
// one or more than one line is an error matching ErrBadProxy; the read
// bytes are wiped, and no error quotes them. It does not Parse the URL.
func ReadURL(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxURLSize+1))
	defer clear(b)
	if err != nil {
		return "", err
	}
	if len(b) > MaxURLSize {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadProxy, MaxURLSize)
	}
	raw := strings.TrimSpace(string(b))
	if raw == "" || strings.ContainsAny(raw, "\r\n") {
		return "", fmt.Errorf("%w: no proxy URL, or more than one line", ErrBadProxy)
	}
	return raw, nil
}
