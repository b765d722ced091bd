package mtproto

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// Status is an account's state in a Pool.
type Status int

// The states of an account in a Pool. Final states are not retried.
const (
	StatusWaiting       Status = iota // waiting for a connect slot
	StatusConnecting                  // connecting and checking the login
	StatusReady                       // connected and logged in
	StatusRetrying                    // a transient failure; back-off running
	StatusUnauthorized                // final: 401 (revoked, logged out)
	StatusKeyLost                     // final: the server lost the key, or gotd tried to replace it
	StatusDuplicated                  // final: AUTH_KEY_DUPLICATED
	StatusNoSession                   // final: no usable key in the store
	StatusFailed                      // final: store error or identity mismatch
	StatusStopped                     // final: the pool stopped
	StatusProxyAuth                   // final: the account's proxy refused its login (ErrProxyAuth)
	StatusDuplicateWait               // AUTH_KEY_DUPLICATED under Options.DuplicateWait: waiting to try again
	StatusUnreachable                 // the server's address refuses connections or cannot be reached (ErrUnreachable); back-off running
)

var statusNames = [...]string{"waiting", "connecting", "ready", "retrying", "unauthorized", "key_lost", "duplicated", "no_session", "failed", "stopped", "proxy_auth", "duplicate_wait", "unreachable"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("status(%d)", int(s))
	}
	return statusNames[s]
}

// Final reports whether the pool gives up on an account in this state.
func (s Status) Final() bool {
	return s >= StatusUnauthorized && s != StatusDuplicateWait && s != StatusUnreachable
}

// DuplicateTries is how many connects in a row must meet
// AUTH_KEY_DUPLICATED, Options.DuplicateWait apart, before a Pool gives the
// account up (StatusDuplicated).
const DuplicateTries = 3

// DefaultMaxConnecting is PoolOptions.MaxConnecting when zero: enough
// connects in flight to hide the round trips of each (a TCP handshake and
// the first call: 10,000 accounts 100 ms from Telegram would take over two
// minutes eight at a time, twenty seconds at 64), few enough not to open
// thousands of connections in the same instant.
const DefaultMaxConnecting = 64

// DefaultKeepAlive is PoolOptions.KeepAlive when zero.
const DefaultKeepAlive = 20 * time.Minute

// PoolOptions configure a Pool.
type PoolOptions struct {
	// Client configures every account's client. Session.AllowNewKey is
	// ignored: a pool never creates keys.
	Client Options
	// MaxConnecting bounds the connects in flight (DefaultMaxConnecting
	// when zero).
	MaxConnecting int
	// MaxBackoff caps the per-account back-off after transient failures
	// (5 minutes when zero); it starts at one second and doubles.
	// FLOOD_WAIT waits at least as long as the server asks.
	MaxBackoff time.Duration
	// KeepAlive is the mean interval of the keep-alive call
	// (updates.getState) of a ready account, so that Telegram does not
	// expire an idle session; each wait is jittered by ±20% so that many
	// accounts do not call at once. DefaultKeepAlive when zero; negative
	// turns keep-alives off.
	KeepAlive time.Duration
	// Methods is the local API's policy of refused methods (nil: the
	// default list, tljson.RefusedMethod); run's --allow and --deny make it.
	Methods *tljson.MethodPolicy
	// OnStatus, when set, is called on every state change of an account,
	// from the account's goroutine (never concurrently for one account).
	OnStatus func(name string, s Status, err error)
}

// Pool keeps many accounts connected, one client per account, with
// bounded concurrent connects and per-account back-off. It never creates
// an auth key: an account whose key is refused, lost or revoked is marked
// with a final Status and left alone.
//
// Pool is safe for concurrent use.
type Pool struct {
	opts    PoolOptions
	sem     chan struct{}
	metrics *poolMetrics

	mu       sync.Mutex
	accounts map[string]*poolAccount
	ctx      context.Context // set while Run runs
	wg       sync.WaitGroup
}

type poolAccount struct {
	name    string
	store   storage.Storage
	status  Status
	err     error
	client  *Client
	opts    *Options      // the account's own client options (AddClient), else nil
	changed chan struct{} // closed and replaced on every change
	hub     *updateHub    // the account's update subscribers, across reconnects
	retry   chan struct{} // a call's nudge: end an unreachable account's back-off now (Do)

	// Set by start for one Run: cancel stops the account's goroutine,
	// done is closed once it returned (its client's Run returned first).
	cancel   context.CancelFunc
	done     chan struct{}
	removing bool // Remove was called; the account leaves once stopped

	dcKeysMu sync.Mutex // around the relay's read-modify-write of MetaDCKeys (relayaccount.go)
}

// Methods is the pool's refused-method policy (PoolOptions.Methods; nil
// for the default list).
func (p *Pool) Methods() *tljson.MethodPolicy { return p.opts.Methods }

// NewPool makes an empty pool.
func NewPool(opts PoolOptions) *Pool {
	if opts.MaxConnecting <= 0 {
		opts.MaxConnecting = DefaultMaxConnecting
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	opts.Client.Session.AllowNewKey = false
	return &Pool{opts: opts, sem: make(chan struct{}, opts.MaxConnecting), metrics: &poolMetrics{}, accounts: map[string]*poolAccount{}}
}

// Add puts an account in the pool; if Run is running it starts connecting
// at once. The store stays owned by the caller, who closes it after Run
// returns (or after Remove returned nil). A name may be added again once
// Remove took it out; while a Remove still waits for its client to stop,
// Add fails with ErrAccountRemoving.
func (p *Pool) Add(name string, store storage.Storage) error {
	return p.add(name, store, nil)
}

// AddClient is Add for an account with its own client options (its server
// and api id) instead of PoolOptions.Client. Session.AllowNewKey is ignored:
// a pool never creates keys.
func (p *Pool) AddClient(name string, store storage.Storage, opts Options) error {
	opts.Session.AllowNewKey = false
	return p.add(name, store, &opts)
}

func (p *Pool) add(name string, store storage.Storage, opts *Options) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.accounts[name]; ok {
		if a.removing {
			return ErrAccountRemoving
		}
		return errors.New("mtproto: account added twice")
	}
	a := &poolAccount{name: name, store: store, opts: opts, changed: make(chan struct{}), hub: newUpdateHub(), retry: make(chan struct{}, 1)}
	p.accounts[name] = a
	if p.ctx != nil {
		p.start(p.ctx, a)
	}
	return nil
}

// Run connects every account and keeps them connected until ctx ends, then
// disconnects them all and returns.
func (p *Pool) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.ctx != nil {
		p.mu.Unlock()
		return errors.New("mtproto: pool already running")
	}
	p.ctx = ctx
	for _, a := range p.accounts {
		if !a.removing {
			p.start(ctx, a)
		}
	}
	p.mu.Unlock()
	<-ctx.Done()
	p.wg.Wait()
	p.mu.Lock()
	p.ctx = nil
	p.mu.Unlock()
	return nil
}

// start runs the account under its own context, derived from Run's, so
// that Remove can stop it alone. The caller holds p.mu.
func (p *Pool) start(ctx context.Context, a *poolAccount) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	a.cancel, a.done = cancel, done
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		p.runAccount(ctx, a)
		close(done)
		p.forget(a)
	}()
}

// Remove takes an account out of the pool: it stops the account's client,
// waits until the client's Run returned, then deletes the account, so that
// Status and Do answer ErrUnknownAccount and the name may be added again.
// The account's update streams end ("removed") and a Do waiting for it
// returns ErrUnknownAccount at once.
//
// When Remove returns nil, every connection of the account is closed: the
// same key may be used from elsewhere without AUTH_KEY_DUPLICATED. When
// ctx ends first, Remove returns ctx.Err() and the account goes on
// stopping in the background; until it has, its name stays taken (Add
// fails with ErrAccountRemoving) and another Remove waits again. Remove of
// a name not in the pool fails with ErrUnknownAccount. Remove is safe to
// call concurrently, for the same name too, and while Run is not running.
func (p *Pool) Remove(ctx context.Context, name string) error {
	return p.RemoveAll(ctx, []string{name})
}

// RemoveAll is Remove for many accounts at once: it stops them all, then
// waits for them all, so that its time is that of the slowest one, not the
// sum. Names not in the pool are skipped and make it return
// ErrUnknownAccount once the others are removed. When it returns nil,
// every connection of every named account is closed; when ctx ends first
// it returns ctx.Err() and the rest stop in the background, as with
// Remove.
func (p *Pool) RemoveAll(ctx context.Context, names []string) error {
	var unknown bool
	removing := make([]*poolAccount, 0, len(names))
	p.mu.Lock()
	for _, name := range names {
		a, ok := p.accounts[name]
		if !ok {
			unknown = true
			continue
		}
		if !a.removing {
			a.removing = true
			p.metrics.removals.Add(1)
			// Before the stop, which would drop the streams as "stopped".
			a.hub.shut(dropRemoved)
			if a.cancel != nil {
				a.cancel()
			}
			// Wake the account's waiting Do calls: it is gone for them.
			close(a.changed)
			a.changed = make(chan struct{})
		}
		if a.running() {
			removing = append(removing, a) // a.done stays: a removing account never restarts
		} else {
			delete(p.accounts, name)
		}
	}
	p.mu.Unlock()
	for _, a := range removing {
		select {
		case <-a.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.forget(a)
	}
	if unknown {
		return ErrUnknownAccount
	}
	return nil
}

// running reports whether a's goroutine runs; the caller holds p.mu.
func (a *poolAccount) running() bool {
	if a.done == nil {
		return false // never started
	}
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// forget deletes a removed account whose goroutine is not running; it does
// nothing for an account still running or not being removed, and is safe
// to call more than once.
func (p *Pool) forget(a *poolAccount) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.removing && !a.running() && p.accounts[a.name] == a {
		delete(p.accounts, a.name)
	}
}

// Status returns an account's state and the error that put it there.
func (p *Pool) Status(name string) (Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.accounts[name]
	if !ok {
		return 0, ErrUnknownAccount
	}
	return a.status, a.err
}

// Do waits until the account is ready and calls f with its client. It
// fails at once for an account in a final state.
func (p *Pool) Do(ctx context.Context, name string, f func(ctx context.Context, c *Client) error) error {
	nudged := false
	for {
		p.mu.Lock()
		a, ok := p.accounts[name]
		if !ok || a.removing {
			p.mu.Unlock()
			return ErrUnknownAccount
		}
		st, err, c, changed := a.status, a.err, a.client, a.changed
		p.mu.Unlock()
		switch {
		case st == StatusReady:
			return f(ctx, c)
		case st.Final(), st == StatusUnreachable && nudged:
			if err == nil {
				return fmt.Errorf("mtproto: account %s", st)
			}
			return fmt.Errorf("mtproto: account %s: %w", st, err)
		case st == StatusUnreachable:
			// Try once more now rather than after the back-off (the
			// server may be back); unreachable again, the call fails.
			nudged = true
			select {
			case a.retry <- struct{}{}:
			default:
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			// Say what the account was doing, not only that time ran out.
			if err != nil {
				return fmt.Errorf("mtproto: account still %s (%w): %w", st, err, ctx.Err())
			}
			return fmt.Errorf("mtproto: account still %s: %w", st, ctx.Err())
		}
	}
}

// Connecting returns how many accounts wait for a connect slot or are
// connecting.
func (p *Pool) Connecting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.accounts {
		if a.status == StatusWaiting || a.status == StatusConnecting {
			n++
		}
	}
	return n
}

func (p *Pool) set(a *poolAccount, s Status, err error, c *Client) {
	p.mu.Lock()
	a.status, a.err, a.client = s, err, c
	close(a.changed)
	a.changed = make(chan struct{})
	p.mu.Unlock()
	if s.Final() {
		// No update will come any more: end the account's streams.
		a.hub.closeAll(s.String())
	}
	if p.opts.OnStatus != nil {
		p.opts.OnStatus(a.name, s, err)
	}
}

// runAccount keeps one account connected until ctx ends or it is removed:
// it waits for NotBefore, connects, retries with backoff, and reports each
// status.
//
// Long: the loop is the account's state machine (waiting, connecting,
// ready, duplicate wait, retrying or unreachable, stopped); every status
// change sits where it happens, and reads as one machine here.
func (p *Pool) runAccount(ctx context.Context, a *poolAccount) {
	backoff := time.Second
	opts := p.opts.Client
	if a.opts != nil {
		opts = *a.opts
	}
	if !p.sleep(ctx, a, StatusWaiting, nil, time.Until(opts.NotBefore)) {
		return
	}
	duplicates := 0 // connects in a row that met AUTH_KEY_DUPLICATED
	for {
		p.set(a, StatusWaiting, nil, nil)
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			p.set(a, StatusStopped, nil, nil)
			return
		}
		var once sync.Once
		release := func() { once.Do(func() { <-p.sem }) }
		p.set(a, StatusConnecting, nil, nil)
		p.metrics.connectAttempts.Add(1)

		opts := opts
		opts.metrics = p.metrics
		opts.onUpdates = a.hub.handle
		c, err := NewClient(a.store, opts)
		if err == nil {
			err = c.Run(ctx, func(ctx context.Context) error {
				id, err := c.connectSelf(ctx)
				if err == nil {
					err = c.sess.recordIdentity(id, c.test, !c.custom)
				}
				if err != nil {
					return err
				}
				p.metrics.connects.Add(1)
				p.set(a, StatusReady, nil, c)
				release()
				backoff = time.Second
				duplicates = 0
				return p.keepAlive(ctx, c)
			})
		}
		if ctx.Err() != nil {
			release()
			p.set(a, StatusStopped, nil, nil)
			return
		}
		st := classify(err)
		if st == StatusDuplicated && opts.DuplicateWait > 0 {
			if duplicates++; duplicates < DuplicateTries {
				release()
				p.metrics.duplicateWaits.Add(1)
				if !p.sleep(ctx, a, StatusDuplicateWait, err, opts.DuplicateWait) {
					return
				}
				continue
			}
			err = fmt.Errorf("%w (on %d connects in a row, %v apart)", err, duplicates, opts.DuplicateWait)
		}
		if st.Final() {
			p.set(a, st, err, nil)
			release()
			return
		}
		p.set(a, st, err, nil) // StatusRetrying or StatusUnreachable
		release()
		wait := backoff
		if d, ok := tdtgerr.AsFloodWait(err); ok && d > wait {
			wait = d
		}
		backoff = min(backoff*2, p.opts.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-a.retry:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			p.set(a, StatusStopped, nil, nil)
			return
		}
	}
}

// sleep puts the account in state st (with err) for d, and reports
// whether it may go on: false when ctx ended first (the account is then
// stopped).
func (p *Pool) sleep(ctx context.Context, a *poolAccount, st Status, err error, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	p.set(a, st, err, nil)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		p.set(a, StatusStopped, nil, nil)
		return false
	}
}

// keepAlive calls updates.getState on a ready client every KeepAlive
// (jittered) until ctx ends. A call that says the session is dead ends the
// client with that error (the account goes final); other failures are
// left to gotd's reconnects and the connect deadline, and the next
// keep-alive tries again.
func (p *Pool) keepAlive(ctx context.Context, c *Client) error {
	if p.opts.KeepAlive < 0 {
		<-ctx.Done()
		return nil
	}
	for {
		t := time.NewTimer(jitter(p.opts.KeepAlive))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		_, err := c.API().UpdatesGetState(ctx)
		switch {
		case err == nil:
			p.metrics.keepAlives.Add(1)
			continue
		case ctx.Err() != nil:
			return nil
		}
		p.metrics.keepAliveErrors.Add(1)
		if err := sessionErr(err); errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrKeyDuplicated) {
			return fmt.Errorf("mtproto: keep-alive: %w", err)
		}
	}
}

// jitter returns d ±20%, uniformly.
func jitter(d time.Duration) time.Duration {
	spread := int64(d) * 2 / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread))
}

// classify maps a client's failure to the account's next state.
func classify(err error) Status {
	switch {
	case errors.Is(err, ErrKeyLost):
		return StatusKeyLost
	case errors.Is(err, ErrUnauthorized):
		return StatusUnauthorized
	case errors.Is(err, ErrKeyDuplicated):
		return StatusDuplicated
	case errors.Is(err, ErrNoSession), errors.Is(err, ErrNewKeyRefused):
		return StatusNoSession
	case errors.Is(err, ErrIdentityMismatch), errors.Is(err, ErrCorruptSession), errors.Is(err, ErrStore):
		return StatusFailed
	case errors.Is(err, ErrProxyAuth):
		// A wrong proxy password stays wrong: not retried until the
		// account's proxy URL is fixed and the account added again.
		return StatusProxyAuth
	case errors.Is(err, ErrUnreachable):
		return StatusUnreachable
	case errors.Is(err, ErrConnectTimeout):
		return StatusRetrying
	case err == nil:
		// Run ended without an error and without our context ending: try
		// again.
		return StatusRetrying
	}
	return StatusRetrying
}

// recordIdentity checks who the server says the account is against the
// store, and records what the store did not know (an imported Telethon
// session has no user id or bot flag; a session on an address outside
// Telegram's table has no test mode): the user id and bot flag of id, and
// the environment: test, the one the client connected to and that
// accepted the key, or, on Telegram's DCs (telegram), the one of the
// config the server sent on this connect. A custom server's config says
// nothing about Telegram's environments. It is a normal save of the
// store. A known field the server contradicts is never overwritten: the
// error wraps ErrIdentityMismatch and names the field (a wrong session,
// or a wrong field).
func (s *SessionStorage) recordIdentity(id Identity, test, telegram bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	row, err := s.store.Session()
	if err != nil {
		return fmt.Errorf("%w: load session: %w", ErrStore, err)
	}
	if m, err := s.loadMeta(); telegram && err == nil && m.Config != nil && m.Config.Date != 0 {
		test = m.Config.TestMode
	}
	if uid, ok := row.UserID.Get(); ok && uid != id.UserID {
		return fmt.Errorf("%w: the vault says user %d, the server user %d", ErrIdentityMismatch, uid, id.UserID)
	}
	if bot, ok := row.IsBot.Get(); ok && bot != id.IsBot {
		return fmt.Errorf("%w: the vault says is_bot %v, the server %v", ErrIdentityMismatch, bot, id.IsBot)
	}
	if t, ok := row.TestMode.Get(); ok && t != test {
		return fmt.Errorf("%w: the vault says test_mode %v, the server %v", ErrIdentityMismatch, t, test)
	}
	if row.UserID.Known() && row.IsBot.Known() && row.TestMode.Known() {
		return nil
	}
	row.UserID = sessionstring.Some(id.UserID)
	row.IsBot = sessionstring.Some(id.IsBot)
	row.TestMode = sessionstring.Some(test)
	if err := s.store.SetSession(row); err != nil {
		return fmt.Errorf("%w: store session: %w", ErrStore, err)
	}
	return nil
}
