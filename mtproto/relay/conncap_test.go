package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tdtelegram "github.com/gotd/td/telegram"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
)

// capFixture is a relay fixture with helpers to open client connections
// and call through them.
type capFixture struct {
	*relayFixture
	t *testing.T
}

func newCapFixture(t *testing.T, opts ...func(*Config)) capFixture {
	return capFixture{newRelayFixtureOn(t, mttest.StartServer(t, devserver.Options{}), opts...), t}
}

// dial opens a client connection of a minted session to the relay.
func (f capFixture) dial(m Minted) *upstream {
	f.t.Helper()
	u, err := dialUpstream(f.t.Context(), upstreamConfig{DC: m.DC, Key: m.Key, Dial: devDial(map[int]string{m.DC: m.addr()}), Timeout: testTimeout()})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(u.Close)
	return u
}

func (f capFixture) mint(account string, p Policy) Minted {
	f.t.Helper()
	m, err := f.relay.Mint(f.t.Context(), MintRequest{Account: account, Policy: p})
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// getMe calls users.getUsers(self) on u.
func (f capFixture) getMe(u *upstream) error {
	ctx, cancel := context.WithTimeout(f.t.Context(), testTimeout())
	defer cancel()
	_, err := u.Invoke(ctx, wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(f.t, &tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}})))
	return err
}

// upstreams is how many connections the dev server saw on the account's
// key: the relay's upstream sessions for it.
func (f capFixture) upstreams() int64 { return f.srv.Stats().Connections[f.seed.Key.ID()] }

// waitConns waits until the relay lists n connections of session id.
func (f capFixture) waitConns(id string, n int) {
	f.t.Helper()
	deadline := time.Now().Add(testTimeout())
	for {
		for _, s := range f.relay.Sessions() {
			if s.ID == id && s.Connections == n {
				return
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("session %s never had %d connections: %+v", id, n, f.relay.Sessions())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isTooManyConns reports whether err is the relay's answer to a call on a
// connection over a cap.
func isTooManyConns(err error) bool {
	e, ok := tdtgerr.As(err)
	return ok && e.Code == floodWaitCode && e.Type == errTooManyConns
}

func isFloodWait(err error) bool {
	e, ok := tdtgerr.As(err)
	return ok && e.Code == floodWaitCode && e.Type == "FLOOD_WAIT"
}

// TestRelaySessionSharedLimiter: the call-rate cap is the session's, not
// a connection's: two connections of one session share its burst (a
// refused call takes from it too), and past it both get FLOOD_WAIT with
// nothing sent upstream; another session of the account has a cap of its
// own.
func TestRelaySessionSharedLimiter(t *testing.T) {
	t.Parallel()
	const burst = 6
	f := newCapFixture(t, func(c *Config) { c.CallRate, c.CallBurst = 0.1, burst })
	getUsers := func() int64 { return f.srv.Stats().Calls[tdtg.UsersGetUsersRequestTypeID] }
	s := f.mint("alice", Policy{})
	first, second := f.dial(s), f.dial(s)
	for i := range 3 {
		if err := f.getMe(first); err != nil {
			t.Fatalf("call %d on the first connection: %v", i, err)
		}
	}
	logOut := wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.AuthLogOutRequest{}))
	if _, err := second.Invoke(t.Context(), logOut); !isRefused(err) {
		t.Fatalf("auth.logOut on the second connection: %v; want the refusal", err)
	}
	for i := range 2 {
		if err := f.getMe(second); err != nil {
			t.Fatalf("call %d on the second connection: %v", i, err)
		}
	}
	// The burst is spent: 3 + 1 refused + 2.
	for name, u := range map[string]*upstream{"first": first, "second": second} {
		if err := f.getMe(u); !isFloodWait(err) {
			t.Errorf("a call on the %s connection past the session's burst: %v; want 420 FLOOD_WAIT_n", name, err)
		}
	}
	if n := getUsers(); n != burst-1 {
		t.Errorf("the dev server saw %d users.getUsers; want the %d of the burst", n, burst-1)
	}
	// A new connection of the session shares the spent cap; a new session
	// has its own.
	if err := f.getMe(f.dial(s)); !isFloodWait(err) {
		t.Errorf("a third connection of the session: %v; want 420 FLOOD_WAIT_n", err)
	}
	if err := f.getMe(f.dial(f.mint("alice", Policy{}))); err != nil {
		t.Errorf("another session of the account: %v", err)
	}
	if got := f.relay.Metrics().FloodWaits["users.getUsers"]; got != 3 {
		t.Errorf("metrics: %d flood waits of users.getUsers, want 3", got)
	}
}

// logRecords keeps the messages of the records logged at Info and above.
type logRecords struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecords) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// count is how many messages contain s.
func (l *logRecords) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// TestRelaySessionConnCap: a relay session may have SessionConns client
// connections at once. The 9th of a session capped at 8 gets rpc_error
// 420 TGVAULT_TOO_MANY_CONNECTIONS for its calls and costs no upstream
// session; the first 8 keep working; once one closes, the waiting
// connection and a new one get in (up to the cap again). The refusals are
// counted, and logged once per session.
func TestRelaySessionConnCap(t *testing.T) {
	t.Parallel()
	const limit = 8
	logs := &logRecords{}
	f := newCapFixture(t, func(c *Config) { c.SessionConns, c.Logger = limit, slog.New(logs) })
	s := f.mint("alice", Policy{})
	conns := make([]*upstream, limit)
	for i := range conns {
		conns[i] = f.dial(s)
		if err := f.getMe(conns[i]); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	ups := f.upstreams()
	if ups != limit {
		t.Errorf("the dev server saw %d upstream connections for %d client connections", ups, limit)
	}
	ninth := f.dial(s)
	for i := range 2 {
		if err := f.getMe(ninth); !isTooManyConns(err) {
			t.Fatalf("call %d on the 9th connection: %v; want 420 %s", i, err, errTooManyConns)
		}
	}
	if got := f.upstreams(); got != ups {
		t.Errorf("the refused connection cost upstream connections: %d, want %d", got, ups)
	}
	for i, u := range conns {
		if err := f.getMe(u); err != nil {
			t.Errorf("connection %d after the refusals: %v", i+1, err)
		}
	}
	// Another session of the account is not held by this one's cap.
	if err := f.getMe(f.dial(f.mint("alice", Policy{}))); err != nil {
		t.Errorf("another session of the account: %v", err)
	}
	if got := f.relay.Metrics().ConnRefusals[capSession]; got != 2 {
		t.Errorf("metrics: %d session-cap refusals, want 2", got)
	}
	if got := logs.count("too many connections"); got != 1 {
		t.Errorf("the refusals were logged %d times, want once: %q", got, logs.msgs)
	}
	// One closes: the waiting 9th gets in, and a 10th is over the cap.
	conns[0].Close()
	f.waitConns(s.ID, limit-1)
	if err := f.getMe(ninth); err != nil {
		t.Errorf("the 9th connection once one closed: %v", err)
	}
	tenth := f.dial(s)
	if err := f.getMe(tenth); !isTooManyConns(err) {
		t.Errorf("a 10th connection: %v; want 420 %s", err, errTooManyConns)
	}
	ninth.Close()
	f.waitConns(s.ID, limit-1)
	if err := f.getMe(tenth); err != nil {
		t.Errorf("the 10th connection once the 9th closed: %v", err)
	}
	if got := logs.count("too many connections"); got != 1 {
		t.Errorf("the refusals were logged %d times, want once", got)
	}
}

// TestRelayAccountConnCap: all relay sessions of one account together may
// have AccountConns client connections (upstream sessions on the
// account's key) at once, whatever the sessions' own cap; another
// account's sessions are not held by it.
func TestRelayAccountConnCap(t *testing.T) {
	t.Parallel()
	const limit = 5
	srv := mttest.StartServer(t, devserver.Options{})
	f := capFixture{newRelayFixtureOn(t, srv, func(c *Config) {
		c.AccountConns = limit
		seeds, err := srv.SeedAccounts(1)
		if err != nil {
			t.Fatal(err)
		}
		c.Accounts.(testAccounts)["bob"] = &testAccount{seed: seeds[0], addrs: map[int]string{srv.DC(): srv.Addr()}, pub: srv.PublicKey(), done: make(chan struct{})}
	}), t}
	var ss []Minted
	var conns []*upstream
	for i := range limit {
		if i%2 == 0 {
			ss = append(ss, f.mint("alice", Policy{}))
		}
		u := f.dial(ss[len(ss)-1])
		if err := f.getMe(u); err != nil {
			t.Fatalf("connection %d of the account: %v", i+1, err)
		}
		conns = append(conns, u)
	}
	ups := f.upstreams()
	// Over the account's cap: a connection of a session that has one
	// connection only, and one of a new session.
	for name, m := range map[string]Minted{"an open session": ss[len(ss)-1], "a new session": f.mint("alice", Policy{})} {
		if err := f.getMe(f.dial(m)); !isTooManyConns(err) {
			t.Errorf("a connection of %s over the account's cap: %v; want 420 %s", name, err, errTooManyConns)
		}
	}
	if got := f.upstreams(); got != ups {
		t.Errorf("the refused connections cost upstream connections: %d, want %d", got, ups)
	}
	if err := f.getMe(f.dial(f.mint("bob", Policy{}))); err != nil {
		t.Errorf("another account's session: %v", err)
	}
	for i, u := range conns {
		if err := f.getMe(u); err != nil {
			t.Errorf("connection %d after the refusals: %v", i+1, err)
		}
	}
	if got := f.relay.Metrics().ConnRefusals[capAccount]; got != 2 {
		t.Errorf("metrics: %d account-cap refusals, want 2", got)
	}
	// Revoking a session frees its connections' room.
	if err := f.relay.Revoke(ss[0].ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testTimeout())
	for {
		err := f.getMe(f.dial(f.mint("alice", Policy{})))
		if err == nil {
			break
		}
		if !isTooManyConns(err) || time.Now().After(deadline) {
			t.Fatalf("a connection once a session with 2 was revoked: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRelayConnCapClients: a real client library holding a relay session
// that is at its connection cap gets a clear error at once — rpc_error
// 420 TGVAULT_TOO_MANY_CONNECTIONS raised from its first call (Telethon's
// connect() raises FloodError) — not a hang or a reconnect loop, and
// costs no upstream session; once the session's other connection closes,
// the same client's get_me works (GramJS connects again first: it sends
// no call after a connect that failed) (testdata/*_conncap.*).
func TestRelayConnCapClients(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		format    sessionstring.Format
		socks     bool
		wantClass string
		cmd       func(t *testing.T) *exec.Cmd
	}{
		{"telethon", sessionstring.Telethon, false, "FloodError", func(t *testing.T) *exec.Cmd {
			return exec.CommandContext(t.Context(), mttest.TelethonPython(t), filepath.Join("testdata", "telethon_conncap.py"))
		}},
		{"gramjs", sessionstring.GramJS, true, "RPCError", func(t *testing.T) *exec.Cmd {
			cmd := exec.CommandContext(t.Context(), "node", filepath.Join("testdata", "gramjs_conncap.cjs"))
			cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(mttest.NodeModules(t, "telegram"), "node_modules"))
			return cmd
		}},
		{"mtcute", sessionstring.Mtcute, false, "RpcError", func(t *testing.T) *exec.Cmd {
			cmd := exec.CommandContext(t.Context(), "node", filepath.Join("testdata", "mtcute_conncap.cjs"))
			cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(mttest.NodeModules(t, "@mtcute/node"), "node_modules"))
			return cmd
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := tc.cmd(t)
			f := newCapFixture(t, func(c *Config) { c.SessionConns = 1 })
			m := f.mint("alice", Policy{})
			holder := f.dial(m)
			if err := f.getMe(holder); err != nil {
				t.Fatal(err)
			}
			ups := f.upstreams()
			sess := m.SessionString()
			if tc.socks {
				var err error
				if sess, err = m.SOCKSSessionString(); err != nil {
					t.Fatal(err)
				}
			}
			str, err := sessionstring.Encode(tc.format, sess)
			if err != nil {
				t.Fatal(err)
			}
			if cmd.Env == nil {
				cmd.Env = os.Environ()
			}
			cmd.Env = append(cmd.Env, "RELAY_SESSION="+str, "RELAY_SOCKS5="+m.SOCKS5)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			watchdog := time.AfterFunc(clientTimeout, func() { _ = cmd.Process.Kill() })
			defer watchdog.Stop()
			sc := bufio.NewScanner(stdout)
			var lines []string
			for sc.Scan() && sc.Text() != "refused" {
				lines = append(lines, sc.Text())
			}
			if sc.Text() != "refused" || len(lines) == 0 {
				_ = cmd.Wait()
				t.Fatalf("client: %q\n%s", lines, stderr.String())
			}
			var refused struct {
				Connect struct {
					Class, Message string
					Code           int
				}
				Seconds float64
			}
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &refused); err != nil {
				t.Fatalf("client's output %q: %v", lines, err)
			}
			t.Logf("%s over the cap: %+v", tc.name, refused)
			if c := refused.Connect; c.Class != tc.wantClass || c.Code != floodWaitCode || c.Message != errTooManyConns {
				t.Errorf("%s over the cap threw %+v; want %s 420 %s", tc.name, c, tc.wantClass, errTooManyConns)
			}
			if refused.Seconds > 10 {
				t.Errorf("%s took %.1f s to fail", tc.name, refused.Seconds)
			}
			if got := f.upstreams(); got != ups {
				t.Errorf("the refused client cost upstream connections: %d, want %d", got, ups)
			}
			holder.Close()
			f.waitConns(m.ID, 0)
			if _, err := io.WriteString(stdin, "again\n"); err != nil {
				t.Fatal(err)
			}
			var line string
			for sc.Scan() {
				line = sc.Text()
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("client: %v\n%s", err, stderr.String())
			}
			var after struct {
				Me    int64
				Error string
			}
			if err := json.Unmarshal([]byte(line), &after); err != nil || after.Me != f.seed.UserID {
				t.Errorf("get_me once the other connection closed: %q (%v); want %d\n%s", line, err, f.seed.UserID, stderr.String())
			}
		})
	}
}

// TestRelaySessionSharedLimiterOtherDC: a session's connection on another
// DC (media on DC 4, reached by the key exchange and import through the
// relay) takes from the same call-rate cap as its home connection: once
// the home connection meets FLOOD_WAIT, the calls relayed on both DCs
// together are the one burst.
func TestRelaySessionSharedLimiterOtherDC(t *testing.T) {
	t.Parallel()
	const mediaDC, burst = 4, 12
	srv := mttest.StartServer(t, devserver.Options{OtherDCs: []int{mediaDC}})
	f := newRelayFixtureOn(t, srv, func(c *Config) { c.CallRate, c.CallBurst = 0.001, burst })
	loc, _ := f.photoOnDC(t, srv, mediaDC)
	m, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	err = f.gotdClient(t, m, nil, func(ctx context.Context, c *tdtelegram.Client) error {
		var got int64
		for {
			res, err := c.API().UploadGetFile(ctx, &tdtg.UploadGetFileRequest{Location: loc, Offset: got, Limit: 1 << 14})
			if err != nil {
				return fmt.Errorf("getFile on DC %d: %w", mediaDC, err)
			}
			n := len(res.(*tdtg.UploadFile).Bytes)
			got += int64(n)
			if n < 1<<14 {
				break
			}
		}
		for range 2 * burst {
			_, err := c.API().UsersGetUsers(ctx, []tdtg.InputUserClass{&tdtg.InputUserSelf{}})
			if isFloodWait(err) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		return fmt.Errorf("%d calls at home after the download and no FLOOD_WAIT", 2*burst)
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := f.relay.Metrics().Calls
	var taken int64
	for method, n := range calls {
		if method != "auth.exportAuthorization" { // the relay's own answer, not capped
			taken += n
		}
	}
	if st := srv.Stats().DCs[mediaDC]; st.Imports != 1 || calls["upload.getFile"] < 3 {
		t.Fatalf("DC 4 %+v, calls %v: the download did not go through the relay's DC 4", st, calls)
	}
	if taken != burst {
		t.Errorf("calls relayed on both DCs before FLOOD_WAIT: %d (%v); want the session's one burst of %d", taken, calls, burst)
	}
}
