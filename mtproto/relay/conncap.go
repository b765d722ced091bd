package relay

import (
	"errors"
	"fmt"
)

// The connection caps' defaults. A relay session may have
// DefaultSessionConns client connections at once, on every DC together:
// Telethon and GramJS open one per DC they use; mtcute's default pools
// open, as it needs them, a main connection, 4 for uploads (8 on DCs
// other than 2 and 4), 2 for downloads and 2 for small files per DC — 13
// on the home DC and 5 on a media DC at its busiest. All relay sessions
// of one account may have DefaultAccountConns at once: room for 100
// one-connection scripts (issue 19's target), not for an unbounded number
// of upstream sessions on the account's key.
const (
	DefaultSessionConns = 24
	DefaultAccountConns = 128
)

// errTooManyConns is the rpc_error message of a call on a connection over
// a connection cap, with floodWaitCode: every library raises a code-420
// error that is not FLOOD_WAIT_n as it is, without sleeping, reconnecting
// or dropping its key. (Telegram's own answer to too many connections is
// the transport error -429, which Telethon 1.25 answers by reconnecting
// at once, in a loop, with the call pending; GramJS every second and
// mtcute with a back-off, both with the call pending; and -404, the other
// transport error, makes GramJS and mtcute throw their key away.)
const errTooManyConns = "TGVAULT_TOO_MANY_CONNECTIONS"

// The caps a connection can be over, as /metrics names them.
const (
	capSession = "session"
	capAccount = "account"
)

// connCapError reports a connection over a cap: its calls are answered
// errTooManyConns until a connection of the session (or account) closes.
type connCapError struct {
	cap   string // capSession or capAccount
	limit int
}

func (e *connCapError) Error() string {
	if e.cap == capSession {
		return fmt.Sprintf("relay: the relay session has %d connections open (the most it may)", e.limit)
	}
	return fmt.Sprintf("relay: the account's relay sessions have %d connections open (the most they may)", e.limit)
}

// admitLocked counts a new connection of a session against the caps, or
// reports the cap it is over (and whether it is the session's first
// refusal, to be logged). The caller holds r.mu.
func (r *Relay) admitLocked(s *Session) (err *connCapError, first bool) {
	switch {
	case r.cfg.SessionConns > 0 && s.conns >= r.cfg.SessionConns:
		err = &connCapError{cap: capSession, limit: r.cfg.SessionConns}
	case r.cfg.AccountConns > 0 && r.accConns[s.Account] >= r.cfg.AccountConns:
		err = &connCapError{cap: capAccount, limit: r.cfg.AccountConns}
	default:
		s.conns++
		r.accConns[s.Account]++
		return nil, false
	}
	r.metrics.connRefusal(err.cap)
	first = !s.capLogged
	s.capLogged = true
	return err, first
}

// releaseLocked uncounts a connection admitted by admitLocked. The caller
// holds r.mu.
func (r *Relay) releaseLocked(s *Session) {
	s.conns--
	if r.accConns[s.Account]--; r.accConns[s.Account] <= 0 {
		delete(r.accConns, s.Account)
	}
}

// asConnCap reports whether err is a connection over a cap.
func asConnCap(err error) (*connCapError, bool) {
	var e *connCapError
	ok := errors.As(err, &e)
	return e, ok
}
