package relay

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
)

// Session is one relay session: a relay key minted for one account, with
// an expiry and a policy. It lives only in the relay's memory.
type Session struct {
	// ID names the session for status and revoke (16 hex digits, not a
	// secret: the key is).
	ID      string
	Account string
	Policy  Policy
	Created time.Time
	Expires time.Time
	// DC is the account's home DC, where the minted key is valid.
	DC int

	key sessionstring.AuthKey
	// acct is the state of the account it was minted on (for the revoke
	// when that Account stops).
	acct *accountState
	// limit is the session's call-rate cap, shared by all its connections
	// on every DC (nil: no cap).
	limit *callLimiter
	// Under Relay.mu: the session's client connections now, and whether
	// a connection over a cap was logged (once per session).
	conns     int
	capLogged bool
}

// Minted is what a client needs to use a new relay session: the relay
// key and where the relay answers as the account's home DC. Encode it in
// a library's string format with the account's identity (Session).
type Minted struct {
	Session
	// Key is the relay key (a secret: it prints as "(redacted)").
	Key sessionstring.AuthKey
	// Host and Port are where the relay answers as the home DC.
	Host string
	Port int
	// SOCKS5 is the address ("host:port") of the relay's SOCKS5 front,
	// for clients whose strings carry no address (Pyrogram): through it,
	// a dial of any of Telegram's DC addresses reaches the relay as that
	// DC.
	SOCKS5 string
	// Identity is the account's, for the string formats that carry it.
	Identity Identity
}

// SessionString returns the minted session as a neutral session, ready
// for sessionstring.Encode in any format: the relay key, the home DC and
// the relay's address for it, the account's identity and api id.
func (m Minted) SessionString() sessionstring.Session {
	s := sessionstring.Session{
		DCID:    m.DC,
		AuthKey: m.Key,
		Host:    sessionstring.Some(m.Host),
		Port:    sessionstring.Some(m.Port),
	}
	id := m.Identity
	if id.UserID != 0 {
		s.UserID = sessionstring.Some(id.UserID)
		s.IsBot = sessionstring.Some(id.Bot)
	}
	s.TestMode = sessionstring.Some(id.Test)
	if id.APIID != 0 {
		s.APIID = sessionstring.Some(int32(id.APIID))
	}
	return s
}

// SOCKSSessionString is SessionString for a client that goes through the
// SOCKS5 front: the home DC's address is Telegram's own (port 443),
// which the front maps back to the relay. GramJS needs it (its strings
// keep ports as int16: a relay port above 32767 does not fit), and so do
// strings that carry no address (Pyrogram).
func (m Minted) SOCKSSessionString() (sessionstring.Session, error) {
	s := m.SessionString()
	host, port, ok := sessionstring.DCAddress(m.DC, m.Identity.Test)
	if !ok {
		return sessionstring.Session{}, fmt.Errorf("relay: no built-in address of DC %d", m.DC)
	}
	s.Host, s.Port = sessionstring.Some(host), sessionstring.Some(port)
	return s, nil
}

// SessionInfo is a session as status shows it: no key.
type SessionInfo struct {
	ID          string    `json:"id"`
	Account     string    `json:"account"`
	Policy      string    `json:"policy"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Connections int       `json:"connections"`
}

// relayKey is an auth key the relay knows on one of its DCs: a minted
// one (bound to its session from the start), or one a client made by a
// key exchange with a relay DC (bound by auth.importAuthorization, else
// dropped after unboundTTL).
type relayKey struct {
	key     sessionstring.AuthKey
	dc      int
	sess    *Session // nil until bound
	created time.Time
}

// MaxTTL bounds a relay session's life (Mint refuses a longer one): a
// string a script holds is worth renewing now and then.
const MaxTTL = 30 * 24 * time.Hour

// Limits of the relay's memory against a local program that makes keys
// in a loop.
const (
	unboundTTL  = 10 * time.Minute // an exchanged key not imported by then is dropped
	maxUnbound  = 1024             // exchanged keys waiting for an import
	maxSessions = 10000
	defaultTTL  = 24 * time.Hour
	maxInFlight = 64 // relayed calls of one connection at once; more wait
)

func newKey() (sessionstring.AuthKey, error) {
	var b [sessionstring.AuthKeySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return sessionstring.AuthKey{}, err
	}
	return sessionstring.NewAuthKey(b[:])
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
