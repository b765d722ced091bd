package dial

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	tddcs "github.com/gotd/td/telegram/dcs"
	tdtransport "github.com/gotd/td/transport"
)

// ErrMTProxySecret reports an MTProxy secret that cannot be used: not hex
// or base64, the wrong length, or a type this client does not speak. Its
// messages name the secret's type, never its bytes.
var ErrMTProxySecret = errors.New("mtproto: bad MTProxy secret")

// ErrMTProxyAddr reports an MTProxy address that is not host:port.
var ErrMTProxyAddr = errors.New("mtproto: bad MTProxy address")

// MTProxySecretType is the kind of an MTProxy secret, told by its first
// byte and its length.
type MTProxySecretType int

const (
	// MTProxyPlain is a 16-byte secret: obfuscated2 over padded
	// intermediate.
	MTProxyPlain MTProxySecretType = iota + 1
	// MTProxySecured is "dd" and 16 bytes: obfuscated2 with random
	// padding (padded intermediate only).
	MTProxySecured
	// MTProxyFakeTLS is "ee", 16 bytes and a domain: obfuscated2 inside
	// records that look like TLS to that domain.
	MTProxyFakeTLS
)

func (t MTProxySecretType) String() string {
	switch t {
	case MTProxyPlain:
		return "plain (obfuscated2)"
	case MTProxySecured:
		return "dd (random padding)"
	case MTProxyFakeTLS:
		return "ee (fake-TLS)"
	}
	return "unknown"
}

// MTProxy is an MTProxy the client connects through: every connection goes
// to Addr, obfuscated with Secret, and the proxy picks the DC by the DC id
// in the obfuscated header (the client's server address is then never
// dialled). mtproto.Options.Dial, when set, opens the TCP connection to the
// proxy.
//
// Secret is a credential: it is never printed (String shows its type only).
type MTProxy struct {
	// Addr is the proxy's "host:port".
	Addr string
	// Secret is the decoded secret (see ParseMTProxySecret).
	Secret []byte
}

// String shows the proxy without its secret.
func (p MTProxy) String() string {
	t, err := p.SecretType()
	if err != nil {
		return "mtproxy " + p.Addr + " (bad secret)"
	}
	return "mtproxy " + p.Addr + " (secret " + t.String() + ", hidden)"
}

// GoString is String, so that %#v does not print the secret either.
func (p MTProxy) GoString() string { return p.String() }

// Domain is the fake-TLS domain of an "ee" secret ("" for other types).
func (p MTProxy) Domain() string {
	if t, err := p.SecretType(); err == nil && t == MTProxyFakeTLS {
		return string(p.Secret[17:])
	}
	return ""
}

// SecretType checks the secret and tells its type. Every type gotd speaks
// is accepted; anything else fails with ErrMTProxySecret, naming the type.
func (p MTProxy) SecretType() (MTProxySecretType, error) {
	s := p.Secret
	switch {
	case len(s) == 16:
		return MTProxyPlain, nil
	case len(s) < 16:
		return 0, fmt.Errorf("%w: %d bytes, want 16 (plain), dd+16 (random padding) or ee+16+domain (fake-TLS)", ErrMTProxySecret, len(s))
	}
	switch s[0] {
	case 0xdd:
		if len(s) != 17 {
			return 0, fmt.Errorf("%w: a dd (random padding) secret is dd and 16 bytes, this one has %d more", ErrMTProxySecret, len(s)-17)
		}
		return MTProxySecured, nil
	case 0xee:
		if len(s) == 17 {
			return 0, fmt.Errorf("%w: an ee (fake-TLS) secret without a domain", ErrMTProxySecret)
		}
		if !validDomain(string(s[17:])) {
			return 0, fmt.Errorf("%w: the domain of the ee (fake-TLS) secret is not a host name", ErrMTProxySecret)
		}
		return MTProxyFakeTLS, nil
	}
	return 0, fmt.Errorf("%w: secret type %#02x is not supported (want 16 bytes, dd or ee)", ErrMTProxySecret, s[0])
}

// validDomain is a loose host name check: letters, digits, '-' and '.',
// at most 253 bytes.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, r := range d {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

// ParseMTProxySecret decodes a secret as Telegram links carry it: hex
// ("0123…", "dd0123…", "ee0123…" followed by the domain in hex) or base64
// (URL or standard alphabet, padded or not; fake-TLS secrets often come so).
// The result is checked as MTProxy.SecretType does. Errors never quote it.
func ParseMTProxySecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrMTProxySecret)
	}
	var b []byte
	if isHex(s) {
		var err error
		if b, err = hex.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%w: not hex", ErrMTProxySecret)
		}
	} else {
		var ok bool
		for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
			var err error
			if b, err = enc.DecodeString(s); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			return nil, fmt.Errorf("%w: neither hex nor base64", ErrMTProxySecret)
		}
	}
	if _, err := (MTProxy{Secret: b}).SecretType(); err != nil {
		return nil, err
	}
	return b, nil
}

func isHex(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'f', r >= 'A' && r <= 'F':
		default:
			return false
		}
	}
	return true
}

// check validates the address and the secret.
func (p MTProxy) check() error {
	host, port, err := net.SplitHostPort(p.Addr)
	if err != nil || host == "" {
		return fmt.Errorf("%w: want host:port", ErrMTProxyAddr)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("%w: bad port", ErrMTProxyAddr)
	}
	_, err = p.SecretType()
	return err
}

// Resolver is gotd's MTProxy resolver over p: every connection goes to
// p.Addr through dial (nil: a plain TCP dial), and with testMode the DC ids
// the proxy is asked for are Telegram's test DCs'.
func (p MTProxy) Resolver(dial Func, testMode bool) (tddcs.Resolver, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	r, err := tddcs.MTProxy(p.Addr, append([]byte(nil), p.Secret...), tddcs.MTProxyOptions{Dial: tddcs.DialFunc(dial)})
	if err != nil {
		// gotd's error quotes the secret: never pass it on.
		t, _ := p.SecretType()
		return nil, fmt.Errorf("%w: gotd refused the %s secret", ErrMTProxySecret, t)
	}
	if testMode {
		r = testDCResolver{inner: r}
	}
	return r, nil
}

// testDCResolver asks an MTProxy for Telegram's test DCs: their ids go to
// the proxy plus 10000, as Telegram's own clients send them.
type testDCResolver struct{ inner tddcs.Resolver }

func testDC(dc int) int {
	if dc < 0 {
		return dc - 10000
	}
	return dc + 10000
}

func (r testDCResolver) Primary(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	return r.inner.Primary(ctx, testDC(dc), list)
}

func (r testDCResolver) MediaOnly(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	// gotd's MTProxy resolver negates the id itself.
	return r.inner.MediaOnly(ctx, testDC(dc), list)
}

func (r testDCResolver) CDN(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	return r.inner.CDN(ctx, testDC(dc), list)
}
