package mtserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"time"

	tdcrypto "github.com/gotd/td/crypto"
	tdexchange "github.com/gotd/td/exchange"
	tdproto "github.com/gotd/td/proto"

	"github.com/tgvault/tgvault/sessionstring"
)

// Keys is where a Server finds the auth keys its clients use, and keeps the
// ones its key exchanges make. Its methods are called from the
// connections' goroutines and must be safe for concurrent use.
type Keys interface {
	// AuthKey returns the key whose id is id, and false when the server
	// does not know it (the client then gets the transport error -404 and
	// makes a new key).
	AuthKey(id sessionstring.KeyID) (sessionstring.AuthKey, bool)
	// AddAuthKey keeps a key a key exchange just made. An error ends the
	// connection.
	AddAuthKey(key sessionstring.AuthKey) error
}

// Handler answers the RPCs of a Server's clients.
type Handler interface {
	// ServeRPC is called for each RPC of a connection, in the order the
	// client sent them, in the connection's read goroutine: the connection
	// reads nothing more until it returns. It answers with req.Result,
	// req.Encode or req.Error, at once or later from another goroutine
	// (a handler that waits for something slow returns and answers
	// later). An error closes the connection. ctx ends when the connection
	// closes.
	ServeRPC(ctx context.Context, req *Request) error
}

// HandlerFunc is a function that is a Handler.
type HandlerFunc func(ctx context.Context, req *Request) error

// ServeRPC calls f.
func (f HandlerFunc) ServeRPC(ctx context.Context, req *Request) error { return f(ctx, req) }

// Config configures a Server.
type Config struct {
	// DC is the DC id the server is: the key exchange refuses a client
	// that names another (Telegram's -404 for a wrong DC).
	DC int
	// PrivateKey is the server's RSA key for the key exchange; its public
	// half is what clients must be given.
	PrivateKey *rsa.PrivateKey
	// Keys finds and keeps auth keys.
	Keys Keys
	// Handler answers RPCs.
	Handler Handler
	// IOTimeout bounds one read of a frame and one write (two minutes when
	// zero; clients ping every minute).
	IOTimeout time.Duration
}

// Stats are a Server's counters since New.
type Stats struct {
	// KeyExchanges is the number of completed key exchanges (new keys).
	KeyExchanges int64
	// Connections counts, per auth key, the connections that used it.
	Connections map[sessionstring.KeyID]int64
	// Duplicates counts connections that started using a key while another
	// open connection was using it (Telegram answers such a pair with
	// AUTH_KEY_DUPLICATED).
	Duplicates int64
	// DuplicateAddrs counts connections that started using a key while an
	// open connection from another IP address was using it: one key in two
	// places at once, the rule Telethon's documentation gives for
	// Telegram's AUTH_KEY_DUPLICATED. (Duplicates also counts a second
	// connection from the same address.)
	DuplicateAddrs int64
	// Open is the number of open connections.
	Open int
	// PingDisconnects counts connections the server closed because their
	// client asked for it with ping_delay_disconnect and then sent no such
	// ping within the delay.
	PingDisconnects int64
	// PingDelays counts the ping_delay_disconnect requests by the delay
	// they asked for, in seconds.
	PingDelays map[int]int64
	// UnknownKeys counts, per auth key id, the messages that came with a
	// key the server does not know (each answered with -404).
	UnknownKeys map[sessionstring.KeyID]int64
}

// Server is the server side of MTProto 2.0 for one DC. It serves any
// number of listeners and connections.
//
// Server is safe for concurrent use.
type Server struct {
	dc      int
	timeout time.Duration
	key     tdexchange.PrivateKey
	cipher  tdcrypto.Cipher
	msgID   *tdproto.MessageIDGen
	keys    Keys
	handler Handler

	mu     sync.Mutex
	stats  Stats
	live   map[sessionstring.KeyID]int                // open connections per bound key
	byKey  map[sessionstring.KeyID]map[*Conn]struct{} // bound connections
	layers map[sessionstring.KeyID]int                // the last layer each key announced
	conns  map[net.Conn]struct{}                      // open connections
	lns    map[net.Listener]struct{}                  // listeners being served
	closed bool
	wg     sync.WaitGroup
}

// New returns a Server. It listens nowhere: call Serve with a listener, or
// ServeConn with a connection.
func New(cfg Config) (*Server, error) {
	if cfg.PrivateKey == nil || cfg.Keys == nil || cfg.Handler == nil {
		return nil, errors.New("mtserver: config needs a private key, keys and a handler")
	}
	if cfg.DC == 0 {
		return nil, errors.New("mtserver: config needs a DC id")
	}
	s := &Server{
		dc:      cfg.DC,
		timeout: cfg.IOTimeout,
		key:     tdexchange.PrivateKey{RSA: cfg.PrivateKey},
		cipher:  tdcrypto.NewServerCipher(rand.Reader),
		msgID:   tdproto.NewMessageIDGen(time.Now),
		keys:    cfg.Keys,
		handler: cfg.Handler,
		live:    map[sessionstring.KeyID]int{},
		byKey:   map[sessionstring.KeyID]map[*Conn]struct{}{},
		layers:  map[sessionstring.KeyID]int{},
		conns:   map[net.Conn]struct{}{},
		lns:     map[net.Listener]struct{}{},
	}
	if s.timeout <= 0 {
		s.timeout = 2 * time.Minute
	}
	s.stats.Connections = map[sessionstring.KeyID]int64{}
	s.stats.PingDelays = map[int]int64{}
	s.stats.UnknownKeys = map[sessionstring.KeyID]int64{}
	return s, nil
}

// DC returns the DC id the server is.
func (s *Server) DC() int { return s.dc }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Connections = maps.Clone(s.stats.Connections)
	out.PingDelays = maps.Clone(s.stats.PingDelays)
	out.UnknownKeys = maps.Clone(s.stats.UnknownKeys)
	out.Open = len(s.conns)
	return out
}

// Conns returns the open connections that use the key id.
func (s *Server) Conns(id sessionstring.KeyID) []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.byKey[id]))
	for c := range s.byKey[id] {
		out = append(out, c)
	}
	return out
}

// KeyLayer returns the last layer a connection of the key announced with
// invokeWithLayer since New (0 when none did).
func (s *Server) KeyLayer(id sessionstring.KeyID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.layers[id]
}

// Serve answers the connections of ln until ctx ends or Close is called;
// then it closes ln and, once every connection of the server has ended,
// returns nil. The end of ctx closes the whole server, as Close does.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.lns, ln)
			s.mu.Unlock()
			_ = ln.Close()
			s.wg.Wait()
			if closed {
				return nil
			}
			return fmt.Errorf("mtserver: accept: %w", err)
		}
		go s.ServeConn(ctx, nc)
	}
}

// ServeConn answers one connection (one the caller accepted itself, from a
// SOCKS5 front say) until it ends, ctx ends or the server closes; then it
// closes nc.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		_ = nc.Close()
		s.wg.Done()
	}()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	s.serveConn(ctx, nc)
}

// Close stops every listener and closes every connection. When it
// returns no connection is bound to a key any more (Conns is empty, the
// Handler's contexts have ended), even one whose read loop is still busy
// in a Handler call.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for ln := range s.lns {
		errs = append(errs, ln.Close())
	}
	for c := range s.conns {
		_ = c.Close()
	}
	var bound []*Conn
	for _, conns := range s.byKey {
		for c := range conns {
			bound = append(bound, c)
		}
	}
	for _, c := range bound {
		s.unbindLocked(c)
		c.cancel()
	}
	return errors.Join(errs...)
}

// exchange runs the server side of a key exchange whose first frame is
// first, and keeps the key.
func (s *Server) exchange(ctx context.Context, c *Conn, first []byte) error {
	rc := &legacyRSAConn{Conn: &replayConn{Conn: c.tc, first: first}, key: s.key.RSA}
	res, err := tdexchange.NewExchanger(rc, s.dc).
		WithRand(rand.Reader).
		WithTimeout(s.timeout).
		Server(s.key).Run(ctx)
	if err != nil {
		var xerr *tdexchange.ServerExchangeError
		if errors.As(err, &xerr) {
			_ = c.sendTransportError(ctx, xerr.Code)
		}
		return err
	}
	key, err := sessionstring.NewAuthKey(res.Key.Value[:])
	if err != nil {
		return err
	}
	if err := s.keys.AddAuthKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	s.stats.KeyExchanges++
	s.mu.Unlock()
	return nil
}

// lookupKey finds the key whose id is raw (as on the wire), counting an
// unknown one.
func (s *Server) lookupKey(raw [8]byte) (tdcrypto.AuthKey, sessionstring.KeyID, bool) {
	id := keyIDOf(raw)
	k, ok := s.keys.AuthKey(id)
	if !ok {
		s.mu.Lock()
		s.stats.UnknownKeys[id]++
		s.mu.Unlock()
		return tdcrypto.AuthKey{}, id, false
	}
	var v tdcrypto.Key
	k.AppendTo(v[:0])
	return tdcrypto.AuthKey{Value: v, ID: raw}, id, true
}

// KeyIDOf returns the key id of the 8 bytes a message starts with.
func keyIDOf(raw [8]byte) sessionstring.KeyID {
	var id uint64
	for i := 7; i >= 0; i-- {
		id = id<<8 | uint64(raw[i])
	}
	return sessionstring.KeyID(id)
}

// bind counts c as a connection using key id; after Close it binds
// nothing.
func (s *Server) bind(c *Conn, id sessionstring.KeyID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.bound == id || s.closed {
		return
	}
	s.unbindLocked(c)
	c.bound = id
	c.dup = s.live[id] > 0
	s.stats.Connections[id]++
	if c.dup {
		s.stats.Duplicates++
		for o := range s.byKey[id] {
			if !sameIP(o.nc.RemoteAddr(), c.nc.RemoteAddr()) {
				s.stats.DuplicateAddrs++
				break
			}
		}
	}
	s.live[id]++
	if s.byKey[id] == nil {
		s.byKey[id] = map[*Conn]struct{}{}
	}
	s.byKey[id][c] = struct{}{}
}

// sameIP reports whether two addresses have the same IP (or, for
// addresses that are not TCP, are equal).
func sameIP(a, b net.Addr) bool {
	ta, ok1 := a.(*net.TCPAddr)
	tb, ok2 := b.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return a.String() == b.String()
	}
	return ta.IP.Equal(tb.IP)
}

func (s *Server) unbind(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unbindLocked(c)
}

func (s *Server) unbindLocked(c *Conn) {
	if c.bound == 0 {
		return
	}
	if s.live[c.bound]--; s.live[c.bound] <= 0 {
		delete(s.live, c.bound)
	}
	delete(s.byKey[c.bound], c)
	if len(s.byKey[c.bound]) == 0 {
		delete(s.byKey, c.bound)
	}
	c.bound = 0
	c.dup = false
}

func (s *Server) setLayer(c *Conn, layer int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.layer = layer
	if c.bound != 0 {
		s.layers[c.bound] = layer
	}
}

func (s *Server) countPingDelay(delay int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.PingDelays[delay]++
}

func (s *Server) countPingDisconnect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.PingDisconnects++
}
