package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/mtproto/relay"
)

// relayPool is one seeded dev-server account in a running pool, with
// run's relay over the pool; both stop when the test ends.
type relayPool struct {
	srv  *devserver.Server
	seed devserver.Seed
	pool *mtproto.Pool
	rl   *relay.Relay
	opts mtproto.Options // the account's client options
}

func startRelayPool(t *testing.T, name string) *relayPool {
	t.Helper()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	pool := mtproto.NewPool(mtproto.PoolOptions{KeepAlive: -1})
	opts := serverOptions(srv)
	if err := pool.AddClient(name, store, opts); err != nil {
		t.Fatal(err)
	}
	poolCtx, stopPool := context.WithCancel(context.Background())
	poolDone := make(chan struct{})
	go func() { defer close(poolDone); _ = pool.Run(poolCtx) }()
	t.Cleanup(func() { stopPool(); <-poolDone })
	rl, err := relay.New(relay.Config{Accounts: pool.RelayAccounts(), UpstreamTimeout: mttest.ConnectTimeout(), IOTimeout: mttest.ConnectTimeout()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() }) // before the pool stops (cleanups run last first)
	return &relayPool{srv: srv, seed: seeds[0], pool: pool, rl: rl, opts: opts}
}

// serverOnly are the routes no Client method calls, with why. None: every
// route of the table has its method.
var serverOnly = map[string]string{}

// patternLog records the route pattern of every request the server
// answered.
type patternLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (l *patternLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.seen == nil {
			l.seen = map[string]bool{}
		}
		l.seen[r.Pattern] = true // set by the mux (the same *Request)
	})
}

// TestClient: every Client method against the real server (a pool of a
// dev-server account, run's relay, the handler on a unix socket): the
// answers decode into the wire types, error answers keep their classes
// (ErrNotFound, ErrBadCall, ErrRefused, kind relay_off, ErrNoServer), and
// every route the server registers was called by a method (or is listed
// in serverOnly).
func TestClient(t *testing.T) {
	t.Parallel()
	const name = "alice/client" // a name the path must escape
	rp := startRelayPool(t, name)
	srv, seed, pool, rl := rp.srv, rp.seed, rp.pool, rp.rl
	var log patternLog
	c := NewClient(serveAPI(t, log.wrap(NewHandler(pool, Options{Relay: rl}))))
	ctx, cancel := context.WithTimeout(t.Context(), 2*mttest.ConnectTimeout())
	defer cancel()

	if err := c.WaitReady(ctx, name); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	if err := c.WaitReady(short, name, "nobody"); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "nobody not ready") {
		t.Errorf("WaitReady for an account the pool lacks: %v", err)
	}
	cancelShort()
	me, err := c.Me(ctx, name)
	if err != nil || me.UserID != seed.UserID || me.IsBot {
		t.Fatalf("Me: %+v, %v", me, err)
	}
	if p, err := c.Peer(ctx, name, "me"); err != nil || p.ID != seed.UserID || p.Type != "user" {
		t.Errorf("Peer me: %+v, %v", p, err)
	}
	if a, err := c.Account(ctx, name); err != nil || a.Name != name || a.Status != "ready" {
		t.Errorf("Account: %+v, %v", a, err)
	}
	out, err := c.Invoke(ctx, name, []byte(`{"_":"users.getUsers","id":[{"_":"inputUserSelf"}]}`))
	if err != nil || !strings.Contains(string(out), `"_":"user"`) {
		t.Errorf("Invoke: %s, %v", out, err)
	}

	// Error answers keep their classes.
	for _, tc := range []struct {
		what  string
		call  func() error
		class error
		kind  string
	}{
		{"Account nobody", func() error { _, err := c.Account(ctx, "nobody"); return err }, ErrNotFound, KindNotFound},
		{"Me nobody", func() error { _, err := c.Me(ctx, "nobody"); return err }, ErrNotFound, KindNotFound},
		{"Invoke unknown method", func() error { _, err := c.Invoke(ctx, name, []byte(`{"_":"no.suchMethod"}`)); return err }, ErrBadCall, KindBadCall},
		{"Invoke refused", func() error { _, err := c.Invoke(ctx, name, []byte(`{"_":"auth.logOut"}`)); return err }, ErrRefused, KindRefused},
		{"MintRelay bad format", func() error { _, err := c.MintRelay(ctx, name, RelayRequest{Format: "mtkruto"}); return err }, ErrBadCall, KindBadCall},
		{"RevokeRelay unknown", func() error { return c.RevokeRelay(ctx, "0123456789abcdef") }, ErrNotFound, KindNotFound},
	} {
		err := tc.call()
		if le, ok := errors.AsType[*Error](err); !ok || !errors.Is(err, tc.class) || le.Body.Kind != tc.kind {
			t.Errorf("%s: %v, want %v (kind %s)", tc.what, err, tc.class, tc.kind)
		}
	}

	// The relay: mint, list, count, metrics, revoke.
	m, err := c.MintRelay(ctx, name, RelayRequest{Format: "gramjs", ReadOnly: true, TTLSeconds: 3600})
	if err != nil || m.Account != name || m.Format != "gramjs" || m.Proxy == nil || m.Session == "" || m.Expires.Sub(m.Created) != time.Hour {
		t.Fatalf("MintRelay: %+v, %v", m, err)
	}
	if list, err := c.RelaySessions(ctx); err != nil || len(list) != 1 || list[0].ID != m.ID || list[0].Policy != "read-only" {
		t.Errorf("RelaySessions: %+v, %v", list, err)
	}
	if accts, err := c.Accounts(ctx); err != nil || len(accts) != 1 || accts[0].Name != name || accts[0].RelaySessions != 1 {
		t.Errorf("Accounts: %+v, %v", accts, err)
	}
	metrics, err := c.Metrics(ctx)
	if err != nil || !strings.Contains(string(metrics), "tgvault_relay_sessions 1\n") || !strings.Contains(string(metrics), "tgvault_accounts") {
		t.Errorf("Metrics: %v\n%s", err, metrics)
	}
	if err := c.RevokeRelay(ctx, m.ID); err != nil {
		t.Errorf("RevokeRelay: %v", err)
	}
	if list, err := c.RelaySessions(ctx); err != nil || len(list) != 0 {
		t.Errorf("RelaySessions after the revoke: %+v, %v", list, err)
	}
	err = c.RevokeRelay(ctx, m.ID)
	if nr, ok := errors.AsType[*NoRelaySessionError](err); !ok || nr.ID != m.ID || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no relay session "+m.ID+" in the running tgvault run") {
		t.Errorf("RevokeRelay of a revoked session: %v, want a *NoRelaySessionError", err)
	}

	// WithRelay: the session lives while its user runs, and is revoked
	// when the user returns, with an error too.
	useErr := errors.New("the program failed")
	var used RelayMinted
	mintContext := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, time.Minute) }
	err, revokeErr := c.WithRelay(mintContext, name, RelayRequest{Format: "telethon"}, func(m RelayMinted) error {
		used = m
		if list, err := c.RelaySessions(ctx); err != nil || len(list) != 1 || list[0].ID != m.ID {
			t.Errorf("RelaySessions while WithRelay's user runs: %+v, %v", list, err)
		}
		return useErr
	})
	if err != useErr || revokeErr != nil || used.Session == "" {
		t.Errorf("WithRelay: %v, revoke %v; want the user's error and a revoke", err, revokeErr)
	}
	if list, err := c.RelaySessions(ctx); err != nil || len(list) != 0 {
		t.Errorf("RelaySessions after WithRelay: %+v, %v", list, err)
	}
	if err, _ := c.WithRelay(mintContext, "nobody", RelayRequest{Format: "telethon"}, func(RelayMinted) error {
		t.Error("WithRelay called its user without a session")
		return nil
	}); !errors.Is(err, ErrNotFound) {
		t.Errorf("WithRelay of an unknown account: %v", err)
	}
	// The mint's context bounds the mint only: it is released once the
	// mint returns, and a use that outlives its timeout keeps the session
	// until it returns, which then revokes it.
	var mintCtx context.Context
	err, revokeErr = c.WithRelay(func() (context.Context, context.CancelFunc) {
		var cancel context.CancelFunc
		mintCtx, cancel = context.WithTimeout(ctx, 2*time.Second)
		return mintCtx, cancel
	}, name, RelayRequest{Format: "telethon"}, func(m RelayMinted) error {
		if mintCtx.Err() == nil {
			t.Error("the mint's context is still live while the session is used")
		}
		deadline, _ := mintCtx.Deadline()
		time.Sleep(time.Until(deadline) + 100*time.Millisecond)
		if list, err := c.RelaySessions(ctx); err != nil || len(list) != 1 || list[0].ID != m.ID {
			t.Errorf("RelaySessions after the mint's timeout, the use still running: %+v, %v", list, err)
		}
		return nil
	})
	if err != nil || revokeErr != nil {
		t.Errorf("WithRelay with a use longer than the mint's timeout: %v, revoke %v", err, revokeErr)
	}
	if list, err := c.RelaySessions(ctx); err != nil || len(list) != 0 {
		t.Errorf("RelaySessions after a use longer than the mint's timeout: %+v, %v", list, err)
	}

	// Updates: a pushed update, then the drop at shutdown.
	if _, err := c.Updates(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Updates nobody: %v, want ErrNotFound", err)
	}
	s, err := c.Updates(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := &tdtg.UpdateShort{Update: &tdtg.UpdateUserStatus{UserID: 4242, Status: &tdtg.UserStatusOnline{Expires: 77}}, Date: int(time.Now().Unix())}
	if n, err := srv.PushUpdates(ctx, seed.UserID, u); err != nil || n < 1 {
		t.Fatalf("push: %d connections, %v", n, err)
	}
	got, err := s.Next()
	var upd struct {
		Name   string `json:"_"`
		UserID string `json:"user_id"`
	}
	if err != nil || json.Unmarshal(got, &upd) != nil || upd.Name != "updateUserStatus" || upd.UserID != "4242" {
		t.Errorf("Next: %s, %v", got, err)
	}
	pool.CloseStreams()
	if _, err := s.Next(); !isDropped(err, "shutdown") {
		t.Errorf("Next after CloseStreams: %v, want dropped: shutdown", err)
	}

	// A run without its relay; a socket nobody serves.
	off := NewClient(serveAPI(t, Handler(pool)))
	if _, err := off.RelaySessions(ctx); !isKind(err, KindRelayOff) {
		t.Errorf("RelaySessions with the relay off: %v, want kind %s", err, KindRelayOff)
	}
	if !InUse(c.Socket()) || InUse(filepath.Join(t.TempDir(), "none.sock")) {
		t.Error("InUse: wrong for the served socket or one nobody serves")
	}
	gone := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	if _, err := gone.Accounts(ctx); !errors.Is(err, ErrNoServer) || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("no server: %v, want ErrNoServer naming the socket", err)
	}

	// Every route the server registers was called by a method above.
	registered := routes(nil, Options{}, BodyTimeout).patterns
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, p := range registered {
		if !log.seen[p] && serverOnly[p] == "" {
			t.Errorf("route %q: no Client method called it (add one, or list it in serverOnly with why)", p)
		}
	}
	for p := range serverOnly {
		if !slices.Contains(registered, p) {
			t.Errorf("serverOnly lists %q, which the server does not register", p)
		}
	}
}

// TestErrorClass: an error answer's class, by status and kind, and its
// message (the class, then the API's message).
func TestErrorClass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		kind   string
		class  error
		msg    string
	}{
		{404, KindNotFound, ErrNotFound, "not found: x"},
		{400, KindBadCall, ErrBadCall, "bad method call: x"},
		{413, KindTooLarge, ErrBadCall, "bad method call: x"},
		{403, KindRefused, ErrRefused, "method refused: x"},
		{409, KindProxyAuth, mtproto.ErrProxyAuth, "local API: x"},
		{409, KindKeyLost, nil, "local API: x"},
		{502, KindRPCError, nil, "local API: x"},
	} {
		e := &Error{Status: tc.status, Body: ErrorBody{Error: "x", Kind: tc.kind}}
		if e.Unwrap() != tc.class || (tc.class != nil && !errors.Is(e, tc.class)) || e.Error() != tc.msg {
			t.Errorf("%d %s: class %v, %q; want %v, %q", tc.status, tc.kind, e.Unwrap(), e.Error(), tc.class, tc.msg)
		}
	}
}

// TestRequestPath: a route's wildcards are filled in order, path-escaped.
func TestRequestPath(t *testing.T) {
	t.Parallel()
	m, p := request(routePeer, "a/b", "@x y")
	if m != http.MethodGet || p != "/v1/accounts/a%2Fb/peers/@x%20y" {
		t.Errorf("request: %s %s", m, p)
	}
	if m, p := request(routeRelaySessions); m != http.MethodGet || p != "/v1/relay" {
		t.Errorf("request: %s %s", m, p)
	}
}

func isDropped(err error, reason string) bool {
	de, ok := errors.AsType[*DroppedError](err)
	return ok && de.Reason == reason
}

func isKind(err error, kind string) bool {
	le, ok := errors.AsType[*Error](err)
	return ok && le.Body.Kind == kind
}

// TestRelayRequestCheck: the check a client makes before it asks is the
// server's: the relay's formats only, a TTL from 0 (a day) to
// relay.MaxTTL; both refusals are bad requests.
func TestRelayRequestCheck(t *testing.T) {
	t.Parallel()
	maxSecs := int64(relay.MaxTTL / time.Second)
	for _, tc := range []struct {
		req  RelayRequest
		want error
	}{
		{RelayRequest{Format: "telethon"}, nil},
		{RelayRequest{Format: "gotd", TTLSeconds: maxSecs}, nil},
		{RelayRequest{Format: "mtkruto"}, ErrRelayFormat},
		{RelayRequest{Format: ""}, ErrRelayFormat},
		{RelayRequest{Format: "telethon", TTLSeconds: -1}, ErrRelayTTL},
		{RelayRequest{Format: "telethon", TTLSeconds: maxSecs + 1}, ErrRelayTTL},
	} {
		err := tc.req.Check()
		if tc.want == nil && err != nil || tc.want != nil && (!errors.Is(err, tc.want) || !errors.Is(err, errBadRelayRequest)) {
			t.Errorf("Check(%+v) = %v, want %v", tc.req, err, tc.want)
		}
		if _, _, merr := tc.req.mintRequest("a"); (merr == nil) != (err == nil) {
			t.Errorf("mintRequest(%+v) = %v, Check %v", tc.req, merr, err)
		}
	}
}

// TestRelayTTL: a --ttl becomes whole seconds, rounded up; a negative one
// stays refused instead of becoming the default.
func TestRelayTTL(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int64{0: 0, time.Nanosecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, time.Hour: 3600, -time.Second: -1} {
		if got := RelayTTL(d); got != want {
			t.Errorf("RelayTTL(%v) = %d, want %d", d, got, want)
		}
	}
	if err := (RelayRequest{Format: "telethon", TTLSeconds: RelayTTL(-time.Nanosecond)}).Check(); !errors.Is(err, ErrRelayTTL) {
		t.Errorf("a negative TTL: %v, want ErrRelayTTL", err)
	}
}

// TestClientBrokenAnswer: a server that takes the request and hangs up
// before answering is not ErrNoServer (whose advice is to start run: the
// call may have been made), and the error does not repeat the request's
// URL, whose path may name a peer by phone number.
func TestClientBrokenAnswer(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "broken.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Read(make([]byte, 4096)) // take the request, answer nothing
			c.Close()
		}
	}()
	const phone = "+15551234567"
	_, err = NewClient(sock).Peer(t.Context(), "alice", phone)
	if !errors.Is(err, ErrBrokenAnswer) || errors.Is(err, ErrNoServer) {
		t.Fatalf("an answer that broke off: %v, want ErrBrokenAnswer and not ErrNoServer", err)
	}
	if strings.Contains(err.Error(), "15551234567") || strings.Contains(err.Error(), "/v1/") {
		t.Fatalf("the error repeats the request: %v", err)
	}
}
