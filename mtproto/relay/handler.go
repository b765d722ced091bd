package relay

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/mtproto/mtserver"
	"github.com/tgvault/tgvault/mtproto/tlschema"
	"github.com/tgvault/tgvault/sessionstring"
)

// The rpc_errors the relay answers by itself (besides RefusedMessage).
const (
	// errUnregistered answers a call on a key a client made by a key
	// exchange with a relay DC and has not bound to a session (Telegram's
	// answer for a key with no authorization).
	errUnregistered = "AUTH_KEY_UNREGISTERED"
	// errNoLayer answers a call of a connection that never announced its
	// layer: the relay cannot name one upstream, nor decode the answer.
	errNoLayer = "CONNECTION_NOT_INITED"
	// errUpstream answers a call the relay could not pass on (the
	// account's connection failed); clients raise it as a server error.
	errUpstream = "TGVAULT_UPSTREAM_UNAVAILABLE"
)

// errRevoked ends a connection whose key the relay no longer has.
var errRevoked = errors.New("relay: the relay session was revoked or expired")

// handler answers one relay DC's RPCs.
type handler struct {
	r  *Relay
	dc int
}

func (h handler) ServeRPC(ctx context.Context, req *mtserver.Request) error {
	return h.r.serveRPC(ctx, req)
}

// client is one connection of a relay client, bound to its session, and
// the upstream session the relay opened for it (on the first call).
type client struct {
	r        *Relay
	conn     *mtserver.Conn
	dc       int // the relay DC the client connected to
	key      *relayKey
	acc      Account
	inflight chan struct{}
	// inited is set once a call that carried initConnection got an
	// answer: later calls go without it.
	inited atomic.Bool

	openMu sync.Mutex // held while the upstream connects
	mu     sync.Mutex
	up     *upstream
	closed bool
}

// serveRPC checks one call of a relay client against its session's
// policy and passes it on, or answers it at once.
func (r *Relay) serveRPC(ctx context.Context, req *mtserver.Request) error {
	c, err := r.clientOf(ctx, req.Conn, req.KeyID)
	if _, ok := asConnCap(err); ok {
		// Nothing went upstream; the connection stays, and its next call
		// gets in once a connection of the session (or account) closed.
		return req.Error(ctx, floodWaitCode, errTooManyConns)
	}
	if err != nil {
		return err
	}
	if c == nil {
		switch req.TypeID() {
		case importAuthorizationID:
			return r.importAuthorization(ctx, req)
		case helpGetConfigID:
			// A new connection's first call, before its import (gotd,
			// Telethon): the config as a session of the relay last got it
			// in that layer, rewritten; Telegram answers it to any key.
			if cfg := r.cachedConfig(configKey{req.Layer, viaSOCKS(req.Conn)}); cfg != nil {
				return req.Result(ctx, cfg)
			}
		}
		return req.Error(ctx, 401, errUnregistered)
	}
	sess := c.key.sess
	if !time.Now().Before(sess.Expires) {
		return errRevoked
	}
	if req.Layer == 0 {
		return req.Error(ctx, 400, errNoLayer)
	}
	switch req.TypeID() {
	case exportAuthorizationID:
		// The relay's own token for its other DCs: nothing goes upstream.
		r.metrics.call("auth.exportAuthorization")
		return r.exportAuthorization(ctx, c, req)
	case importAuthorizationID:
		r.metrics.refusal("auth.importAuthorization")
		return req.Error(ctx, RefusedCode, RefusedMessage) // the key is bound already
	}
	m, refusal := policyCheck(r.schema, r.cfg.Refuser, sess.Policy, req.Body)
	if refusal != nil {
		// A refused call takes from the cap too: a client looping on one
		// costs nothing upstream, but its log lines and metrics are capped.
		if wait, ok := sess.limit.take(time.Now()); !ok {
			r.metrics.floodWait(refusal.Method)
			return req.Error(ctx, floodWaitCode, floodWait(wait))
		}
		r.metrics.refusal(refusal.Method)
		r.log.Info("relay call refused", "session", sess.ID, "account", sess.Account, "method", refusal.Method, "reason", refusal.Reason)
		return req.Error(ctx, RefusedCode, RefusedMessage)
	}
	if wait, ok := sess.limit.take(time.Now()); !ok {
		r.metrics.floodWait(m.Name)
		return req.Error(ctx, floodWaitCode, floodWait(wait))
	}
	r.metrics.call(m.Name)
	select {
	case c.inflight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !r.startCall() { // the relay is closing
		<-c.inflight
		return req.Error(ctx, 500, errUpstream)
	}
	go func() {
		defer r.calls.Done()
		defer func() { <-c.inflight }()
		c.relay(ctx, req, m)
	}()
	return nil
}

// clientOf returns the client of a connection, bound to the session of
// its key on first use; nil for a key no session has (yet); errRevoked
// for a key the relay no longer has.
func (r *Relay) clientOf(ctx context.Context, conn *mtserver.Conn, id sessionstring.KeyID) (*client, error) {
	r.mu.Lock()
	if c, ok := r.clients[conn]; ok {
		r.mu.Unlock()
		return c, nil
	}
	k, ok := r.keys[id]
	r.mu.Unlock()
	if !ok {
		return nil, errRevoked
	}
	if k.sess == nil {
		return nil, nil
	}
	acc, err := r.cfg.Accounts.Account(ctx, k.sess.Account)
	if err != nil {
		return nil, err
	}
	c := &client{r: r, conn: conn, dc: conn.DC(), key: k, acc: acc, inflight: make(chan struct{}, maxInFlight)}
	r.mu.Lock()
	if _, ok := r.keys[id]; !ok {
		r.mu.Unlock()
		return nil, errRevoked
	}
	if old, ok := r.clients[conn]; ok {
		r.mu.Unlock()
		return old, nil
	}
	// Before the connection costs an upstream session: the caps.
	if capErr, first := r.admitLocked(k.sess); capErr != nil {
		r.mu.Unlock()
		if first {
			r.log.Info("relay connection refused: too many connections", "session", k.sess.ID, "account", k.sess.Account, "cap", capErr.cap, "limit", capErr.limit)
		}
		return nil, capErr
	}
	r.clients[conn] = c
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		<-conn.Context().Done()
		r.mu.Lock()
		delete(r.clients, conn)
		r.releaseLocked(k.sess)
		r.mu.Unlock()
		c.close()
	}()
	return c, nil
}

// relay passes one call upstream and its answer back.
func (c *client) relay(ctx context.Context, req *mtserver.Request, m *tlschema.Combinator) {
	r := c.r
	sess := c.key.sess
	up, err := c.upstream(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("relay: upstream connect failed", "session", sess.ID, "account", sess.Account, "err", err)
			_ = req.Error(ctx, 500, errUpstream)
		}
		return
	}
	var init *Device
	if !c.inited.Load() {
		d := c.acc.Device()
		init = &d
	}
	raw, err := up.Invoke(ctx, wrapQuery(req.Layer, init, req.WithoutUpdates, req.Body))
	if rpcErr, ok := tdtgerr.As(err); ok {
		c.inited.Store(true)
		_ = req.Error(ctx, rpcErr.Code, rpcErr.Message)
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("relay: upstream call failed", "session", sess.ID, "account", sess.Account, "method", m.Name, "err", err)
			_ = req.Error(ctx, 500, errUpstream)
		}
		return
	}
	c.inited.Store(true)
	out, why := r.filterResult(sess, m, configKey{req.Layer, viaSOCKS(req.Conn)}, raw)
	if why != "" {
		r.metrics.refusal(m.Name)
		r.log.Info("relay result withheld", "session", sess.ID, "account", sess.Account, "method", m.Name, "reason", why)
		_ = req.Error(ctx, RefusedCode, RefusedMessage)
		return
	}
	_ = req.Result(ctx, out)
}

// filterResult applies the session's policy to a result: help.getConfig's
// dc_options point at the relay; without --allow-service-messages the
// service account's messages leave it. why is not empty when the result
// may not pass at all (it does not decode, fail closed; or it is itself a
// service message).
func (r *Relay) filterResult(sess *Session, m *tlschema.Combinator, ck configKey, raw []byte) (out []byte, why string) {
	if m.Name != "help.getConfig" && sess.Policy.ServiceMessages {
		return raw, ""
	}
	v, err := r.schema.Decode(raw, m.Result)
	if err != nil {
		r.metrics.undecodable.Add(1)
		return nil, "the result does not decode, and the policy must read it (fail closed)"
	}
	if m.Name == "help.getConfig" {
		if v.Node == nil {
			return nil, "help.getConfig answered no object"
		}
		addr := r.dcAddr
		if ck.socks {
			addr = r.socksDCAddr
		}
		rewritten, real, err := rewriteConfig(raw, v.Node, addr)
		if err != nil {
			return nil, err.Error()
		}
		r.setReal(sess.Account, real)
		r.keepConfig(ck, rewritten)
		return rewritten, "" // a config holds no message: nothing to withhold
	}
	out, changed, whole := withholdValue(raw, &v)
	if whole {
		r.metrics.withheld.Add(1)
		return nil, "it is a service message"
	}
	if changed {
		r.metrics.withheld.Add(1)
	}
	return out, ""
}

// helpGetConfigID is help.getConfig's constructor id (every layer).
const helpGetConfigID uint32 = 0xc4f9186b

// configKey names a rewritten config: the layer it is encoded in, and
// whether it is for clients that came through the SOCKS5 front.
type configKey struct {
	layer int
	socks bool
}

// maxConfigs bounds the rewritten configs kept (one per layer seen).
const maxConfigs = 64

// keepConfig keeps a rewritten config, for new connections' first call
// before they are bound.
func (r *Relay) keepConfig(k configKey, cfg []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.configs[k]; ok || len(r.configs) < maxConfigs {
		r.configs[k] = cfg
	}
}

// cachedConfig is a rewritten config, nil when none.
func (r *Relay) cachedConfig(k configKey) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.configs[k]
}

// setReal keeps the server's real DC addresses for an account.
func (r *Relay) setReal(account string, real []realOption) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.accounts[account]; ok {
		a.real = real
	}
}

// push passes an update Telegram pushed on the client's upstream session
// to the client, without the service account's messages (an update that
// does not decode is dropped: fail closed).
func (c *client) push(raw []byte) {
	r := c.r
	sess := c.key.sess
	out := raw
	if !sess.Policy.ServiceMessages {
		n, err := r.schema.DecodeObject(raw)
		if err != nil {
			r.metrics.undecodable.Add(1)
			r.log.Info("relay update dropped: it does not decode (fail closed)", "session", sess.ID, "account", sess.Account)
			return
		}
		var changed, whole bool
		out, changed, whole = withholdService(raw, n)
		if whole || changed {
			r.metrics.withheld.Add(1)
		}
		if whole {
			return
		}
	}
	ctx, cancel := context.WithTimeout(c.conn.Context(), r.cfg.IOTimeout)
	defer cancel()
	if err := c.conn.Push(ctx, out); err == nil {
		r.metrics.updates.Add(1)
	}
}

// upstream returns the client's upstream session, connecting it (again,
// after it ended) when needed.
func (c *client) upstream(ctx context.Context) (*upstream, error) {
	c.openMu.Lock()
	defer c.openMu.Unlock()
	c.mu.Lock()
	up, closed := c.up, c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrUpstreamClosed
	}
	if up != nil {
		select {
		case <-up.Done():
			up.Close()
		default:
			return up, nil
		}
	}
	home, key := c.acc.Home()
	if c.dc != home {
		var err error
		if key, err = c.r.dcKey(ctx, c.key.sess.Account, c.acc, c.dc); err != nil {
			return nil, err
		}
	}
	up, err := dialUpstream(ctx, upstreamConfig{
		DC:        c.dc,
		Key:       key,
		Dial:      c.r.dialer(c.key.sess.Account, c.acc),
		OnUpdates: c.push,
		Timeout:   c.r.cfg.UpstreamTimeout,
	})
	if err != nil {
		return nil, err
	}
	c.inited.Store(false) // a new session: initConnection again
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		up.Close()
		return nil, ErrUpstreamClosed
	}
	c.up = up
	return up, nil
}

// close ends the client's upstream session.
func (c *client) close() {
	c.mu.Lock()
	c.closed = true
	up := c.up
	c.mu.Unlock()
	if up != nil {
		up.Close()
	}
}
