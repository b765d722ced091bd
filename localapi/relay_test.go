package localapi

import (
	"context"
	"crypto/rsa"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// TestRelayRoutes: a relay session minted through the local API is a
// string in the library's format holding a fresh key (never the
// account's), which a client uses through the relay; GET /v1/relay and
// GET /v1/accounts count it, /metrics counts its calls by method and
// never names the account, DELETE revokes it (the client's key is then
// dead), and bad requests answer 400, 404 or 503 with their kinds.
func TestRelayRoutes(t *testing.T) {
	t.Parallel()
	const name = "alice_relay_route"
	rp := startRelayPool(t, name)
	seed, pool, rl, opts := rp.seed, rp.pool, rp.rl, rp.opts
	ctx, cancel := context.WithTimeout(t.Context(), 2*mttest.ConnectTimeout())
	defer cancel()
	c := NewClient(serveAPI(t, NewHandler(pool, Options{Relay: rl})))

	// Bad requests.
	for _, tc := range []struct {
		path, body string
		status     int
		kind       string
	}{
		{"/v1/accounts/" + name + "/relay", `{"format":"mtkruto"}`, 400, KindBadCall},
		{"/v1/accounts/" + name + "/relay", `{"format":"telethon","allow":["no.suchMethod"]}`, 400, KindBadCall},
		{"/v1/accounts/" + name + "/relay", `{"format":"telethon","ttl_seconds":-1}`, 400, KindBadCall},
		{"/v1/accounts/" + name + "/relay", `{"format":`, 400, KindBadCall},
		{"/v1/accounts/nobody/relay", `{"format":"telethon"}`, 404, KindNotFound},
	} {
		var out RelayMinted
		err := c.do(ctx, http.MethodPost, tc.path, []byte(tc.body), &out)
		if le, ok := errors.AsType[*Error](err); !ok || le.Status != tc.status || le.Body.Kind != tc.kind {
			t.Errorf("POST %s %s: %v, want %d %s", tc.path, tc.body, err, tc.status, tc.kind)
		}
	}

	var m RelayMinted
	if err := c.do(ctx, http.MethodPost, "/v1/accounts/"+name+"/relay", []byte(`{"format":"telethon","read_only":true,"ttl_seconds":3600}`), &m); err != nil {
		t.Fatal(err)
	}
	if m.Account != name || m.Format != "telethon" || m.Proxy != nil || !strings.Contains(m.Policy, "read-only") || m.Expires.Sub(m.Created).Hours() != 1 {
		t.Errorf("minted %+v", m.RelaySession)
	}
	pub, err := mtproto.ParsePublicKey([]byte(m.RSAPublicKey))
	if err != nil || !pub.Equal(rl.PublicKey()) {
		t.Errorf("rsa_public_key: %v", err)
	}
	s, err := sessionstring.DecodeAs(sessionstring.Telethon, m.Session)
	if err != nil {
		t.Fatal(err)
	}
	if s.AuthKey.Equal(seed.Key) || s.DCID != seed.DC {
		t.Fatalf("the relay string holds DC %d and the account's key: %v", s.DCID, s.AuthKey.Equal(seed.Key))
	}
	var socks RelayMinted
	if err := c.do(ctx, http.MethodPost, "/v1/accounts/"+name+"/relay", []byte(`{"format":"gramjs"}`), &socks); err != nil {
		t.Fatal(err)
	}
	if socks.Proxy == nil || socks.Proxy.URL != "socks5://"+net.JoinHostPort(socks.Proxy.Host, strconv.Itoa(socks.Proxy.Port)) {
		t.Errorf("a GramJS session's proxy: %+v", socks.Proxy)
	}

	// A client holding the relay string uses the account.
	client := mttest.NewMemory(t)
	mttest.SeedStore(t, client, s.AuthKey, s.DCID, seed.UserID)
	copts := opts
	copts.Server = mtproto.Server{DC: m.DC, Addr: net.JoinHostPort(m.Host, strconv.Itoa(m.Port)), PublicKeys: []*rsa.PublicKey{pub}}
	if id, err := selfVia(ctx, client, copts); err != nil || id != seed.UserID {
		t.Fatalf("get_me through the relay: %d, %v", id, err)
	}

	var list []RelaySession
	if err := c.do(ctx, http.MethodGet, "/v1/relay", nil, &list); err != nil || len(list) != 2 || list[0].ID != m.ID || list[0].Account != name {
		t.Errorf("GET /v1/relay: %+v, %v", list, err)
	}
	accts, err := c.Accounts(ctx)
	if err != nil || len(accts) != 1 || accts[0].RelaySessions != 2 {
		t.Errorf("GET /v1/accounts: %+v, %v", accts, err)
	}
	rec := httptest.NewRecorder()
	NewHandler(pool, Options{Relay: rl}).ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/metrics", nil))
	metrics := rec.Body
	for _, want := range []string{"tgvault_relay_sessions 2\n", "tgvault_relay_sessions_minted_total 2\n", `tgvault_relay_calls_total{method="users.getUsers"} `} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics.String(), name) {
		t.Error("/metrics names the account")
	}

	var rev RelayRevoked
	if err := c.do(ctx, http.MethodDelete, "/v1/relay/"+m.ID, nil, &rev); err != nil || !rev.Revoked || rev.ID != m.ID {
		t.Fatalf("DELETE: %+v, %v", rev, err)
	}
	err = c.do(ctx, http.MethodDelete, "/v1/relay/"+m.ID, nil, &rev)
	if le, ok := errors.AsType[*Error](err); !ok || le.Status != 404 || le.Body.Kind != KindNotFound {
		t.Errorf("DELETE again: %v, want 404", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 5*mttest.ConnectTimeout()/60)
	defer cancelShort()
	if _, err := selfVia(short, client, copts); err == nil {
		t.Error("the revoked relay key still works")
	}

	// A run without the relay.
	off := NewClient(serveAPI(t, Handler(pool)))
	err = off.do(ctx, http.MethodPost, "/v1/accounts/"+name+"/relay", []byte(`{"format":"telethon"}`), &m)
	if le, ok := errors.AsType[*Error](err); !ok || le.Status != 503 || le.Body.Kind != KindRelayOff {
		t.Errorf("mint with the relay off: %v, want 503 %s", err, KindRelayOff)
	}
}

// selfVia connects a client over store and returns the logged-in user.
func selfVia(ctx context.Context, store *storage.Memory, opts mtproto.Options) (int64, error) {
	c, err := mtproto.NewClient(store, opts)
	if err != nil {
		return 0, err
	}
	var id int64
	err = c.Run(ctx, func(ctx context.Context) error {
		me, err := c.Self(ctx)
		id = me.UserID
		return err
	})
	return id, err
}
