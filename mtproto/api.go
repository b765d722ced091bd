package mtproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/storage"
)

// APIHandler serves the local API: HTTP+JSON over the pool's accounts,
// without ever exposing an auth key.
//
//	GET  /v1/accounts                      every account's status
//	GET  /v1/accounts/{name}               one account's status
//	GET  /v1/accounts/{name}/me            the logged-in user
//	GET  /v1/accounts/{name}/peers/{query} a peer by "me", marked id or username
//	GET  /v1/accounts/{name}/updates       the account's updates (server-sent events)
//	GET  /metrics                          the pool's metrics (Prometheus text format)
//
// Calls wait out a FLOOD_WAIT up to Options.MaxFloodWait and retry; a
// longer one answers 429 with Retry-After.
//
// Errors are {"error": "..."} with a matching HTTP status. Raw method calls
// are not served yet: gotd v0.162.0's InvokeRawJSON decodes no tg request
// (no tg type implements its TDLib JSON decoder).
func APIHandler(pool *Pool) http.Handler {
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
	return mux
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

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusBadGateway
	switch {
	case errors.Is(err, ErrUnknownAccount), errors.Is(err, storage.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrKeyLost), errors.Is(err, ErrKeyDuplicated), errors.Is(err, ErrNoSession):
		code = http.StatusConflict
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	var fw *FloodWaitError
	if errors.As(err, &fw) {
		code = http.StatusTooManyRequests
		w.Header().Set("Retry-After", strconv.Itoa(int((fw.Wait+time.Second-1)/time.Second)))
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
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
// a marked id, or a username (with or without "@"), from the peer cache
// first and through contacts.resolveUsername when the cache misses or the
// username expired (the result refills the cache).
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
