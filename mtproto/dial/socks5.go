package dial

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// SOCKS5 returns a dial function (for mtproto.Options.Dial) that connects
// through the SOCKS5 proxy at proxyAddr (host:port), with RFC 1929 username
// and password when user is not empty. A proxy that refuses the login (a
// username/password status other than 0, or no acceptable authentication
// method) fails the dial with ErrProxyAuth, which mtproto's Client treats
// as final;
// every other failure (the proxy down, a CONNECT refused) is an ordinary
// dial error that gotd retries. No error carries the username or password.
func SOCKS5(proxyAddr, user, pass string) (Func, error) {
	if len(user) > 255 || len(pass) > 255 {
		return nil, errors.New("mtproto: SOCKS5 username and password are at most 255 bytes")
	}
	if user == "" && pass != "" {
		return nil, errors.New("mtproto: SOCKS5 password without a username")
	}
	d := socks5Dialer{proxy: proxyAddr, user: user, pass: pass}
	return d.dial, nil
}

type socks5Dialer struct {
	proxy, user, pass string
}

// SOCKS5 errors that are not ErrProxyAuth: the proxy answered something
// else than SOCKS5, or would not connect to the destination.
var errSOCKS5 = errors.New("mtproto: SOCKS5 proxy")

// The CONNECT reply codes of RFC 1928 §6.
var socks5Replies = [...]string{
	1: "general failure",
	2: "connection not allowed by ruleset",
	3: "network unreachable",
	4: "host unreachable",
	5: "connection refused",
	6: "TTL expired",
	7: "command not supported",
	8: "address type not supported",
}

func (d socks5Dialer) dial(ctx context.Context, network, addr string) (_ net.Conn, err error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("%w: network %q is not supported", errSOCKS5, network)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: destination: %w", errSOCKS5, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: destination port %q", errSOCKS5, portStr)
	}
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, "tcp", d.proxy)
	if err != nil {
		return nil, err // a *net.OpError: transient
	}
	defer func() {
		if err != nil {
			_ = conn.Close()
		}
	}()
	// The handshake obeys ctx: its deadline, and its end at any time.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	err = d.handshake(conn, host, uint16(port))
	if !stop() && !errors.Is(err, ErrProxyAuth) {
		// ctx ended during the handshake: what it read is moot.
		return nil, fmt.Errorf("%w: %w", errSOCKS5, context.Cause(ctx))
	}
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// handshake runs the client side of SOCKS5 (RFC 1928, with RFC 1929's
// login) on conn for addr.
//
// Long: the protocol's messages in their order, each read checked, as the
// RFCs give them.
func (d socks5Dialer) handshake(conn net.Conn, host string, port uint16) error {
	method := byte(0) // no authentication
	if d.user != "" {
		method = 2 // username/password
	}
	if _, err := conn.Write([]byte{5, 1, method}); err != nil {
		return fmt.Errorf("%w: %w", errSOCKS5, err)
	}
	var sel [2]byte
	if _, err := io.ReadFull(conn, sel[:]); err != nil {
		return fmt.Errorf("%w: greeting: %w", errSOCKS5, err)
	}
	switch {
	case sel[0] != 5:
		return fmt.Errorf("%w: not a SOCKS5 server (version %d)", errSOCKS5, sel[0])
	case sel[1] == 0xff && method == 2:
		return fmt.Errorf("%w: the SOCKS5 proxy accepts no username/password login", ErrProxyAuth)
	case sel[1] == 0xff:
		return fmt.Errorf("%w: the SOCKS5 proxy requires a login (give socks5://user:password@host:port)", ErrProxyAuth)
	case sel[1] != method:
		return fmt.Errorf("%w: the server chose authentication method %d, not the one offered", errSOCKS5, sel[1])
	}
	if method == 2 {
		b := make([]byte, 0, 3+len(d.user)+len(d.pass))
		b = append(b, 1, byte(len(d.user)))
		b = append(b, d.user...)
		b = append(b, byte(len(d.pass)))
		b = append(b, d.pass...)
		_, err := conn.Write(b)
		clear(b)
		if err != nil {
			return fmt.Errorf("%w: %w", errSOCKS5, err)
		}
		var st [2]byte
		if _, err := io.ReadFull(conn, st[:]); err != nil {
			return fmt.Errorf("%w: login: %w", errSOCKS5, err)
		}
		if st[1] != 0 {
			return fmt.Errorf("%w: the SOCKS5 proxy refused the username or password (status %d)", ErrProxyAuth, st[1])
		}
	}
	req := []byte{5, 1, 0}
	if ip := net.ParseIP(host); ip == nil {
		if len(host) > 255 {
			return fmt.Errorf("%w: destination host name too long", errSOCKS5)
		}
		req = append(req, 3, byte(len(host)))
		req = append(req, host...)
	} else if ip4 := ip.To4(); ip4 != nil {
		req = append(req, 1)
		req = append(req, ip4...)
	} else {
		req = append(req, 4)
		req = append(req, ip.To16()...)
	}
	req = binary.BigEndian.AppendUint16(req, port)
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("%w: %w", errSOCKS5, err)
	}
	var rep [4]byte
	if _, err := io.ReadFull(conn, rep[:]); err != nil {
		return fmt.Errorf("%w: connect: %w", errSOCKS5, err)
	}
	if rep[0] != 5 {
		return fmt.Errorf("%w: not a SOCKS5 reply (version %d)", errSOCKS5, rep[0])
	}
	if rep[1] != 0 {
		why := "reply " + strconv.Itoa(int(rep[1]))
		if int(rep[1]) < len(socks5Replies) {
			why = socks5Replies[rep[1]]
		}
		return fmt.Errorf("%w: the proxy could not connect to the server: %s", errSOCKS5, why)
	}
	var skip int
	switch rep[3] {
	case 1:
		skip = 4
	case 4:
		skip = 16
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return fmt.Errorf("%w: connect: %w", errSOCKS5, err)
		}
		skip = int(l[0])
	default:
		return fmt.Errorf("%w: bad address type %d in the reply", errSOCKS5, rep[3])
	}
	if _, err := io.ReadFull(conn, make([]byte, skip+2)); err != nil {
		return fmt.Errorf("%w: connect: %w", errSOCKS5, err)
	}
	return nil
}
