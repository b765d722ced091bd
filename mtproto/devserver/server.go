package devserver

import (
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/mtserver"
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
	// DuplicateAddrs counts connections that started using a key while an
	// open connection from another IP address was using it: one key in two
	// places at once (Duplicates counts a second connection from the same
	// address too).
	DuplicateAddrs int64
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
	dir    string
	dc     int
	rejDup bool
	key    *rsa.PrivateKey
	ln     net.Listener
	mts    *mtserver.Server

	mu      sync.Mutex
	st      *state
	calls   map[uint32]int64
	pending map[sessionstring.KeyID]*pendingLogin
	floods  map[uint32]flood
	qr      qrLogins
	clients map[sessionstring.KeyID][]ClientInfo // distinct initConnection parameters per key
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
		rejDup:  opts.RejectDuplicates,
		key:     k,
		st:      st,
		calls:   map[uint32]int64{},
		pending: map[sessionstring.KeyID]*pendingLogin{},
		floods:  map[uint32]flood{},
		qr:      newQRLogins(opts.LoginTokenTTL, opts.OnLoginToken),
		clients: map[sessionstring.KeyID][]ClientInfo{},
	}
	if s.dc == 0 {
		s.dc = 2
	}
	s.mts, err = mtserver.New(mtserver.Config{
		DC:         s.dc,
		PrivateKey: k,
		Keys:       stateKeys{s},
		Handler:    s,
		IOTimeout:  opts.IOTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
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
func (s *Server) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// PublicKeyPath returns the path of the PEM file with the public key.
func (s *Server) PublicKeyPath() string { return s.dir + string(os.PathSeparator) + PublicKeyFile }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	m := s.mts.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		KeyExchanges:    m.KeyExchanges,
		Connections:     m.Connections,
		Duplicates:      m.Duplicates,
		DuplicateAddrs:  m.DuplicateAddrs,
		Open:            m.Open,
		PingDisconnects: m.PingDisconnects,
		PingDelays:      m.PingDelays,
		Calls:           maps.Clone(s.calls),
	}
}

// Serve answers connections until ctx ends or Close is called; then it
// closes every connection and returns.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.mts.Serve(ctx, s.ln); err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	return nil
}

// Close stops listening and closes every connection.
func (s *Server) Close() error {
	err := s.mts.Close()
	if lerr := s.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) {
		err = errors.Join(err, lerr)
	}
	return err
}

// stateKeys are the auth keys of the state, for mtserver.
type stateKeys struct{ s *Server }

func (k stateKeys) AuthKey(id sessionstring.KeyID) (sessionstring.AuthKey, bool) {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	r, ok := k.s.st.Keys[id]
	if !ok {
		return sessionstring.AuthKey{}, false
	}
	key, err := sessionstring.NewAuthKey(r.Key)
	return key, err == nil
}

func (k stateKeys) AddAuthKey(key sessionstring.AuthKey) error {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	k.s.st.Keys[key.ID()] = &keyRecord{Key: key.Bytes()}
	return k.s.st.save(k.s.dir)
}

// reply answers one RPC.
type reply struct {
	*mtserver.Request
}

// result answers with an encoded object.
func (r reply) result(ctx context.Context, obj tdbin.Encoder) error {
	return r.Encode(ctx, obj)
}

// rpcError answers with an RPC error.
func (r reply) rpcError(ctx context.Context, code int, message string) error {
	return r.Error(ctx, code, message)
}

// push sends an update to one connection.
func (s *Server) push(ctx context.Context, c *mtserver.Conn, u tdbin.Encoder) error {
	var b tdbin.Buffer
	if err := u.Encode(&b); err != nil {
		return err
	}
	return c.Push(ctx, b.Buf)
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

// ServeRPC answers one RPC; it is the dev server's mtserver.Handler.
func (s *Server) ServeRPC(ctx context.Context, req *mtserver.Request) error {
	if req.Init != nil {
		in := req.Init
		s.recordClient(req.KeyID, ClientInfo{
			APIID: in.APIID, DeviceModel: in.DeviceModel, SystemVersion: in.SystemVersion,
			AppVersion: in.AppVersion, LangCode: in.LangCode, SystemLangCode: in.SystemLangCode,
		})
	}
	return s.call(ctx, &reply{req}, req.TypeID(), &tdbin.Buffer{Buf: req.Body})
}

// call answers one API method.
func (s *Server) call(ctx context.Context, r *reply, id uint32, b *tdbin.Buffer) error {
	if s.rejDup && r.Conn.Duplicate() {
		return r.rpcError(ctx, 406, "AUTH_KEY_DUPLICATED")
	}
	if wait, ok := s.countCall(id); ok {
		return r.rpcError(ctx, 420, "FLOOD_WAIT_"+strconv.Itoa(wait))
	}
	switch id {
	case tdtg.HelpGetConfigRequestTypeID:
		return r.result(ctx, s.config())
	case tdtg.AuthImportBotAuthorizationRequestTypeID:
		var req tdtg.AuthImportBotAuthorizationRequest
		if err := req.Decode(b); err != nil {
			return err
		}
		u, ok := s.authorizeBot(r.KeyID, req.BotAuthToken)
		if !ok {
			return r.rpcError(ctx, 400, "ACCESS_TOKEN_INVALID")
		}
		return r.result(ctx, &tdtg.AuthAuthorization{User: u})
	}
	if ok, err := s.loginCall(ctx, r, id, b); ok {
		return err
	}
	self, ok := s.userOf(r.KeyID)
	if !ok {
		return r.rpcError(ctx, 401, "AUTH_KEY_UNREGISTERED")
	}
	if ok, err := s.peerCall(ctx, r, id, b, self); ok {
		return err
	}
	switch id {
	case tdtg.AuthLogOutRequestTypeID:
		if err := s.RevokeKey(r.KeyID); err != nil {
			return err
		}
		return r.result(ctx, &tdtg.AuthLoggedOut{})
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
		return r.result(ctx, out)
	case tdtg.UpdatesGetStateRequestTypeID:
		return r.result(ctx, &tdtg.UpdatesState{Pts: 1, Date: int(time.Now().Unix()), Seq: 1})
	}
	return r.rpcError(ctx, 400, "INPUT_METHOD_INVALID_"+strconv.FormatUint(uint64(id), 10))
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
