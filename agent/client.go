package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tgvault/tgvault/internal/peercred"
	"github.com/tgvault/tgvault/internal/privdir"
)

var (
	// ErrNotRunning: no agent answers on the socket.
	ErrNotRunning = errors.New("agent: not running")
	// ErrNotFound: the agent holds no such secret.
	ErrNotFound = errors.New("agent: no such secret")
)

// Client talks to the agent on Socket. Its zero value (with Socket set)
// never starts an agent. A Client is safe for concurrent use; every call
// is one connection.
type Client struct {
	// Socket is the agent's socket. Its directory must be the user's own
	// private directory (privdir.Check); a socket there that another uid
	// serves is refused.
	Socket string
	// Start, when set, starts an agent on Socket; Set and SetUntil call
	// it when none answers, and it returns once the agent listens (or
	// another one does).
	Start func() error
	// Timeout bounds each call (5 s when zero).
	Timeout time.Duration
}

// Get returns the secret for service and user: ErrNotFound when the agent
// holds none, ErrNotRunning when no agent answers.
func (c *Client) Get(service, user string) (string, error) {
	st, fv, err := c.call(opGet, []byte(service), []byte(user))
	if err != nil {
		return "", err
	}
	switch {
	case st == statusNotFound:
		return "", ErrNotFound
	case len(fv) != 1:
		return "", fmt.Errorf("agent: bad answer")
	}
	s := string(fv[0])
	clear(fv[0])
	return s, nil
}

// Set gives the agent a secret without expiry, starting the agent when
// none answers (and Start is set).
func (c *Client) Set(service, user, secret string) error {
	return c.SetUntil(service, user, secret, time.Time{})
}

// SetUntil gives the agent a secret that it forgets at expires (never when
// zero), starting the agent when none answers (and Start is set).
func (c *Client) SetUntil(service, user, secret string, expires time.Time) error {
	if len(secret) > maxSecret {
		return fmt.Errorf("agent: a secret of %d bytes is too large (at most %d)", len(secret), maxSecret)
	}
	var exp [8]byte
	if !expires.IsZero() {
		binary.BigEndian.PutUint64(exp[:], uint64(expires.UnixNano()))
	}
	sec := []byte(secret)
	defer clear(sec)
	_, _, err := c.call(opSet, []byte(service), []byte(user), sec, exp[:])
	if errors.Is(err, ErrNotRunning) && c.Start != nil {
		if err := c.Start(); err != nil {
			return err
		}
		_, _, err = c.call(opSet, []byte(service), []byte(user), sec, exp[:])
	}
	return err
}

// Delete makes the agent forget a secret (it exits when that was its
// last): ErrNotFound when it held none, ErrNotRunning when no agent
// answers.
func (c *Client) Delete(service, user string) error {
	st, _, err := c.call(opDelete, []byte(service), []byte(user))
	if err == nil && st == statusNotFound {
		return ErrNotFound
	}
	return err
}

// Info describes the running agent, or fails with ErrNotRunning.
func (c *Client) Info() (Info, error) {
	_, fv, err := c.call(opInfo)
	if err != nil {
		return Info{}, err
	}
	if len(fv) != 4 {
		return Info{}, fmt.Errorf("agent: bad answer")
	}
	pid, err1 := strconv.Atoi(string(fv[0]))
	n, err2 := strconv.Atoi(string(fv[1]))
	refused, err3 := strconv.Atoi(string(fv[3]))
	if err1 != nil || err2 != nil || err3 != nil {
		return Info{}, fmt.Errorf("agent: bad answer")
	}
	return Info{PID: pid, Secrets: n, Memory: string(fv[2]), Refused: refused}, nil
}

// call sends one request and returns the answer's status and fields.
// An error status comes back as an error.
func (c *Client) call(op byte, args ...[]byte) (byte, [][]byte, error) {
	if !peercred.Supported {
		return 0, nil, ErrUnsupported
	}
	// Only a directory of our own: anyone could serve a socket in one of
	// theirs, and would receive the secret Set sends.
	if err := privdir.Check(filepath.Dir(c.Socket)); errors.Is(err, fs.ErrNotExist) {
		return 0, nil, ErrNotRunning
	} else if err != nil {
		return 0, nil, fmt.Errorf("agent socket directory: %w", err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = connTimeout
	}
	nc, err := net.DialTimeout("unix", c.Socket, timeout)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return 0, nil, ErrNotRunning
		}
		return 0, nil, fmt.Errorf("agent: %w", err)
	}
	conn := nc.(*net.UnixConn)
	defer conn.Close()
	if uid, err := peercred.UID(conn); err != nil || uid != os.Geteuid() {
		return 0, nil, fmt.Errorf("agent: the socket %s is served by uid %d, not by you (uid %d): refused", c.Socket, uid, os.Geteuid())
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))

	buf := make([]byte, frameSize)
	defer clear(buf)
	body := append(buf[2:2], protoVersion, op)
	for _, f := range args {
		if len(body)+2+len(f) > maxBody {
			return 0, nil, fmt.Errorf("agent: request too large")
		}
		body = appendField(body, f)
	}
	req, err := frame(buf, len(body))
	if err != nil {
		return 0, nil, err
	}
	return exchange(conn, req)
}

// unanswered is the error of a request the agent closed the connection on
// before any byte of an answer. An agent that is exiting (its last secret
// deleted or expired, its idle time over) closes its listener, and the
// connections still waiting in the listen queue, which connect() already
// took, are reset unanswered: that agent is not running any more
// (ErrNotRunning, as a refused connect is), and a Set starts a new one.
func unanswered(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%w (the agent closed the connection unanswered: it is exiting)", ErrNotRunning)
	}
	return fmt.Errorf("agent: no answer: %w", err)
}

// exchange sends a request frame on conn and reads the answer.
func exchange(conn net.Conn, req []byte) (byte, [][]byte, error) {
	if _, err := conn.Write(req); err != nil {
		return 0, nil, unanswered(err)
	}
	ans := make([]byte, frameSize)
	if _, err := io.ReadFull(conn, ans[:2]); err != nil {
		return 0, nil, unanswered(err)
	}
	n := int(binary.BigEndian.Uint16(ans))
	if n < 1 || n > maxBody {
		return 0, nil, errFrame
	}
	if _, err := io.ReadFull(conn, ans[2:2+n]); err != nil {
		return 0, nil, fmt.Errorf("agent: no answer: %w", err)
	}
	st := ans[2]
	fv, err := fields(ans[3 : 2+n])
	if err != nil {
		return 0, nil, err
	}
	if st == statusError {
		msg := "agent: error"
		if len(fv) == 1 {
			msg = string(fv[0])
		}
		return 0, nil, errors.New(msg)
	}
	return st, fv, nil
}
