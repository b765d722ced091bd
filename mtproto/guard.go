package mtproto

import (
	"context"
	"errors"
	"fmt"

	tdbin "github.com/gotd/td/bin"
	tdcodec "github.com/gotd/td/proto/codec"
	tddcs "github.com/gotd/td/telegram/dcs"
	tdtransport "github.com/gotd/td/transport"
)

// guardResolver wraps gotd's resolver so that every connection it returns
// is a guardConn.
type guardResolver struct {
	inner tddcs.Resolver
	sess  *SessionStorage
}

var _ tddcs.Resolver = guardResolver{}

func (r guardResolver) Primary(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	return r.wrap(dc)(r.inner.Primary(ctx, dc, list))
}

func (r guardResolver) MediaOnly(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	return r.wrap(dc)(r.inner.MediaOnly(ctx, dc, list))
}

// CDN connections use keys of their own, never the stored one.
func (r guardResolver) CDN(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	return r.inner.CDN(ctx, dc, list)
}

func (r guardResolver) wrap(dc int) func(tdtransport.Conn, error) (tdtransport.Conn, error) {
	return func(c tdtransport.Conn, err error) (tdtransport.Conn, error) {
		if err != nil {
			return nil, err
		}
		return guardConn{Conn: c, sess: r.sess, dc: dc}, nil
	}
}

// guardConn stops gotd before it reacts to the transport error -404 ("auth
// key not found") by creating a new key in place: unless a login may
// create keys, the error is turned into the session's failure (the account
// is reported through OnKeyLost and the client stopped), so not even a key
// exchange happens.
type guardConn struct {
	tdtransport.Conn
	sess *SessionStorage
	dc   int
}

func (c guardConn) Recv(ctx context.Context, b *tdbin.Buffer) error {
	err := c.Conn.Recv(ctx, b)
	var pe *tdcodec.ProtocolErr
	if err != nil && errors.As(err, &pe) && pe.Code == tdcodec.CodeAuthKeyNotFound {
		if refused := c.sess.keyUnknown(c.dc); refused != nil {
			// Not a *codec.ProtocolErr any more: gotd treats it as a
			// dead connection, and the stopped context ends the client.
			return fmt.Errorf("mtproto: server does not know the auth key: %w", refused)
		}
	}
	return err
}

// keyUnknown handles the server's -404 on a connection to dc. It returns nil
// when gotd may go on and create a new key (a connection to another DC,
// whose keys gotd keeps in memory only, or a login over a key no one is
// logged in with), else the error that stopped the storage.
func (s *SessionStorage) keyUnknown(dc int) error {
	s.mu.Lock()
	if s.failed != nil {
		err := s.failed
		s.mu.Unlock()
		return err
	}
	row, err := s.store.Session()
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: load session: %w", ErrStore, err)
	}
	var lost *KeyLostError
	switch {
	case dc != row.DCID:
		s.mu.Unlock()
		return nil
	case !row.AuthKey.IsZero() && authorized(row):
		lost = &KeyLostError{Old: row.AuthKey.ID()}
		s.failed = lost
	case s.opts.AllowNewKey:
		s.mu.Unlock()
		return nil
	default:
		s.failed = fmt.Errorf("%w: the server does not know key %s and no login is running", ErrNewKeyRefused, row.AuthKey.ID())
	}
	failed, stop := s.failed, s.stop
	s.mu.Unlock()
	if lost != nil && s.opts.OnKeyLost != nil {
		s.opts.OnKeyLost(lost.Old, 0)
	}
	if stop != nil {
		stop(failed)
	}
	return failed
}
