package dial

import (
	"context"
	"errors"
	"net"
)

// Func opens a connection, as net.Dialer.DialContext does.
type Func = func(ctx context.Context, network, addr string) (net.Conn, error)

// ErrProxyAuth reports a proxy that refused the account's login: a SOCKS5
// username/password status other than 0, or no acceptable authentication
// method (a login it does not take, or one it needs and was not given).
// Retrying cannot help. The error never carries the username or the
// password. (mtproto.ErrProxyAuth is this error.)
var ErrProxyAuth = errors.New("mtproto: proxy login refused")

// ErrBadProxy is a proxy URL that cannot be used. Its messages never
// quote the URL, which may hold a password or an MTProxy secret.
var ErrBadProxy = errors.New("bad proxy")
