package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// ErrNoServer reports a socket nobody answers on.
var ErrNoServer = errors.New("localapi: no answer on the socket")

// Error is an error answer of the local API: its HTTP status and its
// ErrorBody (empty when the answer was not one, such as the mux's own
// plain-text 404 for a path that names no route).
type Error struct {
	Status     int
	StatusText string // "404 Not Found"
	Body       ErrorBody
}

func (e *Error) Error() string {
	if e.Body.Error != "" {
		return "local API: " + e.Body.Error
	}
	return "local API: " + e.StatusText
}

// maxAnswer bounds an answer the client reads.
const maxAnswer = 64 << 20

// Client is a client of the local API on a unix socket. It is safe for
// concurrent use.
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

// Get GETs path and decodes the JSON answer into out; see Do.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// Do makes one request (body nil for none, else JSON) and decodes the
// JSON answer into out. An error answer is an *Error; a socket nobody
// answers on is ErrNoServer.
func (c *Client) Do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://tgvault"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("local API: %w", ctx.Err())
		}
		return fmt.Errorf("%w: %w", ErrNoServer, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("local API: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode, StatusText: resp.Status}
		_ = json.Unmarshal(answer, &e.Body)
		return e
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("local API: bad answer: %w", err)
	}
	return nil
}

// Accounts is GET /v1/accounts: every account of the pool.
func (c *Client) Accounts(ctx context.Context) ([]Account, error) {
	var out []Account
	if err := c.Get(ctx, "/v1/accounts", &out); err != nil {
		return nil, err
	}
	return out, nil
}
