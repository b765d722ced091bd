package localapi

import "time"

// The wire types of the local API: what the server (Handler) writes and
// the client (Client) reads, one definition for both. Field names and
// order (alphabetical, as the maps it once wrote) are the JSON the API has always answered (README.md, "The local
// API").

// Account is one account of GET /v1/accounts and GET /v1/accounts/{name}.
type Account struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// RelaySessions is how many relay sessions of the account are open
	// (left out when none).
	RelaySessions int `json:"relay_sessions,omitempty"`
}

// Me is the answer of GET /v1/accounts/{name}/me.
type Me struct {
	IsBot  bool  `json:"is_bot"`
	UserID int64 `json:"user_id"`
}

// Peer is the answer of GET /v1/accounts/{name}/peers/{query}; the access
// hash is a decimal string (JavaScript loses integers above 2^53).
type Peer struct {
	AccessHash string `json:"access_hash"`
	ID         int64  `json:"id"`
	Type       string `json:"type"`
	Username   string `json:"username"`
}

// ErrorBody is every error answer: the message, its kind and, for a
// Telegram error, its code and type and the seconds a FLOOD_WAIT asks for
// (also in the Retry-After header).
type ErrorBody struct {
	Error      string `json:"error"`
	Kind       string `json:"kind"`
	RetryAfter *int   `json:"retry_after,omitempty"`
	RPCCode    int    `json:"rpc_code,omitempty"`
	RPCType    string `json:"rpc_type,omitempty"`
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
	KindRelayOff      = "relay_off"      // 503: run's MTProto relay is off (run --no-relay)
)

// RelayRequest is the body of POST /v1/accounts/{name}/relay: a relay
// session in a client library's string format, with its policy.
type RelayRequest struct {
	// Allow, when not empty, limits the session to these methods (and the
	// few a client library calls by itself to connect).
	Allow []string `json:"allow,omitempty"`
	// Format is the library: telethon, gramjs, mtcute, pyrogram or gotd.
	Format string `json:"format"`
	// ReadOnly refuses every method that sends, edits, deletes, joins or
	// changes settings.
	ReadOnly bool `json:"read_only,omitempty"`
	// ServiceMessages lets the messages of Telegram's service account
	// 777000 (login codes) through; withheld by default.
	ServiceMessages bool `json:"service_messages,omitempty"`
	// TTLSeconds is how long the session lives: a day when 0, at most 30
	// days.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// RelaySession is a relay session as GET /v1/relay lists it: no key.
type RelaySession struct {
	Account     string    `json:"account"`
	Connections int       `json:"connections"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	ID          string    `json:"id"`
	Policy      string    `json:"policy"`
}

// RelayMinted is the answer of a mint: the session string in the
// library's format, which is the relay session (a secret while it
// lives; worthless anywhere but at this relay), and what the client
// needs beside it.
type RelayMinted struct {
	RelaySession
	// DC is the account's home DC; Host and Port where the relay answers
	// as that DC.
	DC     int    `json:"dc"`
	Format string `json:"format"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
	// Proxy is the relay's SOCKS5 front, set when the library must come
	// through it (GramJS, Pyrogram): its string names Telegram's own
	// address, which the front maps back to the relay.
	Proxy *RelayProxy `json:"proxy,omitempty"`
	// RSAFingerprint is RSAPublicKey's MTProto fingerprint (a signed
	// 64-bit integer in decimal), by which GramJS keeps its trusted keys.
	RSAFingerprint string `json:"rsa_fingerprint"`
	// RSAPublicKey is the relay's RSA public key (PEM, PKCS #1, not a
	// secret): a client trusts it to exchange a key with a relay DC,
	// which it needs for media on another DC only.
	RSAPublicKey string `json:"rsa_public_key"`
	Session      string `json:"session"`
}

// RelayProxy is the relay's SOCKS5 front (no authentication).
type RelayProxy struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	URL  string `json:"url"` // socks5://HOST:PORT
}

// RelayRevoked is the answer of DELETE /v1/relay/{id}.
type RelayRevoked struct {
	ID      string `json:"id"`
	Revoked bool   `json:"revoked"`
}
