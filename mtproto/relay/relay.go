package relay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/mtproto/mtserver"
	"github.com/tgvault/tgvault/mtproto/tlschema"
	"github.com/tgvault/tgvault/sessionstring"
)

// Identity is what the relay tells a client library about the account in
// its session string (mtcute's and Pyrogram's carry the user).
type Identity struct {
	UserID int64
	Bot    bool
	Test   bool
	APIID  int
}

// Account is one account of the pool, as the relay uses it. Its methods
// are safe for concurrent use.
type Account interface {
	// Home returns the account's home DC and its auth key there. The key
	// never leaves the process: the relay uses it for its upstream
	// sessions only.
	Home() (dc int, key sessionstring.AuthKey)
	// Identity returns the account's user, bot flag, test mode and api id.
	Identity() Identity
	// Device returns what the account tells the server in
	// initConnection (its stored device parameters and api id).
	Device() Device
	// Dial opens a transport connection to DC dc of the account's server,
	// as the pool connects the account (its proxy or MTProxy, its fleet
	// fence). addr is the DC's address from the server's help.getConfig,
	// "" for the home DC (whose address the account's settings name) and
	// for a DC the relay knows no address of.
	Dial(ctx context.Context, dc int, addr string) (tdtransport.Conn, error)
	// PublicKeys are the server's RSA keys, for the key exchange that
	// makes the account's key for another DC (nil: Telegram's own).
	PublicKeys() []*rsa.PublicKey
	// DCKey returns the account's auth key for another DC, which the relay
	// made before (zero when none); SetDCKey keeps one, sealed with the
	// account, for later runs. The relay makes one per DC, once.
	DCKey(dc int) (sessionstring.AuthKey, error)
	SetDCKey(dc int, key sessionstring.AuthKey) error
	// Done is closed when the account stops being served (removed from
	// the pool, its run stopping, a fleet worker's lease lost): the
	// relay then ends its sessions and upstream connections.
	Done() <-chan struct{}
}

// Accounts finds the accounts the relay may serve (the pool's).
type Accounts interface {
	// Account returns the named account, or an error when the pool does
	// not serve it (not in the pool, not connected).
	Account(ctx context.Context, name string) (Account, error)
}

// Config configures a Relay.
type Config struct {
	Accounts Accounts
	// Refuser is the run's refused-method policy (nil: none refused by
	// the run; the session's policy still applies).
	Refuser Refuser
	Logger  *slog.Logger
	// Host is where the relay listens ("127.0.0.1" when empty): one port
	// per DC it answers as, and one for the SOCKS5 front.
	Host string
	// PrivateKey is the relay's RSA key for key exchanges with its DCs
	// (generated when nil; make one with mtserver.GenerateKey, which gives
	// only keys every client library finds). Clients that exchange a key
	// with a relay DC (to reach media on another DC) must know its public
	// half.
	PrivateKey *rsa.PrivateKey
	// UpstreamTimeout bounds one upstream connect (30 s when zero).
	UpstreamTimeout time.Duration
	// IOTimeout bounds one read of a client's frame and one write to it
	// (two minutes when zero): a client that stops reading is closed.
	IOTimeout time.Duration
	// CallRate caps the calls a second each relay session may send
	// upstream, all its connections on every DC together
	// (DefaultCallRate when zero; negative: no cap), after CallBurst
	// calls at once (DefaultCallBurst when zero). A call over the cap
	// gets rpc_error 420 FLOOD_WAIT_n, n the seconds until it would
	// pass, and nothing of it goes upstream: a client stuck in a loop
	// spends its own time, not the account's standing with Telegram.
	// Policy.CallRate sets it per session.
	CallRate  float64
	CallBurst int
	// CloseWait bounds how long Close waits for the calls in flight to be
	// answered before it cuts the connections (2 s when zero; negative:
	// no wait): a client whose call was cut resends it on reconnect, so
	// a message sent just before the stop could go twice.
	CloseWait time.Duration
	// SessionConns caps the client connections of one relay session at
	// once, on every DC together (DefaultSessionConns when zero;
	// negative: no cap); AccountConns caps those of all relay sessions
	// of one account (DefaultAccountConns when zero; negative: no cap).
	// Each connection costs an upstream session on the account's key:
	// a connection over either cap is answered rpc_error 420
	// TGVAULT_TOO_MANY_CONNECTIONS and opens none.
	SessionConns int
	AccountConns int
}

// ErrUnknownSession reports a revoke of a session the relay does not
// have.
var ErrUnknownSession = errors.New("relay: no such relay session")

// ErrClosed reports a Mint on a relay that has stopped.
var ErrClosed = errors.New("relay: closed")

// Relay is tgvault's MTProto relay. It is safe for concurrent use.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	schema  *tlschema.Schema
	rsa     *rsa.PrivateKey
	metrics *metrics

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// calls are the relayed calls in flight: added under mu while the
	// relay is not closed, so Close's Wait follows every Add.
	calls sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*Session
	keys     map[sessionstring.KeyID]*relayKey
	unbound  int
	exports  map[string]*export   // by token
	configs  map[configKey][]byte // rewritten help.getConfig results
	dcs      map[int]*dcServer
	clients  map[*mtserver.Conn]*client
	accounts map[string]*accountState
	accConns map[string]int // client connections per account, while it has any
	socks    net.Listener   // the SOCKS5 front, once started
	closed   bool
}

// accountState is what the relay keeps per account while it has
// sessions: the server's real DC addresses (from its help.getConfig, for
// the account's connections to other DCs) and a lock per DC under which
// the account's key there is made once; done is the Done of the Account
// it was made for (nil until a Mint watches it): an account the pool
// stops and serves again is a new Account, with a state of its own.
type accountState struct {
	real   []realOption
	making map[int]*sync.Mutex
	done   <-chan struct{}
}

// dcServer is the relay answering as one DC.
type dcServer struct {
	dc   int
	srv  *mtserver.Server
	ln   net.Listener
	host string
	port int
}

// New makes a relay. It listens nowhere until the first session is
// minted; Close stops it.
func New(cfg Config) (*Relay, error) {
	if cfg.Accounts == nil {
		return nil, errors.New("relay: config needs the accounts")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = 30 * time.Second
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = 2 * time.Minute
	}
	if cfg.CallRate == 0 {
		cfg.CallRate = DefaultCallRate
	}
	if cfg.CallBurst <= 0 {
		cfg.CallBurst = DefaultCallBurst
	}
	if cfg.CloseWait == 0 {
		cfg.CloseWait = 2 * time.Second
	}
	if cfg.SessionConns == 0 {
		cfg.SessionConns = DefaultSessionConns
	}
	if cfg.AccountConns == 0 {
		cfg.AccountConns = DefaultAccountConns
	}
	s, err := tlschema.All()
	if err != nil {
		return nil, err
	}
	key := cfg.PrivateKey
	if key == nil {
		if key, err = mtserver.GenerateKey(rand.Reader); err != nil {
			return nil, fmt.Errorf("relay: RSA key: %w", err)
		}
	} else if !mtserver.FingerprintFindable(&key.PublicKey) {
		cfg.Logger.Warn("relay: mtcute cannot find the relay's RSA key by its fingerprint (a leading zero); make it with mtserver.GenerateKey")
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{
		cfg: cfg, log: cfg.Logger, schema: s, rsa: key, metrics: newMetrics(),
		ctx: ctx, cancel: cancel,
		sessions: map[string]*Session{}, keys: map[sessionstring.KeyID]*relayKey{},
		exports: map[string]*export{}, configs: map[configKey][]byte{}, dcs: map[int]*dcServer{}, clients: map[*mtserver.Conn]*client{},
		accounts: map[string]*accountState{}, accConns: map[string]int{},
	}
	r.wg.Add(1)
	go r.sweep()
	return r, nil
}

// PublicKey returns the public half of the relay's RSA key.
func (r *Relay) PublicKey() *rsa.PublicKey { return &r.rsa.PublicKey }

// Close revokes every session, lets the calls in flight be answered
// (for Config.CloseWait at most; a new call gets rpc_error 500
// TGVAULT_UPSTREAM_UNAVAILABLE meanwhile), closes every connection and
// listener, and waits for them.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	dcs := make([]*dcServer, 0, len(r.dcs))
	for _, d := range r.dcs {
		dcs = append(dcs, d)
	}
	socks := r.socks
	clear(r.sessions)
	clear(r.keys)
	clear(r.exports)
	r.mu.Unlock()
	r.drain()
	if socks != nil {
		_ = socks.Close()
	}
	r.cancel()
	var errs []error
	for _, d := range dcs {
		errs = append(errs, d.srv.Close())
	}
	r.wg.Wait()
	r.metrics.sessionsOpen.Store(0)
	return errors.Join(errs...)
}

// drain waits, for Config.CloseWait at most, until the calls in flight
// are answered.
func (r *Relay) drain() {
	if r.cfg.CloseWait < 0 {
		return
	}
	done := make(chan struct{})
	go func() {
		r.calls.Wait()
		close(done)
	}()
	t := time.NewTimer(r.cfg.CloseWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.log.Warn("relay: calls still in flight at close; cutting them", "waited", r.cfg.CloseWait)
	}
}

// startCall counts a call in flight, unless the relay is closing.
func (r *Relay) startCall() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.calls.Add(1)
	return true
}

// MintRequest asks for a new relay session.
type MintRequest struct {
	Account string
	Policy  Policy
	// TTL is how long the session lives (a day when zero).
	TTL time.Duration
}

// Mint makes a relay session for an account the pool serves: a fresh
// random key valid only at this relay, on the account's home DC.
func (r *Relay) Mint(ctx context.Context, req MintRequest) (Minted, error) {
	if err := req.Policy.Check(); err != nil {
		return Minted{}, err
	}
	ttl := req.TTL
	if ttl <= 0 {
		ttl = defaultTTL
	}
	if ttl > MaxTTL {
		return Minted{}, fmt.Errorf("relay: a session lives at most %v, not %v", MaxTTL, ttl)
	}
	acc, err := r.cfg.Accounts.Account(ctx, req.Account)
	if err != nil {
		return Minted{}, err
	}
	dc, _ := acc.Home()
	d, err := r.dc(dc)
	if err != nil {
		return Minted{}, err
	}
	socks, err := r.socksAddr()
	if err != nil {
		return Minted{}, err
	}
	key, err := newKey()
	if err != nil {
		return Minted{}, err
	}
	now := time.Now()
	s := &Session{ID: newID(), Account: req.Account, Policy: req.Policy, Created: now, Expires: now.Add(ttl), DC: dc, key: key, limit: r.callLimiter(req.Policy)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Minted{}, ErrClosed
	}
	if len(r.sessions) >= maxSessions {
		return Minted{}, fmt.Errorf("relay: %d sessions open, revoke some first", maxSessions)
	}
	r.sessions[s.ID] = s
	r.keys[key.ID()] = &relayKey{key: key, dc: dc, sess: s, created: now}
	st := r.accounts[req.Account]
	switch {
	case st == nil || (st.done != nil && st.done != acc.Done()):
		st = &accountState{done: acc.Done()}
		r.accounts[req.Account] = st
		r.watchAccount(req.Account, st)
	case st.done == nil: // made by makingLock, not watched yet
		st.done = acc.Done()
		r.watchAccount(req.Account, st)
	}
	s.acct = st
	r.metrics.minted.Add(1)
	r.metrics.sessionsOpen.Store(int64(len(r.sessions)))
	r.log.Info("relay session minted", "session", s.ID, "account", s.Account, "policy", s.Policy.String(), "expires", s.Expires.Format(time.RFC3339))
	return Minted{Session: *s, Key: key, Host: d.host, Port: d.port, SOCKS5: socks, Identity: acc.Identity()}, nil
}

// watchAccount revokes the sessions minted on an account's state when
// the pool stops serving that Account, and forgets the state — in one
// hold of r.mu, and only its own: a Mint for the account served again (a
// new Account) meanwhile gets a state and a watch of its own, and its
// sessions stay. The caller holds r.mu.
func (r *Relay) watchAccount(name string, st *accountState) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case <-st.done:
			r.mu.Lock()
			var ss []*Session
			for _, s := range r.sessions {
				if s.acct == st {
					ss = append(ss, s)
				}
			}
			conns := r.revokeLocked(ss)
			if r.accounts[name] == st {
				delete(r.accounts, name)
			}
			r.mu.Unlock()
			closeAll(conns)
			if len(ss) > 0 {
				r.log.Info("relay sessions revoked: the account stopped", "account", name, "sessions", len(ss))
			}
		case <-r.ctx.Done():
		}
	}()
}

// Revoke ends a relay session: its keys are forgotten (a client using
// them gets the transport error -404) and its connections closed.
func (r *Relay) Revoke(id string) error {
	r.mu.Lock()
	s, ok := r.sessions[id]
	if !ok {
		r.mu.Unlock()
		return ErrUnknownSession
	}
	conns := r.revokeLocked([]*Session{s})
	r.mu.Unlock()
	closeAll(conns)
	r.log.Info("relay session revoked", "session", id, "account", s.Account)
	return nil
}

// RevokeAccount ends every relay session of an account and returns how
// many there were.
func (r *Relay) RevokeAccount(name string) int {
	r.mu.Lock()
	var ss []*Session
	for _, s := range r.sessions {
		if s.Account == name {
			ss = append(ss, s)
		}
	}
	conns := r.revokeLocked(ss)
	r.mu.Unlock()
	closeAll(conns)
	return len(ss)
}

// revokeLocked forgets the sessions and their keys and returns their
// connections, to be closed outside the lock.
func (r *Relay) revokeLocked(ss []*Session) []*mtserver.Conn {
	var conns []*mtserver.Conn
	for _, s := range ss {
		delete(r.sessions, s.ID)
		for id, k := range r.keys {
			if k.sess == s {
				delete(r.keys, id)
				if d := r.dcs[k.dc]; d != nil {
					conns = append(conns, d.srv.Conns(id)...)
				}
			}
		}
		for t, e := range r.exports {
			if e.sess == s {
				delete(r.exports, t)
			}
		}
		r.metrics.revoked.Add(1)
	}
	r.metrics.sessionsOpen.Store(int64(len(r.sessions)))
	return conns
}

func closeAll(conns []*mtserver.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// Sessions lists the open sessions, oldest first.
func (r *Relay) Sessions() []SessionInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	conns := map[*Session]int{}
	for _, c := range r.clients {
		if s := c.key.sess; s != nil {
			conns[s]++
		}
	}
	out := make([]SessionInfo, 0, len(r.sessions))
	for _, s := range r.sessions {
		out = append(out, SessionInfo{ID: s.ID, Account: s.Account, Policy: s.Policy.String(), Created: s.Created, Expires: s.Expires, Connections: conns[s]})
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return a.Created.Compare(b.Created) })
	return out
}

// sweep revokes expired sessions and drops stale exchanged keys, every
// few seconds until Close.
func (r *Relay) sweep() {
	defer r.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-t.C:
			r.expire(now)
		}
	}
}

func (r *Relay) expire(now time.Time) {
	r.mu.Lock()
	var old []*Session
	for _, s := range r.sessions {
		if !now.Before(s.Expires) {
			old = append(old, s)
		}
	}
	conns := r.revokeLocked(old)
	for id, k := range r.keys {
		if k.sess == nil && now.Sub(k.created) > unboundTTL {
			delete(r.keys, id)
			r.unbound--
		}
	}
	for t, e := range r.exports {
		if now.After(e.expires) {
			delete(r.exports, t)
		}
	}
	r.mu.Unlock()
	closeAll(conns)
	for _, s := range old {
		r.log.Info("relay session expired", "session", s.ID, "account", s.Account)
	}
}

// dc returns the relay's server for a DC, listening on a port of its own
// (started on first use).
func (r *Relay) dc(dc int) (*dcServer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if d, ok := r.dcs[dc]; ok {
		return d, nil
	}
	srv, err := mtserver.New(mtserver.Config{
		DC: dc, PrivateKey: r.rsa, Keys: dcKeys{r: r, dc: dc}, Handler: handler{r: r, dc: dc}, IOTimeout: r.cfg.IOTimeout,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(r.cfg.Host, "0"))
	if err != nil {
		return nil, fmt.Errorf("relay: listen for DC %d: %w", dc, err)
	}
	host, portStr, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portStr)
	d := &dcServer{dc: dc, srv: srv, ln: ln, host: host, port: port}
	r.dcs[dc] = d
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := srv.Serve(r.ctx, ln); err != nil {
			r.log.Warn("relay DC server stopped", "dc", dc, "err", err)
		}
	}()
	r.log.Info("relay listening", "dc", dc, "addr", ln.Addr().String())
	return d, nil
}

// dcAddr is where the relay answers as dc, starting that DC's server.
func (r *Relay) dcAddr(dc int) (string, int, bool) {
	d, err := r.dc(dc)
	if err != nil {
		return "", 0, false
	}
	return d.host, d.port, true
}

// dcKeys are a relay DC's keys, for its MTProto server.
type dcKeys struct {
	r  *Relay
	dc int
}

func (k dcKeys) AuthKey(id sessionstring.KeyID) (sessionstring.AuthKey, bool) {
	k.r.mu.Lock()
	defer k.r.mu.Unlock()
	rk, ok := k.r.keys[id]
	if !ok || rk.dc != k.dc {
		return sessionstring.AuthKey{}, false
	}
	return rk.key, true
}

// AddAuthKey keeps a key a client made by a key exchange with the relay:
// unbound (every call but auth.importAuthorization gets 401) until an
// import binds it to a session.
func (k dcKeys) AddAuthKey(key sessionstring.AuthKey) error {
	k.r.mu.Lock()
	defer k.r.mu.Unlock()
	if k.r.unbound >= maxUnbound {
		return fmt.Errorf("relay: %d keys await an import; refusing another", maxUnbound)
	}
	k.r.keys[key.ID()] = &relayKey{key: key, dc: k.dc, created: time.Now()}
	k.r.unbound++
	k.r.metrics.exchanges.Add(1)
	return nil
}
