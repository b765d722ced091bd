package localapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tgvault/tgvault/mtproto"
)

// ErrNoServer reports a socket nobody answers on.
var ErrNoServer = errors.New("tgvault run is not running")

// ErrBrokenAnswer reports a request the server took whose answer did not
// come whole: the call may or may not have been made.
var ErrBrokenAnswer = errors.New("local API: the answer broke off; the call may have been made")

// The classes of an error answer (*Error), for errors.Is: what a caller
// can tell its user or do about it. An answer of kind proxy_auth is also
// mtproto.ErrProxyAuth.
var (
	// ErrNotFound: 404, an unknown account, peer or relay session.
	ErrNotFound = errors.New("not found")
	// ErrBadCall: 400 or 413, a call or request the API would not send.
	ErrBadCall = errors.New("bad method call")
	// ErrRefused: 403, a refused method (or a relay session a fleet
	// worker does not mint).
	ErrRefused = errors.New("method refused")
)

// Error is an error answer of the local API: its HTTP status and its
// ErrorBody (empty when the answer was not one, such as the mux's own
// plain-text 404 for a path that names no route). errors.Is finds its
// class: ErrNotFound, ErrBadCall, ErrRefused or mtproto.ErrProxyAuth.
type Error struct {
	Status     int
	StatusText string // "404 Not Found"
	Body       ErrorBody
}

func (e *Error) Error() string {
	msg := e.Body.Error
	if msg == "" {
		msg = e.StatusText
	}
	// A proxy_auth message names its cause already.
	if c := e.Unwrap(); c != nil && c != mtproto.ErrProxyAuth {
		return c.Error() + ": " + msg
	}
	return "local API: " + msg
}

// Unwrap is the answer's class (nil for an answer of no class: an RPC
// error, a timeout, ...; its Body.Kind says which).
func (e *Error) Unwrap() error {
	switch {
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status == http.StatusBadRequest, e.Status == http.StatusRequestEntityTooLarge:
		return ErrBadCall
	case e.Status == http.StatusForbidden:
		return ErrRefused
	case e.Body.Kind == KindProxyAuth:
		return mtproto.ErrProxyAuth
	}
	return nil
}

// maxAnswer bounds an answer the client reads (and an update of the
// updates stream).
const maxAnswer = 64 << 20

// Client is a client of the local API on a unix socket: a method for
// each route of the route table (routes.go). It is safe for concurrent
// use.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client of the local API at the unix socket path.
func NewClient(socket string) *Client {
	return &Client{socket: socket, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
}

// Socket is the socket the client asks.
func (c *Client) Socket() string { return c.socket }

// Accounts is GET /v1/accounts: every account of the pool.
func (c *Client) Accounts(ctx context.Context) ([]Account, error) {
	var out []Account
	return out, c.route(ctx, routeAccounts, nil, &out)
}

// readyPoll is how often WaitReady asks.
const readyPoll = 100 * time.Millisecond

// WaitReady waits until each account named is ready in the pool (asking
// GET /v1/accounts every readyPoll; a socket nobody answers on yet, as
// while run starts, is asked again), or ctx ends (its error, with the
// accounts not ready yet).
func (c *Client) WaitReady(ctx context.Context, names ...string) error {
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	ready := mtproto.StatusReady.String()
	waiting := names
	var askErr error // the last ask that had no answer
	for {
		accts, err := c.Accounts(ctx)
		if ctx.Err() == nil {
			askErr = err
		}
		if err == nil {
			status := map[string]string{}
			for _, a := range accts {
				status[a.Name] = a.Status
			}
			waiting = nil
			for _, n := range names {
				if status[n] != ready {
					waiting = append(waiting, n)
				}
			}
			if len(waiting) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if askErr != nil {
				return fmt.Errorf("local API: waiting for %s: %w (%w)", strings.Join(names, ", "), ctx.Err(), askErr)
			}
			return fmt.Errorf("local API: %s not ready: %w", strings.Join(waiting, ", "), ctx.Err())
		case <-t.C:
		}
	}
}

// Account is GET /v1/accounts/{name}: one account's status.
func (c *Client) Account(ctx context.Context, name string) (Account, error) {
	var out Account
	return out, c.route(ctx, routeAccount, nil, &out, name)
}

// Me is GET /v1/accounts/{name}/me: the logged-in user.
func (c *Client) Me(ctx context.Context, name string) (Me, error) {
	var out Me
	return out, c.route(ctx, routeMe, nil, &out, name)
}

// Peer is GET /v1/accounts/{name}/peers/{query}: a peer by "me", marked
// id, +phone or username.
func (c *Client) Peer(ctx context.Context, name, query string) (Peer, error) {
	var out Peer
	return out, c.route(ctx, routePeer, nil, &out, name, query)
}

// Invoke is POST /v1/accounts/{name}/invoke: one Telegram method call in
// TL JSON ({"_":"users.getUsers",...}, package mtproto/tljson), its
// result in TL JSON.
func (c *Client) Invoke(ctx context.Context, name string, call []byte) (json.RawMessage, error) {
	if call == nil {
		call = []byte{}
	}
	var out json.RawMessage
	return out, c.route(ctx, routeInvoke, call, &out, name)
}

// Metrics is GET /metrics: the pool's (and relay's) metrics in
// Prometheus' text format.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	method, path := request(routeMetrics)
	resp, err := c.send(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("local API: %w", err)
	}
	return b, nil
}

// MintRelay is POST /v1/accounts/{name}/relay: a relay session of the
// account (run's MTProto relay; 503 KindRelayOff without one).
func (c *Client) MintRelay(ctx context.Context, name string, req RelayRequest) (RelayMinted, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return RelayMinted{}, err
	}
	var out RelayMinted
	return out, c.route(ctx, routeRelayMint, body, &out, name)
}

// RelaySessions is GET /v1/relay: the open relay sessions (no keys).
func (c *Client) RelaySessions(ctx context.Context) ([]RelaySession, error) {
	var out []RelaySession
	return out, c.route(ctx, routeRelaySessions, nil, &out)
}

// RevokeRelay is DELETE /v1/relay/{id}: the session's key is forgotten
// and its connections closed; an unknown id is a *NoRelaySessionError
// (ErrNotFound).
func (c *Client) RevokeRelay(ctx context.Context, id string) error {
	var out RelayRevoked
	return revokeError(id, c.route(ctx, routeRelayRevoke, nil, &out, id))
}

// route makes the request of one route of the table (args fill its
// wildcards) and decodes the JSON answer into out.
func (c *Client) route(ctx context.Context, route string, body []byte, out any, args ...string) error {
	method, path := request(route, args...)
	return c.do(ctx, method, path, body, out)
}

// do makes one request (body nil for none, else JSON) and decodes the
// JSON answer into out. An error answer is an *Error; a socket nobody
// answers on is ErrNoServer. (Every route has its method above; the
// package's tests call do with paths and bodies no method makes.)
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("local API: %w", err)
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("local API: bad answer: %w", err)
	}
	return nil
}

// send makes one request and returns a 200 answer for its caller to read
// and close; any other is an *Error.
func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("local API: %w", ctx.Err())
		}
		if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
			// "connect: no such file or directory": nobody serves there.
			return nil, fmt.Errorf("%w (no answer on %s: %w)", ErrNoServer, c.socket, op.Err)
		}
		// The server took the request and its answer broke off (a run
		// that stopped mid-call, a garbled answer): not ErrNoServer, whose
		// advice is to start run, since a call may have reached Telegram.
		// The cause is said without the request's URL, whose path may name
		// a peer by phone number.
		cause := err
		if ue, ok := errors.AsType[*url.Error](err); ok {
			cause = ue.Err
		}
		return nil, fmt.Errorf("%w: %w", ErrBrokenAnswer, cause)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		e := &Error{Status: resp.StatusCode, StatusText: resp.Status}
		_ = json.Unmarshal(answer, &e.Body)
		return nil, e
	}
	return resp, nil
}

// Updates is GET /v1/accounts/{name}/updates: the account's updates as
// they come, until ctx ends, Close, or the server drops the stream.
func (c *Client) Updates(ctx context.Context, name string) (*UpdateStream, error) {
	method, path := request(routeUpdates, name)
	resp, err := c.send(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxAnswer)
	return &UpdateStream{body: resp.Body, sc: sc}, nil
}

// UpdateStream is an account's updates (Client.Updates).
type UpdateStream struct {
	body io.ReadCloser
	sc   *bufio.Scanner
}

// DroppedError ends an update stream the server dropped: Reason is
// "slow" (the client fell behind), "shutdown", "removed", or the
// account's final state ("unauthorized", ...).
type DroppedError struct{ Reason string }

func (e *DroppedError) Error() string { return "local API: update stream dropped: " + e.Reason }

// Next returns the next update in TL JSON. A stream the server dropped
// ends with a *DroppedError; one that just ended, with io.EOF.
func (s *UpdateStream) Next() (json.RawMessage, error) {
	var event string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			if event == "dropped" {
				var d struct {
					Reason string `json:"reason"`
				}
				_ = json.Unmarshal(data, &d)
				return nil, &DroppedError{Reason: d.Reason}
			}
			return json.RawMessage(data), nil
		}
	}
	if err := s.sc.Err(); err != nil {
		return nil, fmt.Errorf("local API: %w", err)
	}
	return nil, io.EOF
}

// Close ends the stream.
func (s *UpdateStream) Close() error { return s.body.Close() }
