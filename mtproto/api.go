package mtproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/storage"
)

// APIHandler serves the local API: HTTP+JSON over the pool's accounts,
// without ever exposing an auth key.
//
//	GET  /v1/accounts                      every account's status
//	GET  /v1/accounts/{name}               one account's status
//	GET  /v1/accounts/{name}/me            the logged-in user
//	GET  /v1/accounts/{name}/peers/{query} a peer by "me", marked id, +phone or @username
//	POST /v1/accounts/{name}/invoke        any Telegram method, in TL JSON
//	GET  /v1/accounts/{name}/updates       the account's updates (server-sent events)
//	GET  /metrics                          the pool's metrics (Prometheus text format)
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
func APIHandler(pool *Pool) http.Handler { return apiHandler(pool, BodyTimeout) }

// BodyTimeout bounds the time a client of the local API may take to send
// a request body, from its headers on.
const BodyTimeout = 10 * time.Second

func apiHandler(pool *Pool, bodyTimeout time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", metricsHandler(pool))
	mux.HandleFunc("GET /v1/accounts/{name}/updates", updatesHandler(pool))
	mux.HandleFunc("GET /v1/accounts", func(w http.ResponseWriter, r *http.Request) {
		out := []accountJSON{}
		for _, name := range pool.Names() {
			st, err := pool.Status(name)
			out = append(out, newAccountJSON(name, st, err))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /v1/accounts/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		st, err := pool.Status(name)
		if errors.Is(err, ErrUnknownAccount) {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, newAccountJSON(name, st, err))
	})
	mux.HandleFunc("GET /v1/accounts/{name}/me", func(w http.ResponseWriter, r *http.Request) {
		var id Identity
		err := pool.Do(r.Context(), r.PathValue("name"), func(ctx context.Context, c *Client) error {
			var err error
			id, err = c.Self(ctx)
			return err
		})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"user_id": id.UserID, "is_bot": id.IsBot})
	})
	mux.HandleFunc("GET /v1/accounts/{name}/peers/{query}", func(w http.ResponseWriter, r *http.Request) {
		var p storage.Peer
		err := pool.Do(r.Context(), r.PathValue("name"), func(ctx context.Context, c *Client) error {
			var err error
			p, err = c.ResolvePeer(ctx, r.PathValue("query"))
			return err
		})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": p.ID, "type": p.Type, "access_hash": strconv.FormatInt(p.AccessHash, 10), "username": p.Username})
	})
	mux.HandleFunc("POST /v1/accounts/{name}/invoke", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if _, err := pool.Status(name); errors.Is(err, ErrUnknownAccount) {
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
		call, err := tljson.DecodeCall(body, pool.opts.Methods)
		if err != nil {
			writeError(w, err)
			return
		}
		var out []byte
		err = pool.Do(r.Context(), name, func(ctx context.Context, c *Client) error {
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
	return bodyDeadline(mux, bodyTimeout)
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

type accountJSON struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func newAccountJSON(name string, st Status, err error) accountJSON {
	a := accountJSON{Name: name, Status: st.String()}
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

// The "kind" of an API error answer: one stable word per cause, for
// clients that branch on it (the status alone does not tell a revoked
// session from a refused proxy login).
const (
	KindBadCall       = "bad_call"       // 400
	KindRefused       = "refused"        // 403
	KindNotFound      = "not_found"      // 404
	KindBodyTimeout   = "body_timeout"   // 408
	KindUnauthorized  = "unauthorized"   // 409: the session was revoked or never authorized
	KindKeyLost       = "key_lost"       // 409: the server lost the auth key
	KindKeyDuplicated = "key_duplicated" // 409: the key is in use from two places
	KindNoSession     = "no_session"     // 409: the store holds no session
	KindProxyAuth     = "proxy_auth"     // 409: the account's proxy refused its login
	KindTooLarge      = "too_large"      // 413
	KindFloodWait     = "flood_wait"     // 429, with Retry-After and "retry_after"
	KindRPCError      = "rpc_error"      // 502, with "rpc_code" and "rpc_type"
	KindFailed        = "failed"         // 502: the call failed without a Telegram error
	KindTimeout       = "timeout"        // 504
	KindUnreachable   = "unreachable"    // 503: the account's server refuses connections or cannot be reached
)

func writeError(w http.ResponseWriter, err error) {
	code, kind := http.StatusBadGateway, KindFailed
	body := map[string]any{"error": err.Error()}
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
	case errors.Is(err, ErrUnknownAccount), errors.Is(err, storage.ErrNotFound):
		code, kind = http.StatusNotFound, KindNotFound
	case errors.Is(err, ErrProxyAuth):
		code, kind = http.StatusConflict, KindProxyAuth
	case errors.Is(err, ErrKeyLost):
		code, kind = http.StatusConflict, KindKeyLost
	case errors.Is(err, ErrKeyDuplicated):
		code, kind = http.StatusConflict, KindKeyDuplicated
	case errors.Is(err, ErrUnauthorized):
		code, kind = http.StatusConflict, KindUnauthorized
	case errors.Is(err, ErrNoSession):
		code, kind = http.StatusConflict, KindNoSession
	case errors.Is(err, ErrUnreachable):
		code, kind = http.StatusServiceUnavailable, KindUnreachable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code, kind = http.StatusGatewayTimeout, KindTimeout
	}
	var fw *FloodWaitError
	if errors.As(err, &fw) {
		code, kind = http.StatusTooManyRequests, KindFloodWait
		secs := int((fw.Wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		body["retry_after"] = secs
	}
	if rpc, ok := tdtgerr.As(err); ok {
		body["rpc_code"] = rpc.Code
		body["rpc_type"] = rpc.Type
		if code == http.StatusBadGateway {
			kind = KindRPCError
		}
		if d, ok := tdtgerr.AsFloodWait(err); ok && code == http.StatusBadGateway {
			code, kind = http.StatusTooManyRequests, KindFloodWait
			w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())))
			body["retry_after"] = int(d.Seconds())
		}
	}
	body["kind"] = kind
	writeJSON(w, code, body)
}

// Names returns the names of the pool's accounts, sorted.
func (p *Pool) Names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.accounts))
	for name := range p.accounts {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// ResolvePeer finds a peer as Pyrogram's resolve_peer does: "me"/"self",
// a marked id, a phone number ("+" and digits), or a username (with or
// without "@"), from the peer cache first and through
// contacts.resolveUsername or contacts.resolvePhone when the cache misses
// or the username expired (the result refills the cache).
func (c *Client) ResolvePeer(ctx context.Context, query string) (storage.Peer, error) {
	store := c.sess.store
	q := strings.TrimSpace(query)
	switch strings.ToLower(q) {
	case "me", "self":
		id, err := c.Self(ctx)
		if err != nil {
			return storage.Peer{}, err
		}
		return store.PeerByID(id.UserID)
	}
	if phone, ok := strings.CutPrefix(q, "+"); ok {
		return c.resolvePhone(ctx, strings.Join(strings.Fields(phone), ""))
	}
	if id, err := strconv.ParseInt(q, 10, 64); err == nil {
		return store.PeerByID(id)
	}
	name := strings.ToLower(strings.TrimPrefix(q, "@"))
	p, err := store.PeerByUsername(name)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrUsernameExpired) {
		return storage.Peer{}, err
	}
	if _, err := c.API().ContactsResolveUsername(ctx, &tdtg.ContactsResolveUsernameRequest{Username: name}); err != nil {
		if isUsernameMissing(err) {
			return storage.Peer{}, fmt.Errorf("mtproto: resolve username: %w", storage.ErrNotFound)
		}
		return storage.Peer{}, fmt.Errorf("mtproto: resolve username: %w", sessionErr(err))
	}
	return store.PeerByUsername(name)
}

// resolvePhone finds a peer by phone number (digits, without "+"): the
// peer cache first, then contacts.resolvePhone (which refills it).
func (c *Client) resolvePhone(ctx context.Context, phone string) (storage.Peer, error) {
	store := c.sess.store
	p, err := store.PeerByPhone(phone)
	if err == nil || !errors.Is(err, storage.ErrNotFound) {
		return p, err
	}
	if _, err := c.API().ContactsResolvePhone(ctx, phone); err != nil {
		if tdtgerr.Is(err, "PHONE_NOT_OCCUPIED", "PHONE_NUMBER_INVALID") {
			return storage.Peer{}, fmt.Errorf("mtproto: resolve phone: %w", storage.ErrNotFound)
		}
		return storage.Peer{}, fmt.Errorf("mtproto: resolve phone: %w", sessionErr(err))
	}
	return store.PeerByPhone(phone)
}

func isUsernameMissing(err error) bool {
	return tdtgerr.Is(err, "USERNAME_NOT_OCCUPIED", "USERNAME_INVALID")
}

// ListenUnix listens on a unix socket for the local API: the socket is
// made 0600 (owner only) and, where the OS tells, connections from other
// users are refused.
func ListenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("mtproto: %s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("mtproto: %s is in use", path)
		}
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("mtproto: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("mtproto: listen: %w", err)
	}
	return ownerOnly{ln.(*net.UnixListener)}, nil
}

// ownerOnly drops connections from other users.
type ownerOnly struct{ *net.UnixListener }

func (l ownerOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if ok, err := sameUser(c); err == nil && ok {
			return c, nil
		}
		_ = c.Close()
	}
}
