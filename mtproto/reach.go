package mtproto

import (
	"context"
	"errors"
	"fmt"
	"net"

	tddcs "github.com/gotd/td/telegram/dcs"
	tdtransport "github.com/gotd/td/transport"
)

// reachResolver stops the client with ErrUnreachable when the primary
// connection cannot be dialled while it is (re)connecting: gotd would
// otherwise dial again and again until the connect deadline, and the
// account would show "connecting" with no word of why. A dial refused by
// the fence or a proxy's login refusal are theirs, not this.
type reachResolver struct {
	inner tddcs.Resolver
	c     *Client
}

var _ tddcs.Resolver = reachResolver{}

func (r reachResolver) Primary(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	conn, err := r.inner.Primary(ctx, dc, list)
	if err != nil && ctx.Err() == nil && dialFailed(err) {
		r.c.stopUnreachable(fmt.Errorf("%w: %w", ErrUnreachable, err))
	}
	return conn, err
}

func (r reachResolver) MediaOnly(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	return r.inner.MediaOnly(ctx, dc, list)
}

func (r reachResolver) CDN(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	return r.inner.CDN(ctx, dc, list)
}

// dialFailed reports an error of the dial itself: refused, no route, no
// such host, a dial timeout.
func dialFailed(err error) bool {
	if errors.Is(err, ErrFenceClosed) || errors.Is(err, ErrProxyAuth) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// stopUnreachable stops Run with err while the connect deadline is armed
// (the primary connection is not ready); once ready, a failed dial is
// gotd's to retry.
func (c *Client) stopUnreachable(err error) {
	c.mu.Lock()
	cancel, connecting := c.cancel, c.timer != nil
	c.mu.Unlock()
	if cancel != nil && connecting {
		cancel(err)
	}
}
