// Package loopserver is the accept loop the tests' proxies share
// (internal/socks5test, internal/mtproxytest): a TCP listener on loopback
// that hands each connection to a handler in a goroutine of its own,
// counts the connections the handler refused, and whose Close ends every
// connection it tracks (the clients' and the upstream ones the handler
// adds) and waits for the handlers. It is for tests only.
//
// Layer rule (docs/ARCHITECTURE.md): the standard library only.
package loopserver

import (
	"net"
	"sync"
	"sync/atomic"
)

// Server is a running accept loop. Its methods are safe for concurrent
// use.
type Server struct {
	ln      net.Listener
	handle  func(net.Conn) error
	refused atomic.Int64
	wg      sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Start listens on 127.0.0.1 and serves every connection with handle; a
// handler's error counts the connection as refused. The connection is
// closed when handle returns.
func Start(handle func(net.Conn) error) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, handle: handle, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the listener's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Refused is the number of connections whose handler failed.
func (s *Server) Refused() int64 { return s.refused.Load() }

// Close stops the listener, closes every tracked connection and waits for
// the handlers to return.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// Track makes Close end c (an upstream connection a handler dialed). It
// reports false, and closes c, when the server is closed already.
func (s *Server) Track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// Untrack forgets c and closes it.
func (s *Server) Untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if !s.Track(c) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.Untrack(c)
			if err := s.handle(c); err != nil {
				s.refused.Add(1)
			}
		}()
	}
}
