package localapi

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestRelayEnv: a relay session's environment names only ChildEnv's
// variables, has the SOCKS5 front only when the session has one, and
// README.md documents every one of them.
func TestRelayEnv(t *testing.T) {
	t.Parallel()
	m := RelayMinted{RelaySession: RelaySession{ID: "id1"}, Session: "s", RSAPublicKey: "pem", RSAFingerprint: "-5"}
	direct := m.Env()
	m.Proxy = &RelayProxy{Host: "127.0.0.1", Port: 1080, URL: "socks5://127.0.0.1:1080"}
	socks := m.Env()
	if len(direct) != 4 || len(socks) != 7 {
		t.Fatalf("env: %q / %q", direct, socks)
	}
	for _, want := range []string{"TGVAULT_SESSION=s", "TGVAULT_RELAY_RSA_KEY=pem", "TGVAULT_RELAY_RSA_FINGERPRINT=-5", "TGVAULT_RELAY_SESSION_ID=id1",
		"TGVAULT_PROXY_HOST=127.0.0.1", "TGVAULT_PROXY_PORT=1080", "TGVAULT_PROXY_URL=socks5://127.0.0.1:1080"} {
		if !slices.Contains(socks, want) {
			t.Errorf("env lacks %s: %q", want, socks)
		}
	}
	for _, kv := range socks {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(ChildEnv, name) {
			t.Errorf("%s is not in ChildEnv", name)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ChildEnv {
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("README.md does not name `%s`", name)
		}
	}
}

// TestChildEnviron: a parent's session variables never reach the child
// (a stale proxy of another session), the rest does, and the session's
// own come last.
func TestChildEnviron(t *testing.T) {
	t.Parallel()
	parent := []string{"PATH=/bin", "TGVAULT_PROXY_URL=socks5://stale:1", "TGVAULT_SESSION=old", "TGVAULT_DIR=/v", "TGVAULT_SESSIONX=keep"}
	got := ChildEnviron(parent, "TGVAULT_SESSION=new")
	want := []string{"PATH=/bin", "TGVAULT_DIR=/v", "TGVAULT_SESSIONX=keep", "TGVAULT_SESSION=new"}
	if !slices.Equal(got, want) {
		t.Errorf("ChildEnviron = %q, want %q", got, want)
	}
}
