package devserver

import (
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/binary"
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
	"github.com/tgvault/tgvault/mtproto/tlschema"
	"github.com/tgvault/tgvault/sessionstring"
)

// HomeDC is the DC a server claims when Options.DC is zero.
const HomeDC = 2

// DCError is a DC id of a server (Options.DC, OtherDCs) that is not
// positive or is given twice.
type DCError struct{ DC int }

func (e *DCError) Error() string {
	return fmt.Sprintf("devserver: DC %d given twice or not positive", e.DC)
}

// CheckDCs is Open's check of a server's DC ids, its home DC and the
// others: each positive and given once (a *DCError).
func CheckDCs(home int, others []int) error {
	seen := map[int]bool{}
	for _, dc := range append([]int{home}, others...) {
		if dc <= 0 || seen[dc] {
			return &DCError{DC: dc}
		}
		seen[dc] = true
	}
	return nil
}

// Options configure a Server.
type Options struct {
	// Dir is the state directory (created 0700 if missing): accounts, auth
	// keys and the RSA key survive restarts there.
	Dir string
	// Addr is the listen address (DefaultAddr when empty).
	Addr string
	// DC is the DC id the server claims (HomeDC when zero): the home DC of
	// its accounts, where they log in.
	DC int
	// OtherDCs are more DC ids the server also is, each on a listener of
	// its own (Addr's host, a port of its own choosing). Every DC shares
	// the state, but keys are per DC, as on Telegram: a key made on one DC
	// is unknown (-404) on the others, and is logged in there only by
	// auth.importAuthorization of an auth.exportAuthorization from a DC
	// where the user is logged in. help.getConfig lists every DC.
	OtherDCs []int
	// DCAddrs are listen addresses for some of the OtherDCs (by DC id);
	// the others listen on Addr's host, on a port of their own.
	DCAddrs map[int]string
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
	// QRAccept, when OnLoginToken is not set, has the demo user's "phone"
	// scan every QR login token after QRScanDelay and accept it
	// (`dev-server --qr-accept`), so that QR logins can be tried here.
	QRAccept bool
}

// Stats are the server's counters since Open.
type Stats struct {
	// KeyExchanges is the number of completed key exchanges (new keys),
	// on every DC.
	KeyExchanges int64
	// Connections counts, per auth key, the connections that used it.
	Connections map[sessionstring.KeyID]int64
	// Duplicates counts connections that started using a key while another
	// open connection was using it (Telegram answers such a pair with
	// AUTH_KEY_DUPLICATED).
	Duplicates int64
	// Authorizations counts new logins: auth.signIn (with
	// auth.checkPassword), auth.importBotAuthorization and accepted QR
	// tokens — what Telegram lists as a new device. Imports (below) are
	// not among them.
	Authorizations int64
	// Exports and Imports count auth.exportAuthorization and the
	// auth.importAuthorization calls that logged a key in.
	Exports, Imports int64
	// DCs are the counters of each DC.
	DCs map[int]DCStats
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

// DCStats are the counters of one DC.
type DCStats struct {
	// KeyExchanges is the number of keys made on the DC.
	KeyExchanges int64
	// Authorizations, Exports and Imports are as in Stats, by the DC the
	// call came to.
	Authorizations, Exports, Imports int64
	// Duplicates and DuplicateAddrs are as in Stats.
	Duplicates, DuplicateAddrs int64
	// Open is the number of open connections.
	Open int
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
	dcs    []*dcServer // the home DC first
	// life ends at Close (stop): what the server does by itself
	// (QRAccept's scans) stops with it.
	life context.Context
	stop context.CancelFunc

	mu      sync.Mutex
	st      *state
	calls   map[uint32]int64
	pending map[sessionstring.KeyID]*pendingLogin
	floods  map[uint32]flood
	qr      qrLogins
	clients map[sessionstring.KeyID][]ClientInfo // distinct initConnection parameters per key
	exports map[string]pendingExport             // auth.exportAuthorization bytes → what they import
	counts  map[int]*DCStats                     // per-DC login counters (the rest is mtserver's)
}

// dcServer is one DC: a listener and its MTProto server.
type dcServer struct {
	id  int
	ln  net.Listener
	mts *mtserver.Server
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
		exports: map[string]pendingExport{},
		counts:  map[int]*DCStats{},
	}
	if s.dc == 0 {
		s.dc = HomeDC
	}
	if opts.QRAccept && opts.OnLoginToken == nil {
		s.qr.onToken = s.acceptAsDemoUser
	}
	if err := CheckDCs(s.dc, opts.OtherDCs); err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	for i, dc := range append([]int{s.dc}, opts.OtherDCs...) {
		s.counts[dc] = &DCStats{}
		mts, err := mtserver.New(mtserver.Config{
			DC:         dc,
			PrivateKey: k,
			Keys:       stateKeys{s, dc},
			Handler:    s,
			IOTimeout:  opts.IOTimeout,
		})
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("devserver: %w", err)
		}
		a := addr
		if i > 0 {
			a = net.JoinHostPort(host, "0")
			if da, ok := opts.DCAddrs[dc]; ok {
				a = da
			}
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("devserver: %w", err)
		}
		s.dcs = append(s.dcs, &dcServer{id: dc, ln: ln, mts: mts})
	}
	s.life, s.stop = context.WithCancel(context.Background())
	return s, nil
}

func (s *Server) closeListeners() {
	for _, d := range s.dcs {
		_ = d.ln.Close()
	}
}

// Addr returns the address the server listens on as its home DC
// ("host:port").
func (s *Server) Addr() string { return s.dcs[0].ln.Addr().String() }

// DCAddr returns the address the server listens on as DC dc, false for a
// DC it is not.
func (s *Server) DCAddr(dc int) (string, bool) {
	d := s.dcServer(dc)
	if d == nil {
		return "", false
	}
	return d.ln.Addr().String(), true
}

// DCs returns the DC ids the server is, the home DC first.
func (s *Server) DCs() []int {
	out := make([]int, len(s.dcs))
	for i, d := range s.dcs {
		out[i] = d.id
	}
	return out
}

func (s *Server) dcServer(dc int) *dcServer {
	for _, d := range s.dcs {
		if d.id == dc {
			return d
		}
	}
	return nil
}

// DC returns the DC id the server claims.
func (s *Server) DC() int { return s.dc }

// PublicKey returns the server's RSA public key (also in PublicKeyFile).
func (s *Server) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// PublicKeyPath returns the path of the PEM file with the public key.
func (s *Server) PublicKeyPath() string { return s.dir + string(os.PathSeparator) + PublicKeyFile }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	out := Stats{
		Connections: map[sessionstring.KeyID]int64{},
		PingDelays:  map[int]int64{},
		DCs:         map[int]DCStats{},
	}
	for _, d := range s.dcs {
		m := d.mts.Stats()
		out.KeyExchanges += m.KeyExchanges
		for id, n := range m.Connections {
			out.Connections[id] += n
		}
		out.Duplicates += m.Duplicates
		out.DuplicateAddrs += m.DuplicateAddrs
		out.Open += m.Open
		out.PingDisconnects += m.PingDisconnects
		for d, n := range m.PingDelays {
			out.PingDelays[d] += n
		}
		out.DCs[d.id] = DCStats{
			KeyExchanges: m.KeyExchanges, Duplicates: m.Duplicates, DuplicateAddrs: m.DuplicateAddrs, Open: m.Open,
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out.Calls = maps.Clone(s.calls)
	for dc, c := range s.counts {
		ds := out.DCs[dc]
		ds.Authorizations, ds.Exports, ds.Imports = c.Authorizations, c.Exports, c.Imports
		out.DCs[dc] = ds
		out.Authorizations += c.Authorizations
		out.Exports += c.Exports
		out.Imports += c.Imports
	}
	return out
}

// Serve answers connections on every DC until ctx ends or Close is
// called; then it closes every connection and returns.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(s.dcs))
	for _, d := range s.dcs {
		go func() {
			err := d.mts.Serve(ctx, d.ln)
			if err != nil {
				cancel() // one DC failing stops them all
				err = fmt.Errorf("devserver: DC %d: %w", d.id, err)
			}
			errs <- err
		}()
	}
	var all []error
	for range s.dcs {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// Close stops listening and closes every connection.
func (s *Server) Close() error {
	s.stop()
	var errs []error
	for _, d := range s.dcs {
		errs = append(errs, d.mts.Close())
		if err := d.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// conns returns the open connections that use key id, on every DC.
func (s *Server) conns(id sessionstring.KeyID) []*mtserver.Conn {
	var out []*mtserver.Conn
	for _, d := range s.dcs {
		out = append(out, d.mts.Conns(id)...)
	}
	return out
}

// stateKeys are the auth keys of one DC in the state, for mtserver.
type stateKeys struct {
	s  *Server
	dc int
}

func (k stateKeys) AuthKey(id sessionstring.KeyID) (sessionstring.AuthKey, bool) {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	r, ok := k.s.st.Keys[id]
	if !ok || k.s.keyDC(r) != k.dc {
		return sessionstring.AuthKey{}, false
	}
	key, err := sessionstring.NewAuthKey(r.Key)
	return key, err == nil
}

func (k stateKeys) AddAuthKey(key sessionstring.AuthKey) error {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	r := &keyRecord{Key: key.Bytes()}
	if k.dc != k.s.dc {
		r.DC = k.dc
	}
	k.s.st.Keys[key.ID()] = r
	return k.s.st.save(k.s.dir)
}

// keyDC returns the DC a key was made on.
func (s *Server) keyDC(r *keyRecord) int {
	if r.DC == 0 {
		return s.dc
	}
	return r.DC
}

// reply answers one RPC.
type reply struct {
	*mtserver.Request
	method uint32 // the query's type id in gotd's layer
	layer  int    // the layer to answer in (servedLayer)
}

// result answers with an encoded object, in the client's layer.
func (r reply) result(ctx context.Context, obj tdbin.Encoder) error {
	var b tdbin.Buffer
	if err := obj.Encode(&b); err != nil {
		return err
	}
	if r.layer == tdtg.Layer {
		// gotd's own layer: nothing to transcode, so no schema to read.
		return r.Result(ctx, b.Buf)
	}
	return r.Result(ctx, toClientLayer(b.Buf, resultType(r.method), r.layer))
}

// rpcError answers with an RPC error.
func (r reply) rpcError(ctx context.Context, code int, message string) error {
	return r.Error(ctx, code, message)
}

// push sends an update to one connection, in its layer.
func (s *Server) push(ctx context.Context, c *mtserver.Conn, u tdbin.Encoder) error {
	var b tdbin.Buffer
	if err := u.Encode(&b); err != nil {
		return err
	}
	return c.Push(ctx, toClientLayer(b.Buf, tlschema.Type{Kind: tlschema.Object}, servedLayer(c.Layer())))
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
	layer := servedLayer(req.Layer)
	body := fromClientLayer(req.Body, layer)
	id := uint32(0)
	if len(body) >= 4 {
		id = binary.LittleEndian.Uint32(body)
	}
	return s.call(ctx, &reply{Request: req, method: id, layer: layer}, id, &tdbin.Buffer{Buf: body})
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
		return r.result(ctx, s.config(r.Conn.DC()))
	case tdtg.AuthImportAuthorizationRequestTypeID:
		var req tdtg.AuthImportAuthorizationRequest
		if err := req.Decode(b); err != nil {
			return err
		}
		u, msg := s.importAuthorization(r.KeyID, r.Conn.DC(), req.ID, req.Bytes)
		if msg != "" {
			return r.rpcError(ctx, 400, msg)
		}
		return r.result(ctx, &tdtg.AuthAuthorization{User: u})
	case tdtg.AuthImportBotAuthorizationRequestTypeID:
		var req tdtg.AuthImportBotAuthorizationRequest
		if err := req.Decode(b); err != nil {
			return err
		}
		u, ok := s.authorizeBot(r.KeyID, r.Conn.DC(), req.BotAuthToken)
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
	if ok, err := s.dcCall(ctx, r, id, b, self); ok {
		return err
	}
	if ok, err := s.messageCall(ctx, r, id, b, self); ok {
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
		s.mu.Lock()
		pts := ptsOf(self)
		s.mu.Unlock()
		return r.result(ctx, &tdtg.UpdatesState{Pts: pts, Date: int(time.Now().Unix()), Seq: 1})
	}
	return r.rpcError(ctx, 400, "INPUT_METHOD_INVALID_"+strconv.FormatUint(uint64(id), 10))
}

// config is help.getConfig's answer on DC dc: every DC the server is, at
// its listener.
func (s *Server) config(dc int) *tdtg.Config {
	opts := make([]tdtg.DCOption, 0, len(s.dcs))
	for _, d := range s.dcs {
		host, portStr, _ := net.SplitHostPort(d.ln.Addr().String())
		port, _ := strconv.Atoi(portStr)
		opts = append(opts, tdtg.DCOption{ID: d.id, IPAddress: host, Port: port})
	}
	now := int(time.Now().Unix())
	return &tdtg.Config{
		Date:                    now,
		Expires:                 now + 3600,
		ThisDC:                  dc,
		DCOptions:               opts,
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

// authorizeBot logs key id, on DC dc, in as the bot whose token is given.
func (s *Server) authorizeBot(id sessionstring.KeyID, dc int, token string) (*tdtg.User, bool) {
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
	s.count(dc).Authorizations++
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
	if u.Photo != nil {
		out.Photo = &tdtg.UserProfilePhoto{PhotoID: u.Photo.ID, DCID: u.Photo.DC}
	}
	if u.Service {
		out.Verified, out.Support = true, true
	}
	return out
}
