//go:build unix

package reliability

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/realpart"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// relayStats are the dev server's counters this file asserts on.
type relayStats struct {
	KeyExchanges   int64 `json:"key_exchanges"`
	Duplicates     int64 `json:"duplicates"`
	DuplicateAddrs int64 `json:"duplicate_addrs"`
	Authorizations int64 `json:"authorizations"`
	MaxDevices     int   `json:"max_devices_per_key"`
}

func (d *devServer) relayStats(t testing.TB) relayStats {
	t.Helper()
	var st relayStats
	b, err := os.ReadFile(d.stats)
	if err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("dev server stats: %v (%q)", err, b)
	}
	return st
}

// TestRelayThroughRun: issue 19 end to end through the real binary. A
// real `tgvault run` serves a dev-server account; `tgvault exec NAME
// --relay --format telethon` runs the real Telethon 1.25.1 (Debian's, at
// /usr/bin/python3), and `--format gramjs` the real GramJS 2.26.22
// through the relay's SOCKS5 front; each gets itself, resolves another
// user and is refused auth.logOut and a read of 777000's history (403
// TGVAULT_METHOD_REFUSED) holding only the relay string; the session ends
// with the command. `tgvault relay NAME --json` mints another, whose
// string is worthless at the dev server itself; run's /metrics counts the
// relayed calls by method without naming the account, status lists it,
// and `tgvault relay revoke` ends it (its key then fails at the relay
// too). Through all of it the dev server saw no new authorization, no key
// exchange, no key in two places and one device per key; and no relay
// string appears in any log (the harness's scan).
func TestRelayThroughRun(t *testing.T) {
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import telethon").Run() != nil {
		realpart.Missing(t, "python3-telethon at /usr/bin/python3", "apt-get install python3-telethon")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "telethon_exec_relay.py"))
	if err != nil {
		t.Fatal(err)
	}
	d := startDevServer(t, 2)
	v, _ := runVault(t, "relay", d, 1)
	name, friend := d.seedNames()[0], d.seedNames()[1]
	sock := sockPath()
	p := v.startRun(t, d, sock)
	if err := p.waitReady(1, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	before := d.relayStats(t)
	env := []string{"TGVAULT_SOCKET=" + sock}

	// Real client libraries through exec --relay: Telethon with the
	// string pointing at the relay, GramJS through the SOCKS5 front.
	friendName := "user" + strconv.FormatInt(d.users[friend], 10)
	t.Run("telethon", func(t *testing.T) {
		execRelayClient(t, v, env, name, "telethon", false, d.users[name], d.users[friend], py, script, friendName)
	})
	t.Run("gramjs", func(t *testing.T) {
		dir := os.Getenv("TGVAULT_NODE_MODULES")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "telegram", "package.json")); dir == "" || err != nil {
			realpart.Missing(t, "the npm package telegram (GramJS 2.26.22)", "npm install telegram@2.26.22 in a directory and set TGVAULT_NODE_MODULES to it (.ci/run does)")
		}
		node, err := exec.LookPath("node")
		if err != nil {
			realpart.Missing(t, "node", "apt-get install nodejs npm")
		}
		js, err := filepath.Abs(filepath.Join("testdata", "gramjs_exec_relay.cjs"))
		if err != nil {
			t.Fatal(err)
		}
		cenv := append(slices.Clone(env), "NODE_PATH="+filepath.Join(dir, "node_modules"))
		execRelayClient(t, v, cenv, name, "gramjs", true, d.users[name], d.users[friend], node, js, friendName)
	})
	if lr := v.run(env, "--json", "relay", "list"); lr.code != 0 || strings.TrimSpace(lr.stdout) != "[]" {
		t.Errorf("relay list after exec: exit %d, %s %s; want no session (exec revokes its own)", lr.code, lr.stdout, lr.stderr)
	}

	// A session for long-lived use: worthless at the dev server itself.
	mr := v.run(env, "relay", name, "--json", "--format", "telethon", "--read-only", "--ttl", "1h")
	if mr.code != 0 {
		t.Fatalf("relay: exit %d: %s", mr.code, mr.stderr)
	}
	var m localapi.RelayMinted
	if err := json.Unmarshal([]byte(mr.stdout), &m); err != nil {
		t.Fatal(err)
	}
	addWord(m.Session)
	s, err := sessionstring.DecodeAs(sessionstring.Telethon, m.Session)
	if err != nil {
		t.Fatal(err)
	}
	addKey(s.AuthKey.Bytes())
	devPub, err := os.ReadFile(d.pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := relayKeyWorks(t, s, d.users[name], d.addr, devPub); !errors.Is(err, mtproto.ErrKeyLost) {
		t.Errorf("the relay key at the dev server: %v, want it unknown there (ErrKeyLost)", err)
	}
	relayAddr := net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	if err := relayKeyWorks(t, s, d.users[name], relayAddr, []byte(m.RSAPublicKey)); err != nil {
		t.Errorf("the relay key at the relay: %v", err)
	}
	st := v.run(env, "--json", "status")
	if !strings.Contains(st.stdout, `"relay_sessions": 1`) {
		t.Errorf("status does not show the open relay session: %s %s", st.stdout, st.stderr)
	}
	mx := apiCall(p.client, "GET", "/metrics", nil)
	for _, want := range []string{"tgvault_relay_sessions 1\n", `tgvault_relay_calls_total{method="users.getUsers"} `, `tgvault_relay_refusals_total{method="auth.logOut"} `} {
		if !strings.Contains(string(mx.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(mx.body), name) {
		t.Error("/metrics names the account")
	}
	if rr := v.run(env, "relay", "revoke", m.ID); rr.code != 0 {
		t.Fatalf("relay revoke: exit %d: %s", rr.code, rr.stderr)
	}
	if err := relayKeyWorks(t, s, d.users[name], relayAddr, []byte(m.RSAPublicKey)); !errors.Is(err, mtproto.ErrKeyLost) {
		t.Errorf("a revoked relay key at the relay: %v, want it unknown (ErrKeyLost)", err)
	}
	if rr := v.run(env, "relay", "revoke", m.ID); rr.code != 4 {
		t.Errorf("relay revoke of a revoked session: exit %d, want 4: %s", rr.code, rr.stderr)
	}

	after := d.relayStats(t)
	if after.Authorizations != before.Authorizations || after.KeyExchanges != before.KeyExchanges || after.DuplicateAddrs != 0 || after.MaxDevices > 1 {
		t.Errorf("dev server after the relay: %+v (before %+v); want no new authorization or key exchange, no key in two places, one device per key", after, before)
	}
	if res := p.stop(); res.code != 0 {
		t.Errorf("run: exit %d", res.code)
	}
}

// relayKeyWorks connects a gotd client holding the key of s (the account
// userID's, as it believes) to addr and asks for the logged-in user.
func relayKeyWorks(t *testing.T, s sessionstring.Session, userID int64, addr string, pubPEM []byte) error {
	t.Helper()
	pub, err := mtproto.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.NewMemory(nil, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.SetSession(storage.SessionRow{DCID: s.DCID, AuthKey: s.AuthKey, UserID: sessionstring.Some(userID), IsBot: sessionstring.Some(false), APIID: sessionstring.Some[int32](17349)}); err != nil {
		t.Fatal(err)
	}
	c, err := mtproto.NewClient(store, mtproto.Options{
		Server: mtproto.Server{DC: s.DCID, Addr: addr, PublicKeys: []*rsa.PublicKey{pub}}, APIID: 17349, APIHash: "x", ConnectTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	return c.Run(ctx, func(ctx context.Context) error {
		_, err := c.Self(ctx)
		return err
	})
}

// execRelayClient runs a real client library's script through `tgvault
// exec NAME --relay --format F` and checks what it saw: itself and the
// friend through the relay, 403 TGVAULT_METHOD_REFUSED for a read of
// 777000's history and for auth.logOut, the relay's RSA key trusted, the
// session's id, and the SOCKS5 variables exactly when the library needs
// them.
func execRelayClient(t *testing.T, v *tv, env []string, name, format string, socks bool, me, friend int64, argv ...string) {
	t.Helper()
	r := v.run(env, append([]string{"exec", name, "--relay", "--format", format, "--"}, argv...)...)
	if r.code != 0 {
		t.Fatalf("exec --relay --format %s: exit %d: %s", format, r.code, r.stderr)
	}
	var got struct {
		RSAKeyAdded bool   `json:"rsa_key_added"`
		SessionID   string `json:"session_id"`
		ProxyEnv    bool   `json:"proxy_env"`
		Me          struct {
			ID   int64
			Self bool
		}
		Friend         int64
		ServiceHistory struct {
			Code    int
			Message string
		} `json:"service_history"`
		LogOut struct {
			Code    int
			Message string
		} `json:"log_out"`
	}
	line := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "{") {
			line = l // GramJS may print a banner first
		}
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("the script's output %q: %v (stderr %s)", r.stdout, err, r.stderr)
	}
	if !got.RSAKeyAdded || got.SessionID == "" || got.ProxyEnv != socks {
		t.Errorf("the child's environment: rsa key added %v, session id %q, SOCKS5 variables %v (want %v)", got.RSAKeyAdded, got.SessionID, got.ProxyEnv, socks)
	}
	if got.Me.ID != me || !got.Me.Self || got.Friend != friend {
		t.Errorf("through the relay: me %+v, friend %d; want %d and %d", got.Me, got.Friend, me, friend)
	}
	for what, e := range map[string]struct {
		Code    int
		Message string
	}{"777000's history": got.ServiceHistory, "auth.logOut": got.LogOut} {
		if e.Code != 403 || e.Message != "TGVAULT_METHOD_REFUSED" {
			t.Errorf("%s: %+v, want 403 TGVAULT_METHOD_REFUSED", what, e)
		}
	}
}
