// Package socks5test is a small SOCKS5 proxy (RFC 1928 CONNECT, with no
// authentication or RFC 1929 username/password) for tests of code that
// connects through a proxy. It counts the connections it relays and the
// destinations asked for. It is for tests only.
package socks5test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tgvault/tgvault/internal/loopserver"
)

// Server is a running SOCKS5 proxy on loopback.
type Server struct {
	// Addr, Close, and Refused: the clients refused (bad login, bad
	// request).
	*loopserver.Server

	user, pass string

	relayed atomic.Int64
	mu      sync.Mutex
	targets []string
}

// Start starts a proxy on 127.0.0.1. With user != "", clients must log in
// with user and pass.
func Start(user, pass string) (*Server, error) {
	s := &Server{user: user, pass: pass}
	srv, err := loopserver.Start(s.handle)
	if err != nil {
		return nil, err
	}
	s.Server = srv
	return s, nil
}

// Relayed is the number of connections relayed to their destination.
func (s *Server) Relayed() int64 { return s.relayed.Load() }

// Targets are the destinations asked for, in order.
func (s *Server) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

var errProtocol = errors.New("socks5test: protocol error")

// handle serves one client connection: the SOCKS5 server side in the
// protocol's order (greeting, RFC 1929 login, CONNECT, then the relay).
//
// Long: the protocol's order is the point of a test server; test helper.
func (s *Server) handle(c net.Conn) error {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return errProtocol
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return errProtocol
	}
	want := byte(0) // no authentication
	if s.user != "" {
		want = 2 // username/password
	}
	ok := false
	for _, m := range methods {
		ok = ok || m == want
	}
	if !ok {
		_, _ = c.Write([]byte{5, 0xff})
		return errProtocol
	}
	if _, err := c.Write([]byte{5, want}); err != nil {
		return err
	}
	if want == 2 {
		var v [2]byte
		if _, err := io.ReadFull(c, v[:]); err != nil || v[0] != 1 {
			return errProtocol
		}
		user := make([]byte, v[1])
		if _, err := io.ReadFull(c, user); err != nil {
			return errProtocol
		}
		var pl [1]byte
		if _, err := io.ReadFull(c, pl[:]); err != nil {
			return errProtocol
		}
		pass := make([]byte, pl[0])
		if _, err := io.ReadFull(c, pass); err != nil {
			return errProtocol
		}
		if string(user) != s.user || string(pass) != s.pass {
			_, _ = c.Write([]byte{1, 1})
			return errProtocol
		}
		if _, err := c.Write([]byte{1, 0}); err != nil {
			return err
		}
	}
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[0] != 5 || req[1] != 1 {
		return errProtocol
	}
	var host string
	switch req[3] {
	case 1:
		var ip [4]byte
		if _, err := io.ReadFull(c, ip[:]); err != nil {
			return errProtocol
		}
		host = net.IP(ip[:]).String()
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return errProtocol
		}
		name := make([]byte, l[0])
		if _, err := io.ReadFull(c, name); err != nil {
			return errProtocol
		}
		host = string(name)
	case 4:
		var ip [16]byte
		if _, err := io.ReadFull(c, ip[:]); err != nil {
			return errProtocol
		}
		host = net.IP(ip[:]).String()
	default:
		return errProtocol
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return errProtocol
	}
	target := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:]))))
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		_, _ = c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return err
	}
	if !s.Track(up) {
		return errProtocol
	}
	defer s.Untrack(up)
	if _, err := c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}); err != nil {
		return err
	}
	s.relayed.Add(1)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	return nil
}
