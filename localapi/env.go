package localapi

import (
	"slices"
	"strconv"
	"strings"
)

// The environment a program gets with a relay session (`tgvault exec NAME
// --relay`; README.md, "Run a script without giving it the key", lists
// them the same): the session string, the relay's RSA key, the session's
// id and, for the libraries that must come through the relay's SOCKS5
// front (GramJS, Pyrogram), that front.
const (
	EnvSession             = "TGVAULT_SESSION"               // the session string (plain exec: the account's own)
	EnvRelayRSAKey         = "TGVAULT_RELAY_RSA_KEY"         // RelayMinted.RSAPublicKey (PEM)
	EnvRelayRSAFingerprint = "TGVAULT_RELAY_RSA_FINGERPRINT" // RelayMinted.RSAFingerprint
	EnvRelaySessionID      = "TGVAULT_RELAY_SESSION_ID"      // RelayMinted.ID
	EnvProxyHost           = "TGVAULT_PROXY_HOST"            // RelayProxy.Host
	EnvProxyPort           = "TGVAULT_PROXY_PORT"            // RelayProxy.Port
	EnvProxyURL            = "TGVAULT_PROXY_URL"             // RelayProxy.URL, socks5://HOST:PORT
)

// ChildEnv names every variable Env may set: a program started with a
// session gets none of them from its parent, so that a stale one (a proxy
// of another session) never reaches it.
var ChildEnv = []string{EnvSession, EnvRelayRSAKey, EnvRelayRSAFingerprint, EnvRelaySessionID, EnvProxyHost, EnvProxyPort, EnvProxyURL}

// ChildEnviron is the environment of a program given a session: the
// parent's (NAME=VALUE, as os.Environ) without any of ChildEnv, then env
// (a session's: Env, or EnvSession's).
func ChildEnviron(parent []string, env ...string) []string {
	out := make([]string, 0, len(parent)+len(env))
	for _, kv := range parent {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(ChildEnv, name) {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// Env is the environment (NAME=VALUE) of a program given the relay
// session m.
func (m RelayMinted) Env() []string {
	env := []string{EnvSession + "=" + m.Session, EnvRelayRSAKey + "=" + m.RSAPublicKey,
		EnvRelayRSAFingerprint + "=" + m.RSAFingerprint, EnvRelaySessionID + "=" + m.ID}
	if p := m.Proxy; p != nil {
		env = append(env, EnvProxyHost+"="+p.Host, EnvProxyPort+"="+strconv.Itoa(p.Port), EnvProxyURL+"="+p.URL)
	}
	return env
}
