package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/tgvault/tgvault/internal/peercred"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/relay"
	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/storage"
)

// Handler serves the local API: HTTP+JSON over the pool's accounts,
// without ever exposing an auth key. Its routes (routes.go, the table
// Client builds its requests from):
//
//	GET  /v1/accounts                      every account's status
//	GET  /v1/accounts/{name}               one account's status
//	GET  /v1/accounts/{name}/me            the logged-in user
//	GET  /v1/accounts/{name}/peers/{query} a peer by "me", marked id, +phone or @username
//	POST /v1/accounts/{name}/invoke        any Telegram method, in TL JSON
//	GET  /v1/accounts/{name}/updates       the account's updates (server-sent events)
//	GET  /metrics                          the pool's metrics (Prometheus text format)
//	POST /v1/accounts/{name}/relay         mint a relay session (Options.Relay; relay.go)
//	GET  /v1/relay                         the open relay sessions
//	DELETE /v1/relay/{id}                  revoke a relay session
//
// Calls wait out a FLOOD_WAIT up to Options.MaxFloodWait and retry; a
// longer one answers 429 with Retry-After.
//
// invoke takes one method call in TL JSON, the body at most tljson.MaxInvokeBody
// bytes: {"_":"users.getUsers","id":[{"_":"inputUserSelf"}]} (the
// convention is in package tljson and README.md; gotd's InvokeRawJSON is not
// used, since no tg type implements its TDLib JSON decoder). It answers
// the method's result in TL JSON, and feeds the users and chats in it to the
// account's peer cache like every other call. The methods the pool's
// PoolOptions.Methods refuses (by default those tljson.RefusedMethod lists: every
// auth.* method, key and session exporting or ending methods, methods that
// change how the account logs in, wrappers around other queries) are
// refused with 403.
//
// Errors are {"error": "..."} with a matching HTTP status: 400 for a call
// that does not decode (malformed JSON, an unknown method, constructor or
// field, a value of the wrong type, a constructor of the wrong class), 403
// for a refused method, 404 for an unknown account or peer, 409 for an
// account whose session is unusable or whose proxy refused its login, 408 for
// a body that did not arrive within BodyTimeout, 413 for a body over the limit, 429
// (with Retry-After) for FLOOD_WAIT, 502 for any other RPC error, 504 when
// the call timed out. Every such error also has a "kind" (KindBadCall,
// ...), which tells the 409s apart (the mux's own 404/405 for a path that
// names no route are plain text). An RPC error adds "rpc_code" and "rpc_type"
// ("USERNAME_NOT_OCCUPIED"), a FLOOD_WAIT "retry_after" (seconds). After a 408 the connection is closed: a
// client trickling a body in would otherwise hold its connection, and a
// shutdown, as long as it liked.
func Handler(pool *mtproto.Pool) http.Handler { return handler(pool, Options{}, BodyTimeout) }

// Options are the local API's optional parts.
type Options struct {
	// Relay is run's MTProto relay: the relay routes (relay.go) mint,
	// list and revoke its sessions, GET /v1/accounts counts each
	// account's, and /metrics has its counters. Nil: the relay routes
	// answer 503 (KindRelayOff).
	Relay *relay.Relay
}

// NewHandler is Handler with the optional parts.
func NewHandler(pool *mtproto.Pool, opts Options) http.Handler {
	return handler(pool, opts, BodyTimeout)
}

// BodyTimeout bounds the time a client of the local API may take to send
// a request body, from its headers on.
const BodyTimeout = 10 * time.Second

// handler is NewHandler's body, with the body timeout a test may shorten.
func handler(pool *mtproto.Pool, opts Options, bodyTimeout time.Duration) http.Handler {
	return bodyDeadline(routes(pool, opts, bodyTimeout).ServeMux, bodyTimeout)
}

// routeMux is the server's mux with the patterns registered on it (the
// route table's names, routes.go).
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) handle(pattern string, h http.HandlerFunc) {
	m.HandleFunc(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

// routes registers the local API's routes over pool.
//
// Long: one short handler per route of the route table (routes.go); the
// handlers that are more than a few lines are functions of their own.
func routes(pool *mtproto.Pool, opts Options, bodyTimeout time.Duration) *routeMux {
	mux := &routeMux{ServeMux: http.NewServeMux()}
	mux.handle(routeMetrics, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = pool.WriteMetrics(w)
		if opts.Relay != nil {
			writeRelayMetrics(w, opts.Relay.Metrics())
		}
	})
	relayRoutes(mux, pool, opts.Relay)
	mux.handle(routeUpdates, updatesHandler(pool))
	mux.handle(routeAccounts, func(w http.ResponseWriter, r *http.Request) {
		out := []Account{}
		relays := relayCounts(opts.Relay)
		for _, name := range pool.Names() {
			st, err := pool.Status(name)
			a := newAccount(name, st, err)
			a.RelaySessions = relays[name]
			out = append(out, a)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.handle(routeAccount, func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		st, err := pool.Status(name)
		if errors.Is(err, mtproto.ErrUnknownAccount) {
			writeError(w, err)
			return
		}
		a := newAccount(name, st, err)
		a.RelaySessions = relayCounts(opts.Relay)[name]
		writeJSON(w, http.StatusOK, a)
	})
	mux.handle(routeMe, func(w http.ResponseWriter, r *http.Request) {
		var id mtproto.Identity
		err := pool.Do(r.Context(), r.PathValue("name"), func(ctx context.Context, c *mtproto.Client) error {
			var err error
			id, err = c.Self(ctx)
			return err
		})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, Me{UserID: id.UserID, IsBot: id.IsBot})
	})
	mux.handle(routePeer, func(w http.ResponseWriter, r *http.Request) {
		var p storage.Peer
		err := pool.Do(r.Context(), r.PathValue("name"), func(ctx context.Context, c *mtproto.Client) error {
			var err error
			p, err = c.ResolvePeer(ctx, r.PathValue("query"))
			return err
		})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, Peer{ID: p.ID, Type: string(p.Type), AccessHash: strconv.FormatInt(p.AccessHash, 10), Username: p.Username})
	})
	mux.handle(routeInvoke, func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if _, err := pool.Status(name); errors.Is(err, mtproto.ErrUnknownAccount) {
			writeError(w, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, tljson.MaxInvokeBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			var netErr net.Error
			if errors.As(err, &tooLarge) {
				err = &tljson.Error{Kind: tljson.ErrBodyTooLarge, Detail: fmt.Sprintf("the limit is %d bytes", tljson.MaxInvokeBody)}
			} else if errors.As(err, &netErr) && netErr.Timeout() {
				w.Header().Set("Connection", "close")
				err = fmt.Errorf("%w: not all of it came within %v", tljson.ErrBodyTimeout, bodyTimeout)
			} else {
				err = &tljson.Error{Kind: tljson.ErrMalformedJSON, Detail: fmt.Sprintf("reading the body: %v", err)}
			}
			writeError(w, err)
			return
		}
		// Decoded before waiting for the account: a bad call fails at
		// once, whatever the account's state.
		call, err := tljson.DecodeCall(body, pool.Methods())
		if err != nil {
			writeError(w, err)
			return
		}
		var out []byte
		err = pool.Do(r.Context(), name, func(ctx context.Context, c *mtproto.Client) error {
			var err error
			out, err = c.InvokeCall(ctx, call)
			return err
		})
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(out, '\n'))
	})
	return mux
}

// bodyDeadline gives a request that has a body d to send all of it: the
// connection's read deadline is set when the handler starts and cleared
// once the body has been read to its end (a handler that never reads its
// body, like the GET ones, leaves the deadline to bound net/http's drain
// of it after the handler).
func bodyDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err == nil {
			r.Body = &clearOnEOF{ReadCloser: r.Body, rc: rc}
		}
		next.ServeHTTP(w, r)
	})
}

// clearOnEOF clears the connection's read deadline once its body is read
// to the end, so the rest of the request (an updates stream, a long call)
// is not cut by it.
type clearOnEOF struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *clearOnEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func newAccount(name string, st mtproto.Status, err error) Account {
	a := Account{Name: name, Status: st.String()}
	if err != nil {
		a.Error = err.Error()
	}
	return a
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code, kind := http.StatusBadGateway, KindFailed
	body := ErrorBody{Error: err.Error()}
	var codecErr *tljson.Error
	switch {
	case errors.Is(err, tljson.ErrMethodRefused):
		code, kind = http.StatusForbidden, KindRefused
	case errors.Is(err, tljson.ErrBodyTooLarge):
		code, kind = http.StatusRequestEntityTooLarge, KindTooLarge
	case errors.Is(err, tljson.ErrBodyTimeout):
		code, kind = http.StatusRequestTimeout, KindBodyTimeout
	case errors.As(err, &codecErr):
		code, kind = http.StatusBadRequest, KindBadCall
	case errors.Is(err, mtproto.ErrUnknownAccount), errors.Is(err, storage.ErrNotFound), errors.Is(err, relay.ErrUnknownSession):
		code, kind = http.StatusNotFound, KindNotFound
	case errors.Is(err, errBadRelayRequest), errors.Is(err, relay.ErrBadPolicy):
		code, kind = http.StatusBadRequest, KindBadCall
	case errors.Is(err, mtproto.ErrRelayFleet):
		code, kind = http.StatusForbidden, KindRefused
	case errors.Is(err, errRelayOff), errors.Is(err, relay.ErrClosed):
		code, kind = http.StatusServiceUnavailable, KindRelayOff
	case errors.Is(err, mtproto.ErrProxyAuth):
		code, kind = http.StatusConflict, KindProxyAuth
	case errors.Is(err, mtproto.ErrKeyLost):
		code, kind = http.StatusConflict, KindKeyLost
	case errors.Is(err, mtproto.ErrKeyDuplicated):
		code, kind = http.StatusConflict, KindKeyDuplicated
	case errors.Is(err, mtproto.ErrUnauthorized):
		code, kind = http.StatusConflict, KindUnauthorized
	case errors.Is(err, mtproto.ErrNoSession):
		code, kind = http.StatusConflict, KindNoSession
	case errors.Is(err, mtproto.ErrUnreachable):
		code, kind = http.StatusServiceUnavailable, KindUnreachable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code, kind = http.StatusGatewayTimeout, KindTimeout
	}
	var fw *mtproto.FloodWaitError
	if errors.As(err, &fw) {
		code, kind = http.StatusTooManyRequests, KindFloodWait
		secs := int((fw.Wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		body.RetryAfter = &secs
	}
	if rpc, ok := mtproto.RPCErrorOf(err); ok {
		body.RPCCode, body.RPCType = rpc.Code, rpc.Type
		if code == http.StatusBadGateway {
			kind = KindRPCError
		}
		if rpc.IsFloodWait && code == http.StatusBadGateway {
			code, kind = http.StatusTooManyRequests, KindFloodWait
			secs := int(rpc.FloodWait.Seconds())
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			body.RetryAfter = &secs
		}
	}
	body.Kind = kind
	writeJSON(w, code, body)
}

// ListenUnix listens on a unix socket for the local API: the socket is
// made 0600 (owner only) and, where the OS tells, connections from other
// users are refused.
func ListenUnix(path string) (net.Listener, error) {
	if err := CheckSocket(path); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		_ = os.Remove(path) // a socket nobody answers on: a run that ended
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("localapi: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("localapi: listen: %w", err)
	}
	return ownerOnly{ln.(*net.UnixListener)}, nil
}

// CheckSocket is ListenUnix's refusal, without listening: an error when
// path exists and is not a socket, or is a socket something answers on (a
// run serves there). A server checks it before it does work that
// ListenUnix's refusal would waste (run, before its accounts connect).
func CheckSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("localapi: %s exists and is not a socket", path)
	}
	if InUse(path) {
		return &SocketInUseError{Path: path}
	}
	return nil
}

// SocketInUseError is CheckSocket's and ListenUnix's refusal of a socket
// something answers on.
type SocketInUseError struct{ Path string }

func (e *SocketInUseError) Error() string { return "localapi: " + e.Path + " is in use" }

// InUse reports whether something answers on the unix socket path (a run
// serves there): ListenUnix refuses such a socket rather than take it over.
func InUse(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// ownerOnly drops connections from other users.
type ownerOnly struct{ *net.UnixListener }

func (l ownerOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if sameUser(c) {
			return c, nil
		}
		_ = c.Close()
	}
}

// sameUser reports whether the peer of c runs as our user. Where the OS
// has no peer credentials (peercred.Supported false) the socket's 0600
// mode is the only guard, and every peer is taken.
func sameUser(c *net.UnixConn) bool {
	if !peercred.Supported {
		return true
	}
	uid, err := peercred.UID(c)
	return err == nil && uid == os.Getuid()
}
