package localapi

import (
	"context"
	"errors"
	"time"
)

// RelayTTL is a relay session's lifetime d as RelayRequest.TTLSeconds:
// whole seconds, rounded up (0 stays 0: a day); a negative d stays
// negative, so that Check refuses it rather than taking the default.
func RelayTTL(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return int64((d + time.Second - 1) / time.Second)
}

// NoRelaySessionError is RevokeRelay's answer for an id the running
// `tgvault run` does not have. It matches ErrNotFound, like an unknown
// account.
type NoRelaySessionError struct {
	ID  string
	Err error // the server's answer (an *Error)
}

func (e *NoRelaySessionError) Error() string {
	return "no relay session " + e.ID + " in the running tgvault run (revoked, expired, or minted by an earlier run)"
}

func (e *NoRelaySessionError) Unwrap() error { return e.Err }

// revokeTimeout bounds WithRelay's revoke: it runs after the session's
// user ended, whatever ended it, so it cannot share the mint's context.
const revokeTimeout = 10 * time.Second

// WithRelay mints a relay session of the account name, calls use with it,
// and revokes it when use returns, however it returned: the session lives
// no longer than the program it was made for (`exec --relay`). The mint
// (which waits for the account to connect) runs under a context from
// mintContext, cancelled as soon as the mint returns: its deadline and
// signals bound the mint only, not the use, however long that runs; the
// revoke has a short timeout of its own. err is the mint's or use's
// error; revokeErr says that the session could not be revoked (it then
// ends at its expiry or when run stops).
func (c *Client) WithRelay(mintContext func() (context.Context, context.CancelFunc), name string, req RelayRequest, use func(RelayMinted) error) (err, revokeErr error) {
	m, err := c.mintWith(mintContext, name, req)
	if err != nil {
		return err, nil
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
		defer cancel()
		revokeErr = c.RevokeRelay(rctx, m.ID)
	}()
	return use(m), nil
}

// mintWith is MintRelay under a context of mintContext, released when it
// returns.
func (c *Client) mintWith(mintContext func() (context.Context, context.CancelFunc), name string, req RelayRequest) (RelayMinted, error) {
	ctx, cancel := mintContext()
	defer cancel()
	return c.MintRelay(ctx, name, req)
}

// revokeError makes RevokeRelay's ErrNotFound a *NoRelaySessionError.
func revokeError(id string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return &NoRelaySessionError{ID: id, Err: err}
	}
	return err
}
