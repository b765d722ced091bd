package devserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdcrypto "github.com/gotd/td/crypto"
	tdexchange "github.com/gotd/td/exchange"
	tdmt "github.com/gotd/td/mt"
	tdproto "github.com/gotd/td/proto"
	tdcodec "github.com/gotd/td/proto/codec"
	tdtg "github.com/gotd/td/tg"
	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/sessionstring"
)

// Options configure a Server.
type Options struct {
	// Dir is the state directory (created 0700 if missing): accounts, auth
	// keys and the RSA key survive restarts there.
	Dir string
	// Addr is the listen address ("127.0.0.1:0" when empty).
	Addr string
	// DC is the DC id the server claims (2 when zero).
	DC int
	// RejectDuplicates answers every call on a connection that started
	// using a key while another open connection used it with
	// AUTH_KEY_DUPLICATED (406), as Telegram does; otherwise such
	// connections are only counted.
	RejectDuplicates bool
	// IOTimeout bounds one read of a frame and one write (two minutes when
	// zero; clients ping every minute).
	IOTimeout time.Duration
	// LoginTokenTTL is how long a QR login token lives (30 s when zero).
	LoginTokenTTL time.Duration
	// OnLoginToken, when set, is called (in its own goroutine) with every
	// QR login token the server hands out, as a phone would see it
	// scanned: AcceptLoginToken accepts it for a user.
	OnLoginToken func(token []byte)
}

// Stats are the server's counters since Open.
type Stats struct {
	// KeyExchanges is the number of completed key exchanges (new keys).
	KeyExchanges int64
	// Connections counts, per auth key, the connections that used it.
	Connections map[sessionstring.KeyID]int64
	// Duplicates counts connections that started using a key while another
	// open connection was using it (Telegram answers such a pair with
	// AUTH_KEY_DUPLICATED).
	Duplicates int64
	// Open is the number of open connections.
	Open int
	// PingDisconnects counts connections the server closed because their
	// client asked for it with ping_delay_disconnect and then sent no
	// such ping within the delay (as Telegram does: a client that stopped
	// has its connections closed for it).
	PingDisconnects int64
	// PingDelays counts the ping_delay_disconnect requests by the delay
	// they asked for, in seconds.
	PingDelays map[int]int64
	// Calls counts the API method calls by the TL type id of the request
	// (tg.UpdatesGetStateRequestTypeID, say), unwrapped from invokeWith*
	// and initConnection; flood-waited calls included.
	Calls map[uint32]int64
}

// Server is a local Telegram-like MTProto server: real key exchange, real
// encryption, a handful of methods, state in a directory. It is for tests
// and demos, not for production.
//
// Server is safe for concurrent use.
type Server struct {
	dir     string
	dc      int
	timeout time.Duration
	rejDup  bool
	key     tdexchange.PrivateKey
	cipher  tdcrypto.Cipher
	msgID   *tdproto.MessageIDGen
	ln      net.Listener

	mu       sync.Mutex
	st       *state
	stats    Stats
	live     map[sessionstring.KeyID]int
	pending  map[sessionstring.KeyID]*pendingLogin
	conns    map[net.Conn]struct{}
	floods   map[uint32]flood
	byKey    map[sessionstring.KeyID]map[*conn]struct{} // bound connections
	qr       qrLogins
	clients  map[sessionstring.KeyID][]ClientInfo // distinct initConnection parameters per key
	closed   bool
	serveErr chan error
	wg       sync.WaitGroup
}

// Open loads (or creates) the state in opts.Dir, loads (or generates) the
// server's RSA key, writes its public key to PublicKeyFile and starts
// listening. Call Serve to answer connections.
func Open(opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("devserver: no state directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	st, err := loadState(opts.Dir)
	if err != nil {
		return nil, err
	}
	k, err := loadOrCreateKey(opts.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		dir:     opts.Dir,
		dc:      opts.DC,
		timeout: opts.IOTimeout,
		rejDup:  opts.RejectDuplicates,
		key:     tdexchange.PrivateKey{RSA: k},
		cipher:  tdcrypto.NewServerCipher(rand.Reader),
		msgID:   tdproto.NewMessageIDGen(time.Now),
		st:      st,
		live:    map[sessionstring.KeyID]int{},
		pending: map[sessionstring.KeyID]*pendingLogin{},
		conns:   map[net.Conn]struct{}{},
		floods:  map[uint32]flood{},
		byKey:   map[sessionstring.KeyID]map[*conn]struct{}{},
		qr:      newQRLogins(opts.LoginTokenTTL, opts.OnLoginToken),
		clients: map[sessionstring.KeyID][]ClientInfo{},
	}
	s.stats.Connections = map[sessionstring.KeyID]int64{}
	s.stats.Calls = map[uint32]int64{}
	s.stats.PingDelays = map[int]int64{}
	if s.dc == 0 {
		s.dc = 2
	}
	if s.timeout <= 0 {
		s.timeout = 2 * time.Minute
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s.ln, err = net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	return s, nil
}

// Addr returns the address the server listens on ("host:port").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// DC returns the DC id the server claims.
func (s *Server) DC() int { return s.dc }

// PublicKey returns the server's RSA public key (also in PublicKeyFile).
func (s *Server) PublicKey() *rsa.PublicKey { return &s.key.RSA.PublicKey }

// PublicKeyPath returns the path of the PEM file with the public key.
func (s *Server) PublicKeyPath() string { return s.dir + string(os.PathSeparator) + PublicKeyFile }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Connections = make(map[sessionstring.KeyID]int64, len(s.stats.Connections))
	for k, v := range s.stats.Connections {
		out.Connections[k] = v
	}
	out.Calls = make(map[uint32]int64, len(s.stats.Calls))
	for k, v := range s.stats.Calls {
		out.Calls[k] = v
	}
	out.PingDelays = make(map[int]int64, len(s.stats.PingDelays))
	for k, v := range s.stats.PingDelays {
		out.PingDelays[k] = v
	}
	out.Open = len(s.conns)
	return out
}

// Serve answers connections until ctx ends or Close is called; then it
// closes every connection and returns.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			s.wg.Wait()
			if closed {
				return nil
			}
			return fmt.Errorf("devserver: accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			_ = c.Close()
		}()
	}
}

// Close stops listening and closes every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	return s.ln.Close()
}

// oneConn is a listener that yields one connection: it lets gotd's
// transport detect the codec of a connection already accepted, in the
// connection's own goroutine.
type oneConn struct {
	c    net.Conn
	done bool
}

func (l *oneConn) Accept() (net.Conn, error) {
	if l.done {
		return nil, net.ErrClosed
	}
	l.done = true
	return l.c, nil
}
func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.c.LocalAddr() }

// conn is one client connection.
type conn struct {
	tdtransport.Conn
	bound    sessionstring.KeyID // key in use, 0 before the first encrypted message
	dup      bool                // bound while another connection used the key
	sessions map[int64]int64     // session id → server salt

	wmu  sync.Mutex // serializes writes: a push writes from another goroutine
	last *reply     // the session of the last message, for pushes; under wmu

	nc   net.Conn
	pmu  sync.Mutex
	ping *time.Timer // ping_delay_disconnect's timer; under pmu
	done bool        // the connection ended: no timer any more; under pmu
}

// delayDisconnect (re)arms the connection's ping_delay_disconnect timer:
// unless another such ping comes first, the server closes the connection
// after delay seconds.
func (s *Server) delayDisconnect(c *conn, delay int) {
	s.mu.Lock()
	s.stats.PingDelays[delay]++
	s.mu.Unlock()
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.done {
		return
	}
	if c.ping != nil {
		c.ping.Stop()
	}
	c.ping = time.AfterFunc(time.Duration(delay)*time.Second, func() {
		c.pmu.Lock()
		defer c.pmu.Unlock()
		if c.done {
			return
		}
		c.done = true
		s.mu.Lock()
		s.stats.PingDisconnects++
		s.mu.Unlock()
		_ = c.nc.Close()
	})
}

// stopPingTimer ends the connection's ping_delay_disconnect timer.
func (c *conn) stopPingTimer() {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	c.done = true
	if c.ping != nil {
		c.ping.Stop()
	}
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	_ = nc.SetReadDeadline(time.Now().Add(s.timeout))
	tc, err := tdtransport.Listen(&oneConn{c: nc}).Accept()
	if err != nil {
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	c := &conn{Conn: tc, sessions: map[int64]int64{}, nc: nc}
	defer s.unbind(c)
	defer c.stopPingTimer()

	var zero [8]byte
	b := new(tdbin.Buffer)
	for {
		b.Reset()
		rctx, cancel := context.WithTimeout(ctx, s.timeout)
		err := c.Recv(rctx, b)
		cancel()
		if err != nil {
			return
		}
		var raw [8]byte
		if err := b.PeekN(raw[:], len(raw)); err != nil {
			return
		}
		if raw == zero {
			if err := s.exchange(ctx, c, b); err != nil {
				return
			}
			continue
		}
		id := keyIDOf(raw)
		key, ok := s.lookupKey(id)
		if !ok {
			// The transport error that makes clients create a new key.
			if err := s.sendTransportError(ctx, c, tdcodec.CodeAuthKeyNotFound); err != nil {
				return
			}
			continue
		}
		s.bind(c, id)
		var m tdcrypto.EncryptedMessage
		if err := m.DecodeWithoutCopy(b); err != nil {
			return
		}
		msg, err := s.cipher.Decrypt(key, &m)
		if err != nil {
			return
		}
		salt, ok := c.sessions[msg.SessionID]
		if !ok {
			salt = randInt64()
			c.sessions[msg.SessionID] = salt
			r := &reply{s: s, c: c, key: key, session: msg.SessionID, salt: salt}
			if err := r.send(ctx, tdproto.MessageFromServer, &tdmt.NewSessionCreated{
				FirstMsgID: msg.MessageID,
				UniqueID:   randInt64(),
				ServerSalt: salt,
			}); err != nil {
				return
			}
		}
		r := &reply{s: s, c: c, key: key, session: msg.SessionID, salt: salt, keyID: id}
		c.wmu.Lock()
		c.last = r
		c.wmu.Unlock()
		if err := s.handle(ctx, r, msg.MessageID, &tdbin.Buffer{Buf: msg.Data()}); err != nil {
			return
		}
	}
}

// replayConn gives back the first frame again, for the key exchange.
type replayConn struct {
	tdtransport.Conn
	first []byte
}

func (c *replayConn) Recv(ctx context.Context, b *tdbin.Buffer) error {
	if c.first != nil {
		b.ResetTo(c.first)
		c.first = nil
		return nil
	}
	return c.Conn.Recv(ctx, b)
}

func (s *Server) exchange(ctx context.Context, c *conn, first *tdbin.Buffer) error {
	rc := &replayConn{Conn: c.Conn, first: first.Copy()}
	res, err := tdexchange.NewExchanger(rc, s.dc).
		WithRand(rand.Reader).
		WithTimeout(s.timeout).
		Server(s.key).Run(ctx)
	if err != nil {
		var xerr *tdexchange.ServerExchangeError
		if errors.As(err, &xerr) {
			_ = s.sendTransportError(ctx, c, xerr.Code)
		}
		return err
	}
	key, err := sessionstring.NewAuthKey(res.Key.Value[:])
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.KeyExchanges++
	s.st.Keys[key.ID()] = &keyRecord{Key: key.Bytes()}
	return s.st.save(s.dir)
}

func (s *Server) sendTransportError(ctx context.Context, c *conn, code int32) error {
	var b tdbin.Buffer
	b.PutInt32(-code)
	wctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.Send(wctx, &b)
}

func keyIDOf(raw [8]byte) sessionstring.KeyID {
	var id uint64
	for i := 7; i >= 0; i-- {
		id = id<<8 | uint64(raw[i])
	}
	return sessionstring.KeyID(id)
}

func (s *Server) lookupKey(id sessionstring.KeyID) (tdcrypto.AuthKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.st.Keys[id]
	if !ok {
		return tdcrypto.AuthKey{}, false
	}
	var v tdcrypto.Key
	copy(v[:], k.Key)
	return v.WithID(), true
}

// bind counts c as a connection using key id.
func (s *Server) bind(c *conn, id sessionstring.KeyID) {
	if c.bound == id {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unbindLocked(c)
	c.bound = id
	c.dup = s.live[id] > 0
	s.stats.Connections[id]++
	if c.dup {
		s.stats.Duplicates++
	}
	s.live[id]++
	if s.byKey[id] == nil {
		s.byKey[id] = map[*conn]struct{}{}
	}
	s.byKey[id][c] = struct{}{}
}

func (s *Server) unbind(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unbindLocked(c)
}

func (s *Server) unbindLocked(c *conn) {
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

// reply sends encrypted messages to one session of one connection.
type reply struct {
	s       *Server
	c       *conn
	key     tdcrypto.AuthKey
	keyID   sessionstring.KeyID
	session int64
	salt    int64
}

func (r *reply) send(ctx context.Context, t tdproto.MessageType, msg tdbin.Encoder) error {
	var b tdbin.Buffer
	if err := msg.Encode(&b); err != nil {
		return err
	}
	data := tdcrypto.EncryptedMessageData{
		Salt:                   r.salt,
		SessionID:              r.session,
		MessageID:              r.s.msgID.New(t),
		MessageDataLen:         int32(b.Len()),
		MessageDataWithPadding: b.Copy(),
	}
	var out tdbin.Buffer
	if err := r.s.cipher.Encrypt(r.key, data, &out); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, r.s.timeout)
	defer cancel()
	r.c.wmu.Lock()
	defer r.c.wmu.Unlock()
	return r.c.Send(wctx, &out)
}

// result answers the request msgID with an encoded object.
func (r *reply) result(ctx context.Context, msgID int64, obj tdbin.Encoder) error {
	var b tdbin.Buffer
	if err := obj.Encode(&b); err != nil {
		return err
	}
	return r.send(ctx, tdproto.MessageServerResponse, &tdproto.Result{RequestMessageID: msgID, Result: b.Raw()})
}

// rpcError answers the request msgID with an RPC error.
func (r *reply) rpcError(ctx context.Context, msgID int64, code int, message string) error {
	return r.result(ctx, msgID, &tdmt.RPCError{ErrorCode: code, ErrorMessage: message})
}

// vector encodes a TL vector of objects.
type vector []tdbin.Encoder

func (v vector) Encode(b *tdbin.Buffer) error {
	b.PutVectorHeader(len(v))
	for _, e := range v {
		if err := e.Encode(b); err != nil {
			return err
		}
	}
	return nil
}

// peekID decodes nothing: it lets an Invoke* wrapper be decoded up to its
// inner query.
type peekID struct{}

func (peekID) Decode(*tdbin.Buffer) error { return nil }
func (peekID) Encode(*tdbin.Buffer) error { return errors.New("devserver: peekID is not encodable") }

func (s *Server) handle(ctx context.Context, r *reply, msgID int64, b *tdbin.Buffer) error {
	id, err := b.PeekID()
	if err != nil {
		return err
	}
	switch id {
	case tdproto.MessageContainerTypeID:
		var cont tdproto.MessageContainer
		if err := cont.Decode(b); err != nil {
			return err
		}
		for _, m := range cont.Messages {
			if err := s.handle(ctx, r, m.ID, &tdbin.Buffer{Buf: m.Body}); err != nil {
				return err
			}
		}
		return nil
	case tdproto.GZIPTypeID:
		var gz tdproto.GZIP
		if err := gz.Decode(b); err != nil {
			return err
		}
		return s.handle(ctx, r, msgID, &tdbin.Buffer{Buf: gz.Data})
	case tdtg.InvokeWithLayerRequestTypeID:
		if err := (&tdtg.InvokeWithLayerRequest{Query: peekID{}}).Decode(b); err != nil {
			return err
		}
		return s.handle(ctx, r, msgID, b)
	case tdtg.InitConnectionRequestTypeID:
		req := tdtg.InitConnectionRequest{Query: peekID{}}
		if err := req.Decode(b); err != nil {
			return err
		}
		s.recordClient(r.keyID, ClientInfo{
			APIID: req.APIID, DeviceModel: req.DeviceModel, SystemVersion: req.SystemVersion,
			AppVersion: req.AppVersion, LangCode: req.LangCode, SystemLangCode: req.SystemLangCode,
		})
		return s.handle(ctx, r, msgID, b)
	case tdtg.InvokeWithoutUpdatesRequestTypeID:
		if err := (&tdtg.InvokeWithoutUpdatesRequest{Query: peekID{}}).Decode(b); err != nil {
			return err
		}
		return s.handle(ctx, r, msgID, b)
	case tdmt.PingRequestTypeID:
		var p tdmt.PingRequest
		if err := p.Decode(b); err != nil {
			return err
		}
		return r.send(ctx, tdproto.MessageServerResponse, &tdmt.Pong{MsgID: msgID, PingID: p.PingID})
	case tdmt.PingDelayDisconnectRequestTypeID:
		var p tdmt.PingDelayDisconnectRequest
		if err := p.Decode(b); err != nil {
			return err
		}
		s.delayDisconnect(r.c, p.DisconnectDelay)
		return r.send(ctx, tdproto.MessageServerResponse, &tdmt.Pong{MsgID: msgID, PingID: p.PingID})
	case tdmt.GetFutureSaltsRequestTypeID:
		return r.send(ctx, tdproto.MessageServerResponse, &tdmt.FutureSalts{
			ReqMsgID: msgID,
			Now:      int(time.Now().Unix()),
			Salts:    []tdmt.FutureSalt{{ValidSince: 1, ValidUntil: 1<<31 - 1, Salt: r.salt}},
		})
	case tdmt.MsgsAckTypeID, tdmt.MsgsStateReqTypeID, tdmt.HTTPWaitRequestTypeID, tdmt.DestroySessionRequestTypeID:
		return nil
	}
	return s.call(ctx, r, msgID, id, b)
}

// call answers one API method.
func (s *Server) call(ctx context.Context, r *reply, msgID int64, id uint32, b *tdbin.Buffer) error {
	if s.rejDup && r.c.dup {
		return r.rpcError(ctx, msgID, 406, "AUTH_KEY_DUPLICATED")
	}
	if wait, ok := s.countCall(id); ok {
		return r.rpcError(ctx, msgID, 420, "FLOOD_WAIT_"+strconv.Itoa(wait))
	}
	switch id {
	case tdtg.HelpGetConfigRequestTypeID:
		return r.result(ctx, msgID, s.config())
	case tdtg.AuthImportBotAuthorizationRequestTypeID:
		var req tdtg.AuthImportBotAuthorizationRequest
		if err := req.Decode(b); err != nil {
			return err
		}
		u, ok := s.authorizeBot(r.keyID, req.BotAuthToken)
		if !ok {
			return r.rpcError(ctx, msgID, 400, "ACCESS_TOKEN_INVALID")
		}
		return r.result(ctx, msgID, &tdtg.AuthAuthorization{User: u})
	}
	if ok, err := s.loginCall(ctx, r, msgID, id, b); ok {
		return err
	}
	self, ok := s.userOf(r.keyID)
	if !ok {
		return r.rpcError(ctx, msgID, 401, "AUTH_KEY_UNREGISTERED")
	}
	if ok, err := s.peerCall(ctx, r, msgID, id, b, self); ok {
		return err
	}
	switch id {
	case tdtg.AuthLogOutRequestTypeID:
		if err := s.RevokeKey(r.keyID); err != nil {
			return err
		}
		return r.result(ctx, msgID, &tdtg.AuthLoggedOut{})
	case tdtg.UsersGetUsersRequestTypeID:
		var req tdtg.UsersGetUsersRequest
		if err := req.Decode(b); err != nil {
			return err
		}
		out := make(vector, 0, len(req.ID))
		for _, in := range req.ID {
			if u, ok := s.lookupUser(self, in); ok {
				out = append(out, u)
			}
		}
		return r.result(ctx, msgID, out)
	case tdtg.UpdatesGetStateRequestTypeID:
		return r.result(ctx, msgID, &tdtg.UpdatesState{Pts: 1, Date: int(time.Now().Unix()), Seq: 1})
	}
	return r.rpcError(ctx, msgID, 400, "INPUT_METHOD_INVALID_"+strconv.FormatUint(uint64(id), 10))
}

func (s *Server) config() *tdtg.Config {
	host, portStr, _ := net.SplitHostPort(s.Addr())
	port, _ := strconv.Atoi(portStr)
	now := int(time.Now().Unix())
	return &tdtg.Config{
		Date:    now,
		Expires: now + 3600,
		ThisDC:  s.dc,
		DCOptions: []tdtg.DCOption{
			{ID: s.dc, IPAddress: host, Port: port},
		},
		DCTxtDomainName:         "localhost",
		ChatSizeMax:             200,
		MegagroupSizeMax:        200000,
		ForwardedCountMax:       100,
		OnlineUpdatePeriodMs:    210000,
		OfflineBlurTimeoutMs:    5000,
		OfflineIdleTimeoutMs:    30000,
		OnlineCloudTimeoutMs:    300000,
		NotifyCloudDelayMs:      30000,
		NotifyDefaultDelayMs:    1500,
		PushChatPeriodMs:        60000,
		PushChatLimit:           2,
		EditTimeLimit:           172800,
		RevokeTimeLimit:         2147483647,
		RevokePmTimeLimit:       2147483647,
		RatingEDecay:            2419200,
		StickersRecentLimit:     200,
		ChannelsReadMediaPeriod: 604800,
		CallReceiveTimeoutMs:    20000,
		CallRingTimeoutMs:       90000,
		CallConnectTimeoutMs:    30000,
		CallPacketTimeoutMs:     10000,
		MeURLPrefix:             "https://t.me/",
		CaptionLengthMax:        1024,
		MessageLengthMax:        4096,
		WebfileDCID:             s.dc,
	}
}

// authorizeBot logs key id in as the bot whose token is given.
func (s *Server) authorizeBot(id sessionstring.KeyID, token string) (*tdtg.User, bool) {
	botID, secret, ok := strings.Cut(token, ":")
	if !ok {
		return nil, false
	}
	uid, err := strconv.ParseInt(botID, 10, 64)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.st.Users[uid]
	if !ok || !u.Bot || subtle.ConstantTimeCompare([]byte(u.BotSecret), []byte(secret)) != 1 {
		return nil, false
	}
	k, ok := s.st.Keys[id]
	if !ok {
		return nil, false
	}
	k.UserID = uid
	if err := s.st.save(s.dir); err != nil {
		return nil, false
	}
	return tgUser(u, true), true
}

func (s *Server) userOf(id sessionstring.KeyID) (*User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.st.Keys[id]
	if !ok || k.UserID == 0 {
		return nil, false
	}
	u, ok := s.st.Users[k.UserID]
	return u, ok
}

func (s *Server) lookupUser(self *User, in tdtg.InputUserClass) (*tdtg.User, bool) {
	switch in := in.(type) {
	case *tdtg.InputUserSelf:
		return tgUser(self, true), true
	case *tdtg.InputUser:
		s.mu.Lock()
		defer s.mu.Unlock()
		u, ok := s.st.Users[in.UserID]
		if !ok || u.AccessHash != in.AccessHash {
			return nil, false
		}
		return tgUser(u, u.ID == self.ID), true
	}
	return nil, false
}

func tgUser(u *User, self bool) *tdtg.User {
	out := &tdtg.User{
		Self:       self,
		ID:         u.ID,
		AccessHash: u.AccessHash,
		Bot:        u.Bot,
		FirstName:  u.FirstName,
		Username:   u.Username,
	}
	if u.Phone != "" && self {
		out.Phone = u.Phone
	}
	return out
}
