package dial

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// mtSecret is an MTProxy key in hex; mtTLSB64 an ee secret with it, in
// base64url as fake-TLS links often carry it.
const (
	mtSecret = "0123456789abcdeffedcba9876543210"
	mtTLSB64 = "7gEjRWeJq83v_ty6mHZUMhBleGFtcGxlLmNvbQ"
)

// TestParseMTProxy: every form of MTProxy link Telegram uses is read into
// the proxy's address and decoded secret; bad ones are ErrBadProxy errors
// that name the problem and never quote the secret.
func TestParseMTProxy(t *testing.T) {
	key, _ := hex.DecodeString(mtSecret)
	tls := append(append([]byte{0xee}, key...), "example.com"...)
	if got := base64.RawURLEncoding.EncodeToString(tls); got != mtTLSB64 {
		t.Fatalf("mtTLSB64 is %s", got)
	}
	ok := []struct {
		url, addr string
		secret    []byte
	}{
		{"tg://proxy?server=proxy.example&port=443&secret=" + mtSecret, "proxy.example:443", key},
		{"tg://proxy?server=1.2.3.4&port=8443&secret=dd" + mtSecret, "1.2.3.4:8443", append([]byte{0xdd}, key...)},
		{"https://t.me/proxy?server=1.2.3.4&port=443&secret=" + mtTLSB64, "1.2.3.4:443", tls},
		{"https://telegram.me/proxy/?server=::1&port=443&secret=ee" + hex.EncodeToString(tls[1:]), "[::1]:443", tls},
		{"mtproxy://dd" + mtSecret + "@127.0.0.1:443", "127.0.0.1:443", append([]byte{0xdd}, key...)},
	}
	for _, tt := range ok {
		p, err := Parse(tt.url)
		if err != nil || p.MTProxy == nil || p.Dial != nil {
			t.Errorf("%s: %+v, %v", tt.url, p, err)
			continue
		}
		if p.MTProxy.Addr != tt.addr || string(p.MTProxy.Secret) != string(tt.secret) {
			t.Errorf("%s: addr %s secret %x", tt.url, p.MTProxy.Addr, p.MTProxy.Secret)
		}
	}
	bad := []struct{ url, err string }{
		{"tg://proxy?server=1.2.3.4&port=443&secret=ef" + mtSecret, "type 0xef"},
		{"tg://proxy?server=1.2.3.4&port=443&secret=ee" + mtSecret, "ee (fake-TLS) secret without a domain"},
		{"tg://proxy?server=1.2.3.4&port=443&secret=" + mtSecret[:20], "want 16"},
		{"tg://proxy?server=1.2.3.4&secret=" + mtSecret, "needs server, port and secret"},
		{"tg://proxy?server=1.2.3.4&port=99999&secret=" + mtSecret, "port (1-65535)"},
		{"tg://socks?server=1.2.3.4&port=1080", "tg://socks links are not supported"},
		{"tg://join?invite=" + mtSecret, "want tg://proxy"},
		{"https://example.com/proxy?server=1.2.3.4&port=443&secret=" + mtSecret, "only for MTProxy links"},
		{"https://t.me/other?server=1.2.3.4&port=443&secret=" + mtSecret, "only for MTProxy links"},
		{"mtproxy://127.0.0.1:443", "mtproxy://SECRET@host:port"},
		{"mtproxy://" + mtSecret + "@127.0.0.1", "mtproxy://SECRET@host:port"},
	}
	for _, tt := range bad {
		_, err := Parse(tt.url)
		if !errors.Is(err, ErrBadProxy) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want ErrBadProxy saying %q", tt.url, err, tt.err)
		}
		if err != nil && (strings.Contains(err.Error(), mtSecret[:10]) || strings.Contains(err.Error(), mtSecret[20:])) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

func TestProxyDialer(t *testing.T) {
	const pass = "hunter2pw"
	tests := []struct {
		url    string
		direct bool   // nil dialer
		err    string // "" for success
	}{
		{"tg://proxy?server=127.0.0.1&port=443&secret=" + pass, false, "neither hex nor base64"},
		{"", true, ""},
		{None, true, ""},
		{"socks5://127.0.0.1:1080", false, ""},
		{"socks5h://proxy.example:1080", false, ""},
		{"SOCKS5://u:" + pass + "@127.0.0.1:1080", false, ""},
		{"mtproxy://u:" + pass + "@127.0.0.1:443", false, "no password"},
		{"http://u:" + pass + "@127.0.0.1:3128", false, "only for MTProxy links"},
		{"ftp://u:" + pass + "@127.0.0.1:3128", false, "not supported"},
		{"socks5://u:" + pass + "@127.0.0.1", false, "host:port"},
		{"socks5://u:" + pass + "@:1080", false, "host:port"},
		{"socks5://u:" + pass + "@127.0.0.1:1080/x?y=" + pass, false, "no path or query"},
		{"socks5://u:" + pass + "@127.0.0.1:1080\x7f", false, "not a URL"},
		{"socks5://:" + pass + "@127.0.0.1:1080", false, "needs a username"},
	}
	for _, tt := range tests {
		p, err := Parse(tt.url)
		if IsNone(tt.url) != (tt.direct && err == nil) {
			t.Errorf("IsNone(%q) = %v, want it to say whether Parse makes a direct connection", tt.url, IsNone(tt.url))
		}
		if tt.err == "" {
			if err != nil {
				t.Errorf("parseProxy: %v", err)
			} else if p.Direct() != tt.direct || p.MTProxy != nil {
				t.Errorf("a dialer %v, want direct %v", p.Dial != nil, tt.direct)
			}
			continue
		}
		if !errors.Is(err, ErrBadProxy) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("error %v, want ErrBadProxy saying %q", err, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), pass) {
			t.Errorf("the error echoes the password: %v", err)
		}
	}
}

func TestRedactProxy(t *testing.T) {
	for in, want := range map[string]string{
		"tg://proxy?server=proxy.example&port=443&secret=" + mtSecret:      "mtproxy://(plain-secret:redacted)@proxy.example:443",
		"https://t.me/proxy?server=1.2.3.4&port=8443&secret=dd" + mtSecret: "mtproxy://(dd-secret:redacted)@1.2.3.4:8443",
		"mtproxy://" + mtTLSB64 + "@[::1]:443":                             "mtproxy://(ee-secret:redacted)@[::1]:443",
		"tg://proxy?server=proxy.example&port=443&secret=ef" + mtSecret:    "(unreadable)",
		"socks5://u:hunter2pw@127.0.0.1:1080":                              "socks5://u:(redacted)@127.0.0.1:1080",
		"socks5://127.0.0.1:1080":                                          "socks5://127.0.0.1:1080",
		"::bad":                                                            "(unreadable)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("redactProxy: %q, want %q", got, want)
		}
	}
}

// TestReadURL: one line, white space around it dropped; an empty input,
// two lines or an input over MaxURLSize is ErrBadProxy, quoting nothing.
func TestReadURL(t *testing.T) {
	t.Parallel()
	const secret = "socks5://user:hunter2pw@127.0.0.1:1080"
	for _, c := range []struct {
		in, want string
		bad      bool
	}{
		{"  " + secret + "\n", secret, false},
		{secret, secret, false},
		{"", "", true},
		{" \n", "", true},
		{secret + "\n" + secret + "\n", "", true},
		{strings.Repeat("x", MaxURLSize+1), "", true},
	} {
		got, err := ReadURL(strings.NewReader(c.in))
		if got != c.want || errors.Is(err, ErrBadProxy) != c.bad {
			t.Errorf("ReadURL(%.20q) = %q, %v", c.in, got, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2pw") {
			t.Errorf("the error quotes the input: %v", err)
		}
	}
}
