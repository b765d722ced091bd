package dial

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const testMTProxyKey = "0123456789abcdeffedcba9876543210"

func TestMTProxySecretParse(t *testing.T) {
	t.Parallel()
	key, _ := hex.DecodeString(testMTProxyKey)
	tls := append(append([]byte{0xee}, key...), "example.com"...)
	tests := []struct {
		in   string
		want MTProxySecretType
		err  string // "" for success
	}{
		{testMTProxyKey, MTProxyPlain, ""},
		{strings.ToUpper(testMTProxyKey), MTProxyPlain, ""},
		{"dd" + testMTProxyKey, MTProxySecured, ""},
		{hex.EncodeToString(tls), MTProxyFakeTLS, ""},
		{base64.RawURLEncoding.EncodeToString(tls), MTProxyFakeTLS, ""},
		{base64.StdEncoding.EncodeToString(tls), MTProxyFakeTLS, ""},
		{base64.RawURLEncoding.EncodeToString(append([]byte{0xdd}, key...)), MTProxySecured, ""},
		{"", 0, "empty"},
		{testMTProxyKey[:30], 0, "want 16"},
		{"!!" + testMTProxyKey, 0, "neither hex nor base64"},
		{"ee" + testMTProxyKey, 0, "without a domain"},
		{"ee" + testMTProxyKey + hex.EncodeToString([]byte("bad domain!")), 0, "not a host name"},
		{"dd" + testMTProxyKey + "00", 0, "dd (random padding)"},
		{"ef" + testMTProxyKey, 0, "type 0xef"},
		{"0a" + testMTProxyKey + "0b0c", 0, "type 0x0a"},
	}
	for _, tt := range tests {
		b, err := ParseMTProxySecret(tt.in)
		if tt.err != "" {
			if !errors.Is(err, ErrMTProxySecret) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want ErrMTProxySecret saying %q", tt.in, err, tt.err)
			}
			if err != nil && strings.Contains(strings.ToLower(err.Error()), testMTProxyKey[:8]) {
				t.Errorf("the error quotes the secret: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		typ, err := MTProxy{Secret: b}.SecretType()
		if err != nil || typ != tt.want {
			t.Errorf("%q: type %v (%v), want %v", tt.in, typ, err, tt.want)
		}
		p := &MTProxy{Addr: "h:1", Secret: b}
		for _, s := range []string{p.String(), fmt.Sprintf("%v", p), fmt.Sprintf("%+v", *p), fmt.Sprintf("%#v", p)} {
			if strings.Contains(s, testMTProxyKey[:8]) || strings.Contains(s, "1 35 69 103") || strings.Contains(s, "0x1, 0x23, 0x45") || !strings.Contains(s, typ.String()) {
				t.Errorf("%q shows the secret or not its type", s)
			}
		}
	}
	if d := (MTProxy{Secret: tls}).Domain(); d != "example.com" {
		t.Errorf("domain %q", d)
	}
}
