package main

import (
	"errors"
	"strings"
	"testing"
)

func TestProxyDialer(t *testing.T) {
	const pass = "hunter2pw"
	tests := []struct {
		url    string
		direct bool   // nil dialer
		err    string // "" for success
	}{
		{"", true, ""},
		{"none", true, ""},
		{"socks5://127.0.0.1:1080", false, ""},
		{"socks5h://proxy.example:1080", false, ""},
		{"SOCKS5://u:" + pass + "@127.0.0.1:1080", false, ""},
		{"mtproxy://u:" + pass + "@127.0.0.1:443", false, "MTProxy is not supported"},
		{"http://u:" + pass + "@127.0.0.1:3128", false, "not supported"},
		{"socks5://u:" + pass + "@127.0.0.1", false, "host:port"},
		{"socks5://u:" + pass + "@:1080", false, "host:port"},
		{"socks5://u:" + pass + "@127.0.0.1:1080/x?y=" + pass, false, "no path or query"},
		{"socks5://u:" + pass + "@127.0.0.1:1080\x7f", false, "not a URL"},
		{"socks5://:" + pass + "@127.0.0.1:1080", false, "needs a username"},
	}
	for _, tt := range tests {
		d, err := proxyDialer(tt.url)
		if tt.err == "" {
			if err != nil {
				t.Errorf("proxyDialer: %v", err)
			} else if (d == nil) != tt.direct {
				t.Errorf("a dialer %v, want direct %v", d != nil, tt.direct)
			}
			continue
		}
		if !errors.Is(err, errBadProxy) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("error %v, want errBadProxy saying %q", err, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), pass) {
			t.Errorf("the error echoes the password: %v", err)
		}
	}
}

func TestRedactProxy(t *testing.T) {
	for in, want := range map[string]string{
		"socks5://u:hunter2pw@127.0.0.1:1080": "socks5://u:(redacted)@127.0.0.1:1080",
		"socks5://127.0.0.1:1080":             "socks5://127.0.0.1:1080",
		"::bad":                               "(unreadable)",
	} {
		if got := redactProxy(in); got != want {
			t.Errorf("redactProxy: %q, want %q", got, want)
		}
	}
}
