package localapi

// The wire types of the local API: what the server (Handler) writes and
// the client (Client) reads, one definition for both. Field names and
// order (alphabetical, as the maps it once wrote) are the JSON the API has always answered (README.md, "The local
// API").

// Account is one account of GET /v1/accounts and GET /v1/accounts/{name}.
type Account struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
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
)
