package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/tgvault/tgvault/mtproto/mtserver"
	"github.com/tgvault/tgvault/sessionstring"
)

// The SOCKS5 front (RFC 1928, no authentication, CONNECT only) is for
// clients whose session strings carry no address: Pyrogram dials its
// built-in Telegram addresses, and through the front reaches the relay
// answering as the DC it dialed. It never connects anywhere: a
// destination that is neither one of Telegram's known DC addresses
// (sessionstring's DC table) nor one of the relay's own DC ports is
// refused. It is no open proxy.

const (
	socksVersion     = 5
	socksNoAuth      = 0
	socksNoMethod    = 0xff
	socksConnect     = 1
	socksIPv4        = 1
	socksDomain      = 3
	socksIPv6        = 4
	socksOK          = 0
	socksNotAllowed  = 2
	socksCmdUnsup    = 7
	socksAddrUnsup   = 8
	socksHostUnreach = 4
)

var errSOCKS = errors.New("relay: bad SOCKS5 request")

// socksAddr returns the SOCKS5 front's address, listening on first use.
func (r *Relay) socksAddr() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return "", ErrClosed
	}
	if r.socks != nil {
		return r.socks.Addr().String(), nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(r.cfg.Host, "0"))
	if err != nil {
		return "", fmt.Errorf("relay: listen for SOCKS5: %w", err)
	}
	r.socks = ln
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.serveSOCKS(ln)
	}()
	r.log.Info("relay SOCKS5 front listening", "addr", ln.Addr().String())
	return ln.Addr().String(), nil
}

// serveSOCKS accepts until the listener closes.
func (r *Relay) serveSOCKS(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if r.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				r.log.Warn("relay SOCKS5 front stopped", "err", err)
			}
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			d, err := r.socksHandshake(nc)
			if err != nil {
				r.log.Debug("relay SOCKS5 request refused", "err", err)
				_ = nc.Close()
				return
			}
			d.srv.ServeConn(r.ctx, socksConn{nc})
		}()
	}
}

// socksHandshake reads the client's greeting and CONNECT request and
// answers it: the relay's server for the DC the destination is.
func (r *Relay) socksHandshake(nc net.Conn) (*dcServer, error) {
	_ = nc.SetDeadline(time.Now().Add(min(r.cfg.IOTimeout, 30*time.Second)))
	defer func() { _ = nc.SetDeadline(time.Time{}) }()
	var hdr [2]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] != socksVersion || hdr[1] == 0 {
		return nil, fmt.Errorf("%w: version %d", errSOCKS, hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(nc, methods); err != nil {
		return nil, err
	}
	noAuth := false
	for _, m := range methods {
		noAuth = noAuth || m == socksNoAuth
	}
	if !noAuth {
		_, _ = nc.Write([]byte{socksVersion, socksNoMethod})
		return nil, fmt.Errorf("%w: no 'no authentication' method offered", errSOCKS)
	}
	if _, err := nc.Write([]byte{socksVersion, socksNoAuth}); err != nil {
		return nil, err
	}
	var req [4]byte
	if _, err := io.ReadFull(nc, req[:]); err != nil {
		return nil, err
	}
	if req[0] != socksVersion {
		return nil, fmt.Errorf("%w: version %d", errSOCKS, req[0])
	}
	host, port, err := readSOCKSAddr(nc, req[3])
	if err != nil {
		if errors.Is(err, errSOCKS) {
			_ = socksReply(nc, socksAddrUnsup)
		}
		return nil, err
	}
	if req[1] != socksConnect {
		_ = socksReply(nc, socksCmdUnsup)
		return nil, fmt.Errorf("%w: command %d", errSOCKS, req[1])
	}
	dc, ok := r.socksDC(host, port)
	if !ok {
		_ = socksReply(nc, socksNotAllowed)
		return nil, fmt.Errorf("%w: %s is no Telegram DC", errSOCKS, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	d, err := r.dc(dc)
	if err != nil {
		_ = socksReply(nc, socksHostUnreach)
		return nil, err
	}
	return d, socksReply(nc, socksOK)
}

// socksDC says which DC a destination is: one of Telegram's addresses in
// the DC table, or one of the relay's own DC ports (a client told by the
// rewritten config where a DC is, that still dials through the proxy).
func (r *Relay) socksDC(host string, port int) (int, bool) {
	if a, ok := sessionstring.LookupDCAddress(host); ok {
		return a.DC, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.dcs {
		if d.port == port && d.host == host {
			return d.dc, true
		}
	}
	return 0, false
}

// readSOCKSAddr reads a request's destination.
func readSOCKSAddr(rd io.Reader, atyp byte) (string, int, error) {
	var host string
	switch atyp {
	case socksIPv4, socksIPv6:
		n := 4
		if atyp == socksIPv6 {
			n = 16
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(rd, b); err != nil {
			return "", 0, err
		}
		a, _ := netip.AddrFromSlice(b)
		host = a.Unmap().String()
	case socksDomain:
		var l [1]byte
		if _, err := io.ReadFull(rd, l[:]); err != nil {
			return "", 0, err
		}
		b := make([]byte, l[0])
		if _, err := io.ReadFull(rd, b); err != nil {
			return "", 0, err
		}
		host = string(b)
	default:
		return "", 0, fmt.Errorf("%w: address type %d", errSOCKS, atyp)
	}
	var p [2]byte
	if _, err := io.ReadFull(rd, p[:]); err != nil {
		return "", 0, err
	}
	return host, int(binary.BigEndian.Uint16(p[:])), nil
}

// socksReply answers a request (the bound address is not told).
func socksReply(w io.Writer, code byte) error {
	_, err := w.Write([]byte{socksVersion, code, 0, socksIPv4, 0, 0, 0, 0, 0, 0})
	return err
}

// socksConn marks a connection that came through the SOCKS5 front (its
// RemoteAddr is a socksRemote), so that its help.getConfig points every
// DC at Telegram's own addresses, which the front maps back to the relay.
type socksConn struct{ net.Conn }

func (c socksConn) RemoteAddr() net.Addr { return socksRemote{c.Conn.RemoteAddr()} }

// socksRemote is the address of a client that came through the front.
type socksRemote struct{ net.Addr }

// viaSOCKS reports whether a client came through the SOCKS5 front.
func viaSOCKS(c *mtserver.Conn) bool {
	_, ok := c.RemoteAddr().(socksRemote)
	return ok
}

// socksDCAddr is where a SOCKS5 client is told DC dc is: Telegram's own
// address for it (a client such as GramJS dials another DC on port 443
// whatever the config says; through the front, any of Telegram's
// addresses reaches the relay as that DC).
func (r *Relay) socksDCAddr(dc int) (string, int, bool) {
	host, port, ok := sessionstring.DCAddress(dc, false)
	if !ok {
		return "", 0, false
	}
	if _, err := r.dc(dc); err != nil {
		return "", 0, false
	}
	return host, port, true
}
