package mtproto

import (
	"errors"
	"fmt"
	"time"

	"github.com/tgvault/tgvault/mtproto/dial"
	"github.com/tgvault/tgvault/sessionstring"
)

var (
	// ErrNoSession reports an account store that holds no auth key while
	// the caller did not allow creating one (only a login may).
	ErrNoSession = errors.New("mtproto: no session in the store")

	// ErrKeyLost reports that the authorized auth key is lost: the server
	// answered -404 for it, or gotd tried to replace it (after -404 or a
	// primary-DC migration). The stored key was kept and the client
	// stopped; the account needs attention. The concrete error is a
	// *KeyLostError.
	ErrKeyLost = errors.New("mtproto: authorized auth key would be replaced")

	// ErrNewKeyRefused reports that gotd tried to store a new auth key in
	// a store whose key may not change (no login was allowed).
	ErrNewKeyRefused = errors.New("mtproto: new auth key refused")

	// ErrConnectTimeout reports a connection that did not become ready
	// within the connect deadline (an unreachable or silent server).
	ErrConnectTimeout = errors.New("mtproto: connect deadline exceeded")

	// ErrUnreachable reports a server whose address refused the
	// connection or could not be reached (every address gotd tried for
	// the primary DC failed to dial). The dial's error is wrapped beside
	// it; a Pool retries such an account (StatusUnreachable).
	ErrUnreachable = errors.New("mtproto: server unreachable")

	// ErrProxyAuth reports a proxy that refused the account's login: a
	// SOCKS5 username/password status other than 0, or no acceptable
	// authentication method (a login it does not take, or one it needs
	// and was not given). Retrying cannot help, so a Client stops at the
	// first refusal and a Pool gives up on the account (StatusProxyAuth)
	// until its proxy URL is fixed. The error never carries the username
	// or the password.
	// It is dial.ErrProxyAuth, the error package dial's SOCKS5 dialer
	// fails with.
	ErrProxyAuth = dial.ErrProxyAuth

	// ErrUnauthorized reports that the server does not accept the key as
	// logged in: AUTH_KEY_UNREGISTERED, SESSION_REVOKED, SESSION_EXPIRED,
	// USER_DEACTIVATED (401). The stored key is never replaced because of
	// it.
	ErrUnauthorized = errors.New("mtproto: session not authorized")

	// ErrKeyDuplicated reports AUTH_KEY_DUPLICATED (406): the key was used
	// from two connections at once and Telegram no longer accepts it. The
	// account needs a new login; the stored key is left as it is.
	ErrKeyDuplicated = errors.New("mtproto: auth key used from two places at once")

	// ErrStore reports that the account's store failed (it could not be
	// read or written); the store's own error is wrapped beside it.
	ErrStore = errors.New("mtproto: account store failed")

	// ErrFenceClosed reports a write or a dial refused because the
	// client's Fence (Options.Fence) had passed: the connection was closed
	// with nothing sent.
	ErrFenceClosed = errors.New("mtproto: past the fence's deadline: nothing more is sent")

	// ErrCorruptSession reports session data in the store that cannot be
	// turned into a gotd session (bad key, bad meta).
	ErrCorruptSession = errors.New("mtproto: corrupt session data")
)

// Login errors. The RPC error stays wrapped for detail; none of them carries
// the phone number, code, password or token.
var (
	// ErrAlreadyAuthorized reports a login into a store that already holds
	// a logged-in key: log out or use another store first.
	ErrAlreadyAuthorized = errors.New("mtproto: account already logged in")
	// ErrBotTokenInvalid reports a bot token the server refused.
	ErrBotTokenInvalid = errors.New("mtproto: bot token invalid")
	// ErrPhoneInvalid reports a phone number the server refused.
	ErrPhoneInvalid = errors.New("mtproto: phone number invalid")
	// ErrCodeInvalid reports a wrong login code.
	ErrCodeInvalid = errors.New("mtproto: login code invalid")
	// ErrCodeExpired reports a login code that expired; send a new one.
	ErrCodeExpired = errors.New("mtproto: login code expired")
	// ErrPasswordInvalid reports a wrong 2FA password.
	ErrPasswordInvalid = errors.New("mtproto: 2FA password invalid")
	// ErrQRMigrate reports a QR login that the server moved to another DC,
	// which LoginQR does not follow yet.
	ErrQRMigrate = errors.New("mtproto: the QR login moved to another DC (not supported yet: log in by phone)")
	// ErrSignUpRequired reports a phone number with no account.
	ErrSignUpRequired = errors.New("mtproto: phone number has no account (sign-up is not supported)")
)

// Pool errors.
var (
	// ErrUnknownAccount reports a name that was not added to the pool.
	ErrUnknownAccount = errors.New("mtproto: unknown account")
	// ErrAccountRemoving reports an Add of a name whose removal has not
	// finished: its client is still stopping (Remove again to wait).
	ErrAccountRemoving = errors.New("mtproto: account still being removed")
	// ErrIdentityMismatch reports a key logged in as another user than the
	// one the store records (or with another bot flag, or in the other
	// environment): a wrong session, or a wrong field. The store is left
	// as it was.
	ErrIdentityMismatch = errors.New("mtproto: the server says the key belongs to another account than the store records")
)

// ErrFloodWait reports a FLOOD_WAIT the client did not wait out: longer
// than Options.MaxFloodWait, or still answered after several waits. The
// concrete error is a *FloodWaitError.
var ErrFloodWait = errors.New("mtproto: flood wait")

// FloodWaitError is a FLOOD_WAIT the client gave up on: the server asks
// to wait Wait before calling the method again.
type FloodWaitError struct {
	Wait time.Duration
	err  error // the RPC error
}

func (e *FloodWaitError) Error() string {
	return fmt.Sprintf("mtproto: the server asks to wait %s before calling again (FLOOD_WAIT)", e.Wait)
}

// Unwrap returns ErrFloodWait and the RPC error.
func (e *FloodWaitError) Unwrap() []error { return []error{ErrFloodWait, e.err} }

// KeyLostError says which authorized key was lost: the server no longer
// knows it (transport error -404; New is 0, no key was made) or gotd tried to
// replace it with New (a key made after -404 or a primary-DC migration). It
// carries key ids only, never keys.
type KeyLostError struct {
	Old, New sessionstring.KeyID
}

func (e *KeyLostError) Error() string {
	if e.New == 0 {
		return fmt.Sprintf("mtproto: the server does not know the authorized auth key %s; kept it and stopped", e.Old)
	}
	return fmt.Sprintf("mtproto: authorized auth key %s would be replaced by %s; kept the old key and stopped", e.Old, e.New)
}

// Unwrap returns ErrKeyLost.
func (e *KeyLostError) Unwrap() error { return ErrKeyLost }
