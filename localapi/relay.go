package localapi

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/relay"
	"github.com/tgvault/tgvault/sessionstring"
)

// The relay routes (Options.Relay): a relay session is minted for one
// account of the pool, listed and revoked by its id.
//
//	POST   /v1/accounts/{name}/relay  mint a relay session (RelayRequest → RelayMinted)
//	GET    /v1/relay                  the open relay sessions ([]RelaySession, no keys)
//	DELETE /v1/relay/{id}             revoke one (RelayRevoked)
//
// Without a relay (run --no-relay) they answer 503, kind relay_off.

// maxRelayBody bounds a mint's body.
const maxRelayBody = 64 << 10

// errRelayOff reports a relay route of a run whose relay is off.
var errRelayOff = errors.New("localapi: the MTProto relay is off (run --no-relay)")

// errBadRelayRequest reports a mint body that does not make a session.
var errBadRelayRequest = errors.New("localapi: bad relay request")

// What RelayRequest.Check refuses (each is also a bad request, 400).
var (
	ErrRelayFormat = fmt.Errorf("%w: not a format of the relay's", errBadRelayRequest)
	ErrRelayTTL    = fmt.Errorf("%w: a TTL out of range", errBadRelayRequest)
)

func relayRoutes(mux *routeMux, pool *mtproto.Pool, rl *relay.Relay) {
	mux.handle(routeRelayMint, func(w http.ResponseWriter, r *http.Request) {
		if rl == nil {
			writeError(w, errRelayOff)
			return
		}
		name := r.PathValue("name")
		if _, err := pool.Status(name); errors.Is(err, mtproto.ErrUnknownAccount) {
			writeError(w, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRelayBody))
		if err != nil {
			writeError(w, fmt.Errorf("%w: reading the body: %v", errBadRelayRequest, err))
			return
		}
		var req RelayRequest
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, fmt.Errorf("%w: %v", errBadRelayRequest, err))
			return
		}
		mr, format, err := req.mintRequest(name)
		if err != nil {
			writeError(w, err)
			return
		}
		m, err := rl.Mint(r.Context(), mr)
		if err != nil {
			writeError(w, err)
			return
		}
		out, err := newRelayMinted(m, format, rl)
		if err != nil {
			_ = rl.Revoke(m.ID)
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.handle(routeRelaySessions, func(w http.ResponseWriter, r *http.Request) {
		if rl == nil {
			writeError(w, errRelayOff)
			return
		}
		out := []RelaySession{}
		for _, s := range rl.Sessions() {
			out = append(out, newRelaySession(s))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.handle(routeRelayRevoke, func(w http.ResponseWriter, r *http.Request) {
		if rl == nil {
			writeError(w, errRelayOff)
			return
		}
		id := r.PathValue("id")
		if err := rl.Revoke(id); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, RelayRevoked{ID: id, Revoked: true})
	})
}

// Check is the server's check of a mint request, for a client to make
// before it asks: the format is one of relay.ClientFormats (else
// ErrRelayFormat), the TTL between 0 (a day) and relay.MaxTTL (else
// ErrRelayTTL). The policy's methods are checked by the relay
// (relay.ErrBadPolicy).
func (req RelayRequest) Check() error {
	_, err := req.check()
	return err
}

func (req RelayRequest) check() (sessionstring.Format, error) {
	f, err := sessionstring.ParseFormat(req.Format)
	if err != nil || !slices.Contains(relay.ClientFormats, f) {
		return 0, fmt.Errorf("%w: %q is not one of %s", ErrRelayFormat, req.Format, relay.ClientFormatNames())
	}
	if req.TTLSeconds < 0 || time.Duration(req.TTLSeconds)*time.Second > relay.MaxTTL {
		return 0, fmt.Errorf("%w: %d s is not between 0 (a day) and %v", ErrRelayTTL, req.TTLSeconds, relay.MaxTTL)
	}
	return f, nil
}

// mintRequest checks the request and makes the relay's.
func (req RelayRequest) mintRequest(name string) (relay.MintRequest, sessionstring.Format, error) {
	f, err := req.check()
	if err != nil {
		return relay.MintRequest{}, 0, err
	}
	p := relay.Policy{ReadOnly: req.ReadOnly, Allow: req.Allow, ServiceMessages: req.ServiceMessages}
	return relay.MintRequest{Account: name, Policy: p, TTL: time.Duration(req.TTLSeconds) * time.Second}, f, nil
}

func newRelaySession(s relay.SessionInfo) RelaySession {
	return RelaySession{ID: s.ID, Account: s.Account, Policy: s.Policy, Created: s.Created, Expires: s.Expires, Connections: s.Connections}
}

// newRelayMinted is the mint's answer: the string in the client's
// format, and what the client needs beside it.
func newRelayMinted(m relay.Minted, f sessionstring.Format, rl *relay.Relay) (RelayMinted, error) {
	str, err := m.ClientString(f)
	if err != nil {
		return RelayMinted{}, err
	}
	out := RelayMinted{
		RelaySession: RelaySession{ID: m.ID, Account: m.Account, Policy: m.Policy.String(), Created: m.Created, Expires: m.Expires},
		DC:           m.DC, Format: f.String(), Session: str,
		Host: m.Host, Port: m.Port,
		RSAPublicKey:   string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rl.PublicKey())})),
		RSAFingerprint: strconv.FormatInt(rl.PublicKeyFingerprint(), 10),
	}
	if relay.ViaSOCKS(f) {
		host, portStr, err := net.SplitHostPort(m.SOCKS5)
		if err != nil {
			return RelayMinted{}, fmt.Errorf("localapi: the relay's SOCKS5 address: %w", err)
		}
		port, _ := strconv.Atoi(portStr)
		out.Proxy = &RelayProxy{Host: host, Port: port, URL: "socks5://" + m.SOCKS5}
	}
	return out, nil
}

// relayCounts is how many relay sessions each account has open.
func relayCounts(rl *relay.Relay) map[string]int {
	if rl == nil {
		return nil
	}
	n := map[string]int{}
	for _, s := range rl.Sessions() {
		n[s.Account]++
	}
	return n
}

// writeRelayMetrics writes the relay's counters in Prometheus' text
// format: sessions, calls and refusals per method, never an account.
func writeRelayMetrics(w io.Writer, m relay.Metrics) {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
	p("# HELP tgvault_relay_sessions Relay sessions open.\n# TYPE tgvault_relay_sessions gauge\ntgvault_relay_sessions %d\n", m.SessionsOpen)
	p("# HELP tgvault_relay_sessions_minted_total Relay sessions minted.\n# TYPE tgvault_relay_sessions_minted_total counter\ntgvault_relay_sessions_minted_total %d\n", m.Minted)
	p("# HELP tgvault_relay_sessions_revoked_total Relay sessions revoked or expired.\n# TYPE tgvault_relay_sessions_revoked_total counter\ntgvault_relay_sessions_revoked_total %d\n", m.Revoked)
	p("# HELP tgvault_relay_key_exchanges_total Keys relay clients made with a relay DC (media on another DC).\n# TYPE tgvault_relay_key_exchanges_total counter\ntgvault_relay_key_exchanges_total %d\n", m.KeyExchanges)
	byMethod := func(name, help string, counts map[string]int64) {
		p("# HELP %s %s\n# TYPE %s counter\n", name, help, name)
		methods := make([]string, 0, len(counts))
		for k := range counts {
			methods = append(methods, k)
		}
		slices.Sort(methods)
		for _, k := range methods {
			p("%s{method=%q} %d\n", name, k, counts[k])
		}
	}
	byMethod("tgvault_relay_calls_total", "Calls relayed upstream, by method.", m.Calls)
	byMethod("tgvault_relay_refusals_total", "Calls refused (403 TGVAULT_METHOD_REFUSED) and results withheld whole, by method.", m.Refusals)
	byMethod("tgvault_relay_flood_waits_total", "Calls over a relay session's call-rate cap (420 FLOOD_WAIT_n, nothing sent upstream), by method.", m.FloodWaits)
	p("# HELP tgvault_relay_connections_refused_total Calls answered 420 TGVAULT_TOO_MANY_CONNECTIONS (no upstream session opened): their connection was over a relay session's or an account's connection cap, by cap.\n# TYPE tgvault_relay_connections_refused_total counter\n")
	for _, c := range []string{"session", "account"} {
		p("tgvault_relay_connections_refused_total{cap=%q} %d\n", c, m.ConnRefusals[c])
	}
	p("# HELP tgvault_relay_withheld_total Results and updates the service-message filter changed or dropped.\n# TYPE tgvault_relay_withheld_total counter\ntgvault_relay_withheld_total %d\n", m.Withheld)
	p("# HELP tgvault_relay_undecodable_total Results and updates dropped because they did not decode (fail closed).\n# TYPE tgvault_relay_undecodable_total counter\ntgvault_relay_undecodable_total %d\n", m.Undecodable)
	p("# HELP tgvault_relay_updates_total Updates passed to relay clients.\n# TYPE tgvault_relay_updates_total counter\ntgvault_relay_updates_total %d\n", m.Updates)
}
