package mtproto

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdcrypto "github.com/gotd/td/crypto"
	tdmt "github.com/gotd/td/mt"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
)

// testDeadMan is a short switch for the tests: a ping a second, closed
// after two silent seconds.
var testDeadMan = DeadMan{Interval: time.Second, Delay: 2 * time.Second}

// tap is a dialer whose connections record every encrypted message the
// client sends (decrypted with the account's key, as the server would) and
// can be frozen like a stopped process: a frozen connection's writes never
// reach the socket, though it stays open. (They vanish rather than block:
// gotd closes a connection only after its writes returned.)
type tap struct {
	key tdcrypto.AuthKey

	mu              sync.Mutex
	conns           []*tapConn
	freezeAfterOpen bool // freeze each connection after its first encrypted message
	frozen          bool // freeze every connection now
}

type tapMsg struct {
	typeID uint32
	delay  int32 // of a ping_delay_disconnect
}

type tapConn struct {
	net.Conn
	t      *tap
	buf    []byte // bytes written and not yet parsed
	tagged bool
	msgs   []tapMsg // under t.mu
	frozen bool     // under t.mu
}

func newTap(key sessionstring.AuthKey) *tap {
	var k tdcrypto.Key
	copy(k[:], key.Bytes())
	return &tap{key: k.WithID()}
}

func (t *tap) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &tapConn{Conn: c, t: t}
	t.mu.Lock()
	t.conns = append(t.conns, tc)
	t.mu.Unlock()
	return tc, nil
}

// freeze stops every connection's writes, as SIGSTOP would.
func (t *tap) freeze() {
	t.mu.Lock()
	t.frozen = true
	t.mu.Unlock()
}

// messages returns the encrypted messages of each connection, in order.
func (t *tap) messages() [][]tapMsg {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([][]tapMsg, len(t.conns))
	for i, c := range t.conns {
		out[i] = append([]tapMsg(nil), c.msgs...)
	}
	return out
}

func (c *tapConn) Write(b []byte) (int, error) {
	c.t.mu.Lock()
	frozen := c.frozen || c.t.frozen
	c.t.mu.Unlock()
	if frozen {
		return len(b), nil // lost on the way: the server never sees it
	}
	n, err := c.Conn.Write(b)
	c.parse(b[:n])
	return n, err
}

// parse reads the intermediate transport's frames (a 4-byte tag, then a
// length and a payload each) and records the encrypted ones.
func (c *tapConn) parse(b []byte) {
	c.buf = append(c.buf, b...)
	if !c.tagged {
		if len(c.buf) < 4 {
			return
		}
		c.buf, c.tagged = c.buf[4:], true
	}
	for len(c.buf) >= 4 {
		n := int(binary.LittleEndian.Uint32(c.buf))
		if len(c.buf) < 4+n {
			return
		}
		frame := c.buf[4 : 4+n]
		c.buf = c.buf[4+n:]
		if len(frame) < 8 || binary.LittleEndian.Uint64(frame) == 0 {
			continue
		}
		m := tapMsg{}
		if d, err := tdcrypto.NewServerCipher(rand.Reader).DecryptFromBuffer(c.t.key, &tdbin.Buffer{Buf: append([]byte(nil), frame...)}); err == nil && len(d.MessageDataWithPadding) >= 4 {
			body := d.MessageDataWithPadding
			m.typeID = binary.LittleEndian.Uint32(body)
			if m.typeID == tdmt.PingDelayDisconnectRequestTypeID && len(body) >= 16 {
				m.delay = int32(binary.LittleEndian.Uint32(body[12:]))
			}
		}
		c.t.mu.Lock()
		c.msgs = append(c.msgs, m)
		if c.t.freezeAfterOpen {
			c.frozen = true
		}
		c.t.mu.Unlock()
	}
}

// deadManFixture is one seeded account on a dev server, its store and a
// tap on its connections.
type deadManFixture struct {
	srv  *devserver.Server
	seed devserver.Seed
	tap  *tap
}

func newDeadManFixture(t *testing.T) *deadManFixture {
	t.Helper()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	return &deadManFixture{srv: srv, seed: seeds[0], tap: newTap(seeds[0].Key)}
}

func (f *deadManFixture) options(dm DeadMan) Options {
	opts := serverOptions(f.srv)
	opts.Dial = f.tap.dial
	opts.DeadMan = dm
	return opts
}

// run connects a client until ctx ends, calling ready once it answered
// Self.
func (f *deadManFixture) run(t *testing.T, ctx context.Context, opts Options, ready func()) chan error {
	t.Helper()
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, f.seed.Key, f.seed.DC, f.seed.UserID)
	c, err := NewClient(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(ctx context.Context) error {
			if _, err := c.Self(ctx); err != nil {
				return err
			}
			ready()
			<-ctx.Done()
			return nil
		})
	}()
	return done
}

// waitStats polls the server's counters until ok, for at most d; it
// returns how long that took.
func waitStats(t *testing.T, srv *devserver.Server, d time.Duration, ok func(devserver.Stats) bool) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if ok(srv.Stats()) {
			return time.Since(start), true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start), ok(srv.Stats())
}

// TestDeadManPings: with a switch, each connection's first encrypted
// message is a ping_delay_disconnect asking for the switch's delay (not
// gotd's 75 s), and a live client keeps pinging: the server leaves its
// connection open past the delay.
func TestDeadManPings(t *testing.T) {
	t.Parallel()
	f := newDeadManFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan struct{})
	done := f.run(t, ctx, f.options(testDeadMan), func() { close(ready) })
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	time.Sleep(2*testDeadMan.Delay + time.Second)
	st := f.srv.Stats()
	if st.PingDisconnects != 0 || st.Open != 1 {
		t.Errorf("a pinging client: %d ping disconnects, %d open connections; want 0 and 1", st.PingDisconnects, st.Open)
	}
	if n := st.PingDelays[2]; n < 4 || len(st.PingDelays) != 1 {
		t.Errorf("delays asked: %v; want only 2 s, about once a second", st.PingDelays)
	}
	for i, msgs := range f.tap.messages() {
		if len(msgs) == 0 || msgs[0].typeID != tdmt.PingDelayDisconnectRequestTypeID || msgs[0].delay != 2 {
			t.Errorf("connection %d opened with %+v, want ping_delay_disconnect(2)", i, msgs[:min(len(msgs), 1)])
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
}

// TestDeadManClosesAStoppedClient: a client that stops writing (its
// process stopped) has its connection closed by the server once the
// switch's delay passed; without a switch (gotd's first ping comes only
// after a minute) the connection stays open. The switch arms before
// anything else: a client frozen right after its first encrypted message
// is closed too.
func TestDeadManClosesAStoppedClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		dm        DeadMan
		atOpen    bool // freeze after the first encrypted message, not once ready
		wantClose bool
	}{
		{"switch, frozen when ready", testDeadMan, false, true},
		{"switch, frozen at the first message", testDeadMan, true, true},
		{"no switch, frozen when ready", DeadMan{}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newDeadManFixture(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			f.tap.freezeAfterOpen = tc.atOpen
			opts := f.options(tc.dm)
			var frozenAt time.Time
			ready := make(chan struct{})
			done := f.run(t, ctx, opts, func() { close(ready) })
			if tc.atOpen {
				if _, ok := waitStats(t, f.srv, 30*time.Second, func(s devserver.Stats) bool { return len(s.Connections) > 0 }); !ok {
					t.Fatal("the client never used its key")
				}
			} else {
				select {
				case <-ready:
				case err := <-done:
					t.Fatal(err)
				}
				f.tap.freeze()
			}
			frozenAt = time.Now()
			d, closed := waitStats(t, f.srv, testDeadMan.Delay+2*time.Second, func(s devserver.Stats) bool { return s.PingDisconnects > 0 })
			if closed != tc.wantClose {
				t.Fatalf("server closed the frozen client's connection: %v after %v (%+v); want %v", closed, d, f.srv.Stats(), tc.wantClose)
			}
			if closed && time.Since(frozenAt) > testDeadMan.Delay+time.Second {
				t.Errorf("closed %v after the freeze, want within the delay (%v)", time.Since(frozenAt), testDeadMan.Delay)
			}
			if tc.dm != (DeadMan{}) {
				if msgs := f.tap.messages(); len(msgs) == 0 || len(msgs[0]) == 0 || msgs[0][0].typeID != tdmt.PingDelayDisconnectRequestTypeID {
					t.Errorf("the first connection opened with %+v, want the ping", msgs)
				}
			}
			cancel()
			<-done
		})
	}
}

// TestFenceSendsNothingPast: once a client's fence passed, nothing more
// reaches the server: a call fails with the connection closed unsent, and
// the reconnects are refused before they dial.
func TestFenceSendsNothingPast(t *testing.T) {
	t.Parallel()
	f := newDeadManFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	fence := NewFence()
	fence.Set(time.Now().Add(time.Hour))
	opts := f.options(testDeadMan)
	opts.Fence = fence
	opts.ConnectTimeout = 3 * time.Second
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, f.seed.Key, f.seed.DC, f.seed.UserID)
	c, err := NewClient(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	after := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(ctx context.Context) error {
			if _, err := c.Self(ctx); err != nil {
				return err
			}
			fence.Close()
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			defer ccancel()
			_, err := c.Self(cctx)
			after <- err
			<-ctx.Done()
			return nil
		})
	}()
	var callErr error
	select {
	case callErr = <-after:
	case err := <-done:
		t.Fatal(err)
	}
	if callErr == nil {
		t.Fatal("a call past the fence succeeded")
	}
	sent := f.tap.messages()
	calls := f.srv.Stats().Calls
	time.Sleep(2 * time.Second) // pings and reconnects would go out meanwhile
	if got := f.tap.messages(); len(got) != len(sent) || len(got[len(got)-1]) != len(sent[len(sent)-1]) {
		t.Errorf("the client wrote past its fence: %d connections, then %d", len(sent), len(got))
	}
	if got := f.srv.Stats().Calls; len(got) != len(calls) {
		t.Errorf("the server saw calls past the fence: %v, then %v", calls, got)
	}
	if !fence.Open() && f.srv.Stats().Open != 0 {
		// The server notices the close when it reads the FIN.
		if _, ok := waitStats(t, f.srv, 5*time.Second, func(s devserver.Stats) bool { return s.Open == 0 }); !ok {
			t.Error("the fenced connection is still open")
		}
	}
	cancel()
	<-done
}

func TestDeadManCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dm DeadMan
		ok bool
	}{
		{testDeadMan, true},
		{DeadMan{Interval: 10 * time.Second, Delay: 20 * time.Second}, true},
		{DeadMan{Interval: 500 * time.Millisecond, Delay: 2 * time.Second}, false},
		{DeadMan{Interval: time.Second, Delay: 1500 * time.Millisecond}, false},
		{DeadMan{Interval: 2 * time.Second, Delay: 3 * time.Second}, false},
	} {
		if err := tc.dm.Check(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.dm, err)
		}
	}
}

// TestEagerTicker: the first tick is at once, then one per interval.
func TestEagerTicker(t *testing.T) {
	t.Parallel()
	// start before the ticker: its ticks are counted from its creation, so
	// a start taken after it could see three ticks in a hair under 100ms.
	start := time.Now()
	tk := deadManClock{interval: 50 * time.Millisecond}.Ticker(gotdPingInterval)
	defer tk.Stop()
	for i := range 3 {
		select {
		case <-tk.C():
		case <-time.After(5 * time.Second):
			t.Fatalf("tick %d never came", i)
		}
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 3*time.Second {
		t.Errorf("three ticks in %v, want about 100ms", d)
	}
	other := deadManClock{interval: 50 * time.Millisecond}.Ticker(time.Hour)
	defer other.Stop()
	select {
	case <-other.C():
		t.Error("a ticker other than the ping loop's ticked at once")
	case <-time.After(100 * time.Millisecond):
	}
}

// pingMessage encrypts a ping_delay_disconnect as gotd's client would.
func pingMessage(t testing.TB, key tdcrypto.AuthKey, delay int) (*tdbin.Buffer, tdcrypto.EncryptedMessageData) {
	t.Helper()
	data := tdcrypto.EncryptedMessageData{Salt: 11, SessionID: 22, MessageID: 33 << 2, SeqNo: 4,
		Message: &tdmt.PingDelayDisconnectRequest{PingID: 55, DisconnectDelay: delay}}
	var b tdbin.Buffer
	if err := tdcrypto.NewClientCipher(rand.Reader).Encrypt(key, data, &b); err != nil {
		t.Fatal(err)
	}
	return &b, data
}

// TestRewritePing: the rewritten ping is gotd's message with only the
// delay changed, under a fresh msg_key the server accepts; anything else
// is left alone.
func TestRewritePing(t *testing.T) {
	t.Parallel()
	tp := newTap(mttest.RandomKey(t))
	c := &deadManConn{delay: 7}
	b, sent := pingMessage(t, tp.key, 75)
	ok, err := c.rewritePing(tp.key, b)
	if err != nil || !ok {
		t.Fatalf("rewritePing = %v, %v", ok, err)
	}
	got, err := tdcrypto.NewServerCipher(rand.Reader).DecryptFromBuffer(tp.key, &tdbin.Buffer{Buf: b.Copy()})
	if err != nil {
		t.Fatalf("the server cannot decrypt the rewritten ping: %v", err)
	}
	var p tdmt.PingDelayDisconnectRequest
	if err := p.Decode(&tdbin.Buffer{Buf: got.Data()}); err != nil {
		t.Fatal(err)
	}
	if p.DisconnectDelay != 7 || p.PingID != 55 || got.Salt != sent.Salt || got.SessionID != sent.SessionID ||
		got.MessageID != sent.MessageID || got.SeqNo != sent.SeqNo {
		t.Errorf("rewritten: %+v %+v, want gotd's message with delay 7", got, p)
	}
	// Not a ping: untouched.
	var other tdbin.Buffer
	if err := tdcrypto.NewClientCipher(rand.Reader).Encrypt(tp.key, tdcrypto.EncryptedMessageData{Salt: 1, SessionID: 2, MessageID: 4,
		Message: &tdmt.PingRequest{PingID: 9}}, &other); err != nil {
		t.Fatal(err)
	}
	before := other.Copy()
	if ok, err := c.rewritePing(tp.key, &other); ok || err != nil || string(other.Raw()) != string(before) {
		t.Errorf("a plain ping was rewritten: %v %v", ok, err)
	}
}

// BenchmarkDeadManRewrite: the cost of rewriting one ping (a decrypt and
// an encrypt of a ~100-byte message), paid once per ping interval per
// connection.
func BenchmarkDeadManRewrite(b *testing.B) {
	key := newTap(mttest.RandomKey(b)).key
	msg, _ := pingMessage(b, key, 75)
	raw := msg.Copy()
	c := &deadManConn{delay: 15}
	var buf tdbin.Buffer
	for b.Loop() {
		buf.ResetTo(append(buf.Buf[:0], raw...))
		if ok, err := c.rewritePing(key, &buf); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
