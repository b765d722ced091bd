package mtproto

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	tdtelegram "github.com/gotd/td/telegram"
	tdauth "github.com/gotd/td/telegram/auth"
	tddcs "github.com/gotd/td/telegram/dcs"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/mtproto/dial"
	"github.com/tgvault/tgvault/storage"
)

// DefaultConnectTimeout bounds every connect and reconnect when
// Options.ConnectTimeout is zero.
const DefaultConnectTimeout = 30 * time.Second

// Server says where a client connects. The zero value is Telegram's
// production DCs with gotd's built-in public keys.
type Server struct {
	// DC is the primary DC for a store without a key (2 when zero). A
	// stored key's DC wins.
	DC int
	// Addr is "host:port" of a custom server (such as the dev server);
	// empty means Telegram's DC table for TestMode.
	Addr string
	// PublicKeys are the server's RSA keys; empty means Telegram's.
	PublicKeys []*rsa.PublicKey
	// TestMode selects Telegram's test DCs (and is recorded in the row at
	// login).
	TestMode bool
}

// Options configure a Client.
type Options struct {
	Server  Server
	APIID   int32
	APIHash string

	// Session tunes the adapter; see SessionOptions. Only login flows set
	// AllowNewKey.
	Session SessionOptions

	// ConnectTimeout bounds how long the primary connection may take to
	// become ready, at start and after every disconnect
	// (DefaultConnectTimeout when zero). gotd itself retries forever.
	ConnectTimeout time.Duration

	// Device is what the client tells the server about itself; gotd's
	// defaults when zero. Keep it stable per account (see Device).
	Device Device

	// Dial, when set, opens every connection to the server (a SOCKS5
	// proxy's dialer, say); net.Dialer when nil.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// MTProxy, when set, carries every connection through that MTProxy
	// (dialled with Dial): the proxy routes by DC id, so Server.Addr is
	// not dialled. Its secret never appears in errors or logs.
	MTProxy *dial.MTProxy

	// MaxFloodWait is the longest FLOOD_WAIT a call waits out before it
	// is sent again (DefaultMaxFloodWait when zero); a longer one fails
	// the call with a *FloodWaitError at once.
	MaxFloodWait time.Duration

	// DeadMan, when set (Interval non-zero), arms Telegram's
	// ping_delay_disconnect on every connection of the account's key: the
	// server closes a connection that stops pinging for Delay. See
	// DeadMan.
	DeadMan DeadMan

	// Fence, when set, is the deadline past which the client sends
	// nothing: a write or a dial at or after it closes the connection
	// unsent (ErrFenceClosed). See Fence.
	Fence *Fence

	// NotBefore, in a Pool, is when the account may first connect (a fleet
	// worker that took over a lease waits for the old owner's connections
	// to be closed by the server). Zero: at once.
	NotBefore time.Time

	// DuplicateWait, in a Pool, makes AUTH_KEY_DUPLICATED not final at
	// once: the account waits DuplicateWait (StatusDuplicateWait) and
	// connects again, and only a duplicate on DuplicateTries connects in a
	// row is final (StatusDuplicated). A fleet worker sets it to the
	// disconnect delay: a duplicate right after a takeover may be the old
	// owner's last connection, which the server closes by then. Zero: the
	// first duplicate is final.
	DuplicateWait time.Duration

	// metrics, set by a Pool, counts the client's RPCs.
	metrics *poolMetrics
	// onUpdates, set by a Pool, receives the updates the server pushes;
	// without it the client asks for none.
	onUpdates func(context.Context, tdtg.UpdatesClass) error

	// testOnlyNoGuard leaves gotd's reaction to -404 alone, so that tests
	// reach the StoreSession refusal behind the guard.
	testOnlyNoGuard bool
}

// Client is one account's gotd client over its store. A Client runs once:
// after Run returns, make a new one to connect again.
type Client struct {
	sess    *SessionStorage
	td      *tdtelegram.Client
	timeout time.Duration
	via     string // how the client connects, for the connect-timeout error
	test    bool   // opts.Server.TestMode: the environment it connects to
	custom  bool   // opts.Server.Addr is set: not Telegram's DCs

	// self, in updates mode (Options.onUpdates), receives the answer to
	// the users.getUsers of itself that gotd makes on every connect to
	// subscribe to updates (connectSelf); nil otherwise.
	self chan selfResult

	mu     sync.Mutex
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

// selfResult is gotd's answer to its own users.getUsers of itself.
type selfResult struct {
	id  Identity
	err error
}

// NewClient makes a client for the account whose session is in store. The
// store stays owned by the caller.
//
// Long: it maps Options onto gotd's telegram.Options field by field, and
// wraps the dialer in a fixed order (proxy or MTProxy, fence, guard,
// reach); split up, that order would be spread over several functions.
func NewClient(store storage.Storage, opts Options) (*Client, error) {
	c := &Client{
		sess:    NewSessionStorage(store, opts.Session),
		timeout: opts.ConnectTimeout,
		test:    opts.Server.TestMode,
		custom:  opts.Server.Addr != "",
	}
	if c.timeout <= 0 {
		c.timeout = DefaultConnectTimeout
	}
	maxFlood := opts.MaxFloodWait
	if maxFlood <= 0 {
		maxFlood = DefaultMaxFloodWait
	}
	if opts.Device != (Device{}) {
		if err := opts.Device.Check(); err != nil {
			return nil, err
		}
	}
	deadMan := opts.DeadMan != (DeadMan{})
	if deadMan {
		if err := opts.DeadMan.Check(); err != nil {
			return nil, err
		}
	}
	td := tdtelegram.Options{
		DC:                opts.Server.DC,
		SessionStorage:    c.sess,
		NoUpdates:         true,
		OnConnectionState: c.onConnectionState,
		// Outermost first: a flood-waited call is retried through the
		// metrics, which count every attempt; errors get tgvault's words
		// innermost, so that every layer above sees them.
		Middlewares:     []tdtelegram.Middleware{floodWaiter(maxFlood, opts.metrics), rpcMetrics(opts.metrics), peerFeeder(store), tgvaultErrors()},
		DialTimeout:     c.timeout,
		ExchangeTimeout: c.timeout,
		Logger:          quietLog{},
	}
	if opts.Device != (Device{}) {
		td.Device = opts.Device.config()
	}
	if opts.onUpdates != nil {
		td.NoUpdates = false
		// gotd asks who the account is on every connect in this mode:
		// connectSelf takes that answer instead of asking again.
		c.self = make(chan selfResult, 1)
		td.OnSelfSuccess = func(u *tdtg.User) { c.noteSelf(selfResult{id: Identity{UserID: u.ID, IsBot: u.Bot}}) }
		td.OnSelfError = func(_ context.Context, err error) error {
			c.noteSelf(selfResult{err: err})
			return nil // connectSelf's caller decides
		}
		td.UpdateHandler = tdtelegram.UpdateHandlerFunc(func(ctx context.Context, u tdtg.UpdatesClass) error {
			if peers := PeersOf(u); len(peers) > 0 {
				_ = store.UpdatePeers(peers)
			}
			return opts.onUpdates(ctx, u)
		})
	}
	if td.DC == 0 {
		td.DC = 2
	}
	for _, k := range opts.Server.PublicKeys {
		td.PublicKeys = append(td.PublicKeys, tdtelegram.PublicKey{RSA: k})
	}
	switch {
	case opts.Server.Addr != "":
		host, portStr, err := net.SplitHostPort(opts.Server.Addr)
		if err != nil {
			return nil, fmt.Errorf("mtproto: server address: %w", err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("mtproto: server address: bad port %q", portStr)
		}
		td.DCList = tddcs.List{
			Options: []tdtg.DCOption{{ID: td.DC, IPAddress: host, Port: port}},
			Test:    opts.Server.TestMode,
		}
	case opts.Server.TestMode:
		td.DCList = tddcs.Test()
	}
	var dialFn tddcs.DialFunc
	if opts.Dial != nil {
		dialFn = c.stopOnProxyAuth(opts.Dial)
	}
	if opts.Fence != nil {
		// The fence wraps the connection the dialer returns, whose
		// Write is the socket's (a SOCKS5 connection passes bytes as
		// they are; an MTProxy's obfuscation sits above it): its check
		// is the last step before the bytes leave.
		dialFn = fenceDial(dialFn, opts.Fence)
	}
	if opts.MTProxy != nil {
		r, err := opts.MTProxy.Resolver(dialFn, opts.Server.TestMode)
		if err != nil {
			return nil, err
		}
		td.Resolver = r
		c.via = ", through the MTProxy at " + opts.MTProxy.Addr + ": a wrong secret looks like this, the proxy hangs up"
	} else {
		td.Resolver = tddcs.Plain(tddcs.PlainOptions{Dial: dialFn})
	}
	if !opts.testOnlyNoGuard {
		td.Resolver = guardResolver{inner: td.Resolver, sess: c.sess}
	}
	td.Resolver = reachResolver{inner: td.Resolver, c: c}
	if deadMan {
		td.Resolver = deadManResolver{inner: td.Resolver, sess: c.sess, delay: int32(opts.DeadMan.Delay / time.Second)}
		td.Clock = deadManClock{interval: opts.DeadMan.Interval}
	}
	c.td = tdtelegram.NewClient(int(opts.APIID), opts.APIHash, td)
	return c, nil
}

// stopOnProxyAuth wraps dial so that a proxy refusing the login
// (ErrProxyAuth) stops the client at once with that error: gotd would
// otherwise retry the dial until the connect deadline, and report the
// deadline instead of the refusal.
func (c *Client) stopOnProxyAuth(dial tddcs.DialFunc) tddcs.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil && errors.Is(err, ErrProxyAuth) {
			c.mu.Lock()
			cancel := c.cancel
			c.mu.Unlock()
			if cancel != nil {
				cancel(err)
			}
		}
		return conn, err
	}
}

// Session returns the client's session adapter.
func (c *Client) Session() *SessionStorage { return c.sess }

// API returns the raw Telegram API of the client; it works while Run runs.
func (c *Client) API() *tdtg.Client { return c.td.API() }

// Run connects, calls f once the connection is ready, and returns when f
// returns, ctx ends, or the connection fails for good. It fails with
// ErrConnectTimeout when the server cannot be reached (or does not answer)
// within the connect deadline, with ErrProxyAuth as soon as the proxy
// (Options.Dial) refuses the login, with a *KeyLostError or ErrNewKeyRefused when
// gotd tries to store a key it may not, and wraps ErrUnauthorized around
// 401 errors and ErrKeyDuplicated around AUTH_KEY_DUPLICATED (the stored key
// is then left as it is).
func (c *Client) Run(ctx context.Context, f func(ctx context.Context) error) error {
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()
	c.sess.bindStop(cancel)
	c.arm()
	var returned atomic.Bool
	var ferr error // f's own error: gotd wraps it in "callback: "
	err := c.td.Run(ctx, func(ctx context.Context) error {
		c.disarm()
		defer returned.Store(true)
		ferr = f(ctx)
		return ferr
	})
	if err != nil && ferr != nil && errors.Is(err, ferr) {
		err = ferr
	}
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.cancel = nil
	c.mu.Unlock()

	// gotd returns nil when its context is canceled: our own stop causes
	// must win over that.
	if cause := context.Cause(ctx); cause != nil && isStopCause(cause) {
		return cause
	}
	if err == nil && !returned.Load() && parent.Err() != nil {
		// gotd reports a canceled run as success; f never finished.
		return context.Cause(parent)
	}
	return sessionErr(err)
}

// sessionErr wraps our sentinels around the RPC errors that say the key is
// no longer usable.
func sessionErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrKeyDuplicated):
		return err
	case tdauth.IsUnauthorized(err):
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case tdtgerr.Is(err, "AUTH_KEY_DUPLICATED"):
		return fmt.Errorf("%w: %w", ErrKeyDuplicated, err)
	}
	return err
}

func isStopCause(err error) bool {
	return errors.Is(err, ErrConnectTimeout) || errors.Is(err, ErrKeyLost) || errors.Is(err, ErrNewKeyRefused) ||
		errors.Is(err, ErrProxyAuth) || errors.Is(err, ErrUnreachable)
}

// onConnectionState re-arms the connect deadline whenever the primary
// connection is (re)connecting and clears it once it is ready.
func (c *Client) onConnectionState(s tdtelegram.ConnectionState) {
	switch s {
	case tdtelegram.ConnectionStateReady:
		c.disarm()
	default:
		c.arm()
	}
}

func (c *Client) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil || c.cancel == nil {
		return
	}
	cancel := c.cancel
	c.timer = time.AfterFunc(c.timeout, func() {
		cancel(fmt.Errorf("%w (%s%s)", ErrConnectTimeout, c.timeout, c.via))
	})
}

func (c *Client) disarm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// LoginBot logs the account in as the bot whose token ("ID:secret") is
// given: it creates an auth key if the store has none (a real key exchange),
// imports the bot authorization, and records user id, is_bot, api id and
// test mode in the store. The token never appears in errors or logs.
func LoginBot(ctx context.Context, store storage.Storage, token string, opts Options) (Identity, error) {
	return login(ctx, store, opts, func(ctx context.Context, c *Client) (*tdtg.AuthAuthorization, error) {
		a, err := c.td.Auth().Bot(ctx, token)
		if err != nil {
			return nil, fmt.Errorf("mtproto: bot login: %w", loginErr(err))
		}
		return a, nil
	})
}

// UserAuthenticator supplies what a user login asks for: the CLI prompts a
// person, tests return fixed values.
type UserAuthenticator interface {
	// Code returns the login code Telegram sent to the account.
	Code(ctx context.Context) (string, error)
	// Password returns the account's 2FA password; it is called only
	// when the account has one.
	Password(ctx context.Context) (string, error)
}

// LoginUser logs the account in with its phone number, the code Telegram
// sends and, when the account has one, its 2FA password (SRP: the password
// never leaves the process). Like LoginBot it creates a key only if the
// store has none, and records the identity in the store. The phone number,
// code and password never appear in errors or logs.
func LoginUser(ctx context.Context, store storage.Storage, phone string, ua UserAuthenticator, opts Options) (Identity, error) {
	return login(ctx, store, opts, func(ctx context.Context, c *Client) (*tdtg.AuthAuthorization, error) {
		sent, err := c.td.Auth().SendCode(ctx, phone, tdauth.SendCodeOptions{})
		if err != nil {
			return nil, fmt.Errorf("mtproto: send code: %w", loginErr(err))
		}
		var hash string
		switch s := sent.(type) {
		case *tdtg.AuthSentCode:
			hash = s.PhoneCodeHash
		case *tdtg.AuthSentCodeSuccess:
			if a, ok := s.Authorization.(*tdtg.AuthAuthorization); ok {
				return a, nil
			}
			return nil, ErrSignUpRequired
		default:
			return nil, fmt.Errorf("mtproto: send code: unexpected %T", sent)
		}
		code, err := ua.Code(ctx)
		if err != nil {
			return nil, fmt.Errorf("mtproto: login code: %w", err)
		}
		a, err := c.td.Auth().SignIn(ctx, phone, code, hash)
		if errors.Is(err, tdauth.ErrPasswordAuthNeeded) {
			return c.checkPassword(ctx, ua.Password, "mtproto: sign in")
		}
		if err != nil {
			return nil, fmt.Errorf("mtproto: sign in: %w", loginErr(err))
		}
		return a, nil
	})
}

// checkPassword completes a login that needs the 2FA password, asked of
// password, by SRP (the password never leaves the process). A failure of
// the check is wrapped as step ("mtproto: sign in") says.
func (c *Client) checkPassword(ctx context.Context, password func(context.Context) (string, error), step string) (*tdtg.AuthAuthorization, error) {
	pw, err := password(ctx)
	if err != nil {
		return nil, fmt.Errorf("mtproto: 2FA password: %w", err)
	}
	a, err := c.td.Auth().Password(ctx, pw)
	switch {
	case errors.Is(err, tdauth.ErrPasswordInvalid):
		return nil, ErrPasswordInvalid
	case err != nil:
		return nil, fmt.Errorf("%s: %w", step, loginErr(err))
	}
	return a, nil
}

// login runs one login: it refuses a store that is already logged in,
// allows a new key, and records the identity that authorize returns.
func login(ctx context.Context, store storage.Storage, opts Options, authorize func(context.Context, *Client) (*tdtg.AuthAuthorization, error)) (Identity, error) {
	row, err := store.Session()
	if err != nil {
		return Identity{}, fmt.Errorf("%w: load session: %w", ErrStore, err)
	}
	if !row.AuthKey.IsZero() && authorized(row) {
		return Identity{}, ErrAlreadyAuthorized
	}
	opts.Session.AllowNewKey = true
	c, err := NewClient(store, opts)
	if err != nil {
		return Identity{}, err
	}
	var id Identity
	err = c.Run(ctx, func(ctx context.Context) error {
		a, err := authorize(ctx, c)
		if err != nil {
			return err
		}
		u, ok := a.User.AsNotEmpty()
		if !ok {
			return errors.New("mtproto: login: server returned an empty user")
		}
		id = Identity{UserID: u.ID, IsBot: u.Bot}
		// gotd reports a new connection ready before it stores the
		// session its key exchange made (onReady precedes saveSession),
		// so a fast login can get here first.
		if err := c.sess.waitKey(ctx); err != nil {
			return err
		}
		return c.sess.setAuthorized(id, opts.APIID, opts.Server.TestMode)
	})
	if err != nil {
		return Identity{}, err
	}
	return id, nil
}

// waitKey waits until the store holds an auth key.
func (s *SessionStorage) waitKey(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		failed := s.failed
		row, err := s.store.Session()
		s.mu.Unlock()
		switch {
		case failed != nil:
			return failed
		case err != nil:
			return fmt.Errorf("%w: load session: %w", ErrStore, err)
		case !row.AuthKey.IsZero():
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// loginErr maps the RPC errors of a login to our sentinels, keeping the
// RPC error for detail.
func loginErr(err error) error {
	switch {
	case tdtgerr.Is(err, "PHONE_CODE_INVALID", "PHONE_CODE_EMPTY"):
		return fmt.Errorf("%w: %w", ErrCodeInvalid, err)
	case tdtgerr.Is(err, "PHONE_CODE_EXPIRED"):
		return fmt.Errorf("%w: %w", ErrCodeExpired, err)
	case tdtgerr.Is(err, "PHONE_NUMBER_INVALID", "PHONE_NUMBER_UNOCCUPIED", "PHONE_NUMBER_BANNED"):
		return fmt.Errorf("%w: %w", ErrPhoneInvalid, err)
	case tdtgerr.Is(err, "ACCESS_TOKEN_INVALID", "ACCESS_TOKEN_EXPIRED"):
		return fmt.Errorf("%w: %w", ErrBotTokenInvalid, err)
	}
	return err
}

// Self returns the logged-in user of a running client.
func (c *Client) Self(ctx context.Context) (Identity, error) {
	u, err := c.td.Self(ctx)
	if err != nil {
		return Identity{}, fmt.Errorf("mtproto: self: %w", sessionErr(err))
	}
	return Identity{UserID: u.ID, IsBot: u.Bot}, nil
}

// connectSelf is Self for the first check of a connect (Pool): in updates
// mode gotd makes that call itself as the connection starts, and
// connectSelf waits for its answer rather than making a second one (which
// doubled the calls of a pool's start, in the pool and on the server).
// Without updates it is Self.
func (c *Client) connectSelf(ctx context.Context) (Identity, error) {
	if c.self == nil {
		return c.Self(ctx)
	}
	select {
	case r := <-c.self:
		if r.err != nil {
			return Identity{}, fmt.Errorf("mtproto: self: %w", sessionErr(r.err))
		}
		return r.id, nil
	case <-ctx.Done():
		return Identity{}, ctx.Err()
	}
}

// noteSelf keeps the first answer of gotd's own Self that connectSelf has
// not taken yet (one Client serves one connect: later answers, of gotd's
// reconnects, are dropped).
func (c *Client) noteSelf(r selfResult) {
	select {
	case c.self <- r:
	default:
	}
}
