package mtproto

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdclock "github.com/gotd/td/clock"
	tdcrypto "github.com/gotd/td/crypto"
	tdmt "github.com/gotd/td/mt"
	tddcs "github.com/gotd/td/telegram/dcs"
	tdtransport "github.com/gotd/td/transport"
)

// DeadMan is a server-enforced dead-man switch on every connection of a
// client (Options.DeadMan). Telegram closes a connection whose client
// stops sending ping_delay_disconnect within the delay the last one asked
// for; so every connection sends one every Interval asking for Delay, and
// the first goes out before any other encrypted message, so that no
// connection is ever bound to the key without the switch armed. A process
// that stops with connections open (SIGSTOP, a paused VM, a debugger) has
// them closed by the server at most Delay after its last ping, whatever
// becomes of the process: that is how long another process must wait
// before it may use the key.
//
// gotd v0.162.0's telegram.Client pings every minute asking for 75 s, and
// its first ping only a minute after connecting; it takes no option for
// either. The client makes gotd's ping loop tick at once and then every
// Interval (through the clock gotd takes as an option), and rewrites the
// delay of each ping_delay_disconnect gotd sends, re-encrypting the
// message with the session's key; the message is otherwise gotd's own
// (its msg_id, seqno, salt and ping id).
type DeadMan struct {
	// Interval is how often each connection pings (at least a second).
	Interval time.Duration
	// Delay is the disconnect delay asked of the server, in whole seconds
	// (at least twice Interval, so that one late ping is no loss).
	Delay time.Duration
}

// Check reports a switch that cannot work.
func (d DeadMan) Check() error {
	switch {
	case d.Interval < time.Second:
		return fmt.Errorf("mtproto: dead-man switch: a ping interval of %v is under a second", d.Interval)
	case d.Delay%time.Second != 0 || d.Delay/time.Second > math.MaxInt32:
		return fmt.Errorf("mtproto: dead-man switch: the disconnect delay %v is not a whole number of seconds", d.Delay)
	case d.Delay < 2*d.Interval:
		return fmt.Errorf("mtproto: dead-man switch: a disconnect delay of %v is under twice the ping interval %v", d.Delay, d.Interval)
	}
	return nil
}

// gotdPingInterval is the ping interval of gotd's mtproto connections when
// its options leave it zero, as telegram.Client does: the clock recognises
// the ping loop's ticker by it.
const gotdPingInterval = time.Minute

// armTimeout bounds how long a connection holds its first messages for the
// first ping (which gotd's ping loop sends at once): a connection whose
// switch does not arm by then is closed.
const armTimeout = 10 * time.Second

// errNotArmed: a connection's first ping did not come.
var errNotArmed = errors.New("mtproto: the connection's dead-man switch was not armed in time")

// deadManClock is gotd's system clock, except that the ping loop's ticker
// ticks at once and then every interval.
type deadManClock struct{ interval time.Duration }

var _ tdclock.Clock = deadManClock{}

func (deadManClock) Now() time.Time                      { return time.Now() }
func (deadManClock) Timer(d time.Duration) tdclock.Timer { return tdclock.System.Timer(d) }

func (c deadManClock) Ticker(d time.Duration) tdclock.Ticker {
	if d != gotdPingInterval {
		return tdclock.System.Ticker(d)
	}
	return newEagerTicker(c.interval)
}

// eagerTicker is a ticker whose first tick is at once.
type eagerTicker struct {
	c chan time.Time

	mu       sync.Mutex
	t        *time.Timer
	interval time.Duration
	stopped  bool
}

func newEagerTicker(interval time.Duration) *eagerTicker {
	t := &eagerTicker{c: make(chan time.Time, 1), interval: interval}
	t.c <- time.Now()
	t.mu.Lock()
	t.t = time.AfterFunc(interval, t.tick)
	t.mu.Unlock()
	return t
}

func (t *eagerTicker) tick() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	select {
	case t.c <- time.Now():
	default: // the loop is behind: drop the tick, as time.Ticker does
	}
	t.t.Reset(t.interval)
}

func (t *eagerTicker) C() <-chan time.Time { return t.c }

func (t *eagerTicker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.t.Stop()
}

func (t *eagerTicker) Reset(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.interval, t.stopped = d, false
	t.t.Reset(d)
}

// deadManResolver wraps the resolver so that every connection of the
// account's key is a deadManConn.
type deadManResolver struct {
	inner tddcs.Resolver
	sess  *SessionStorage
	delay int32 // seconds
}

var _ tddcs.Resolver = deadManResolver{}

func (r deadManResolver) Primary(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	return r.wrap(r.inner.Primary(ctx, dc, list))
}

func (r deadManResolver) MediaOnly(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	return r.wrap(r.inner.MediaOnly(ctx, dc, list))
}

// CDN connections use keys of their own, never the stored one.
func (r deadManResolver) CDN(ctx context.Context, dc int, list tddcs.List) (tdtransport.Conn, error) {
	return r.inner.CDN(ctx, dc, list)
}

func (r deadManResolver) wrap(c tdtransport.Conn, err error) (tdtransport.Conn, error) {
	if err != nil {
		return nil, err
	}
	return &deadManConn{Conn: c, sess: r.sess, delay: r.delay, armed: make(chan struct{})}, nil
}

// deadManConn rewrites the delay of every ping_delay_disconnect sent with
// the account's key, and holds the other messages sent with that key until
// the first such ping went out. Messages under other keys (another DC's,
// which gotd keeps in memory) and unencrypted ones (a key exchange) pass as
// they are.
type deadManConn struct {
	tdtransport.Conn
	sess  *SessionStorage
	delay int32

	keyOnce sync.Once
	key     tdcrypto.AuthKey // the account's key, loaded at the first message
	keyOK   bool

	once  sync.Once
	armed chan struct{}
}

// pingSize is the largest encrypted message a ping_delay_disconnect can
// be: auth_key_id, msg_key, and the 32-byte header with the 16-byte ping,
// padded by gotd with at most 28 + 240 bytes (crypto.countPadding).
const pingSize = 8 + 16 + 32 + 16 + 28 + 240

func (c *deadManConn) Send(ctx context.Context, b *tdbin.Buffer) error {
	raw := b.Raw()
	if len(raw) < 8 || binary.LittleEndian.Uint64(raw) == 0 {
		return c.Conn.Send(ctx, b) // unencrypted: the key exchange
	}
	c.keyOnce.Do(func() { c.key, c.keyOK = c.sess.gotdKey() })
	key := c.key
	if !c.keyOK || binary.LittleEndian.Uint64(raw) != uint64(key.IntID()) {
		return c.Conn.Send(ctx, b)
	}
	if len(raw) <= pingSize {
		ping, err := c.rewritePing(key, b)
		if err != nil {
			return err
		}
		if ping {
			err := c.Conn.Send(ctx, b)
			c.once.Do(func() { close(c.armed) })
			return err
		}
	}
	select {
	case <-c.armed:
	default:
		t := time.NewTimer(armTimeout)
		defer t.Stop()
		select {
		case <-c.armed:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			_ = c.Conn.Close()
			return errNotArmed
		}
	}
	return c.Conn.Send(ctx, b)
}

// rewritePing reports whether b is a ping_delay_disconnect, and if so
// re-encrypts it in place asking for the connection's delay.
func (c *deadManConn) rewritePing(key tdcrypto.AuthKey, b *tdbin.Buffer) (bool, error) {
	// The server's cipher decrypts what a client sent.
	msg, err := tdcrypto.NewServerCipher(rand.Reader).DecryptFromBuffer(key, &tdbin.Buffer{Buf: b.Copy()})
	if err != nil {
		return false, nil // not ours to judge: the server will
	}
	body := msg.MessageDataWithPadding
	const n = 4 + 8 + 4 // constructor, ping_id, disconnect_delay
	if msg.MessageDataLen != n || len(body) < n || binary.LittleEndian.Uint32(body) != tdmt.PingDelayDisconnectRequestTypeID {
		return false, nil
	}
	out := *msg
	out.MessageDataWithPadding = append([]byte(nil), body[:n]...)
	binary.LittleEndian.PutUint32(out.MessageDataWithPadding[12:], uint32(c.delay))
	var enc tdbin.Buffer
	if err := tdcrypto.NewClientCipher(rand.Reader).Encrypt(key, out, &enc); err != nil {
		return false, fmt.Errorf("mtproto: re-encrypting a ping: %w", err)
	}
	b.ResetTo(enc.Buf)
	return true, nil
}
