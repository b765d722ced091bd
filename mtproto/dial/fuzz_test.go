package dial

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseProxy: any proxy text parses or fails without a panic, and
// neither the error nor the redacted form shows a password or a secret
// that parsed.
func FuzzParseProxy(f *testing.F) {
	for _, s := range []string{
		"socks5://user:hunter2@127.0.0.1:1080",
		"socks5h://127.0.0.1:1",
		"tg://proxy?server=1.2.3.4&port=443&secret=dd00112233445566778899aabbccddeeff",
		"https://t.me/proxy?server=h&port=1&secret=ee00112233445566778899aabbccddeeff6578616d706c652e636f6d",
		"mtproxy://00112233445566778899aabbccddeeff@h:1",
		"none", "", "tg://socks?server=h&port=1", "http://x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := Parse(raw)
		red := Redact(raw)
		// The forms the error lists are fixed text, not the input: an input
		// that is a piece of them ("://t.me/proxy") is not quoted.
		if err != nil && len(raw) > 12 && strings.Contains(strings.ReplaceAll(err.Error(), proxyForms, ""), raw) {
			t.Fatalf("the error quotes the whole proxy text: %v", err)
		}
		u, perr := url.Parse(raw)
		if err != nil || perr != nil {
			return
		}
		var secrets []string
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
		if s := u.Query().Get("secret"); s != "" {
			secrets = append(secrets, s)
		}
		if u.User != nil && strings.EqualFold(u.Scheme, "mtproxy") {
			secrets = append(secrets, u.User.Username())
		}
		for _, s := range secrets {
			if len(s) >= 4 && !strings.Contains(u.Host, s) && !strings.Contains("mtproxy://(plain-secret:redacted)@ (dd ee)", s) && strings.Contains(red, s) {
				t.Fatalf("redacted %q shows the secret %q", red, s)
			}
		}
	})
}
