package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"
	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// stuckProxy is a TCP proxy between one relay client and the relay that
// passes the client's bytes on but, once stop is called, never reads the
// relay's again: the relay's writes to that connection block once the
// kernel's buffers fill, as with a client that sends calls and never
// reads the answers.
type stuckProxy struct {
	ln      net.Listener
	relayed chan net.Conn // the relay-side connection, once accepted
	stopped chan struct{}
	once    sync.Once
	// read counts the bytes of the relay passed on before stop.
	read atomic.Int64
}

func newStuckProxy(t *testing.T, relayAddr string) *stuckProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stuckProxy{ln: ln, relayed: make(chan net.Conn, 1), stopped: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		// One connection only: a client that reconnects must not make a
		// new relay connection the test would count.
		cc, err := ln.Accept()
		_ = ln.Close()
		if err != nil {
			return
		}
		rc, err := net.Dial("tcp", relayAddr)
		if err != nil {
			_ = cc.Close()
			return
		}
		t.Cleanup(func() { _ = cc.Close(); _ = rc.Close() })
		// A small receive buffer: the relay's writes block sooner.
		_ = rc.(*net.TCPConn).SetReadBuffer(4096)
		p.relayed <- rc
		// Client to relay, until either side ends; the relay side stays
		// open (no FIN), so the relay only learns of a client gone by its
		// timeouts; the client's side closes when the relay's does.
		wg.Go(func() {
			_, _ = io.Copy(rc, cc)
			_ = cc.Close()
		})
		// Relay to client, until stop.
		buf := make([]byte, 32<<10)
		for {
			n, err := rc.Read(buf)
			if n > 0 {
				p.read.Add(int64(n))
				if _, werr := cc.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	return p
}

func (p *stuckProxy) addr() string { return p.ln.Addr().String() }

// stop makes the proxy read nothing more from the relay.
func (p *stuckProxy) stop(rc net.Conn) {
	p.once.Do(func() {
		close(p.stopped)
		_ = rc.SetReadDeadline(time.Unix(1, 0))
	})
}

// TestRelayNeverReads: a relay client that sends calls but never reads
// the answers does not stop the account's other relay session, and the
// relay drops that connection once a write to it has blocked for
// Config.IOTimeout (issue 19's reliability case).
func TestRelayNeverReads(t *testing.T) {
	t.Parallel()
	ioTimeout := 2 * time.Second
	if raceEnabled {
		ioTimeout = 4 * time.Second
	}
	f := newRelayFixtureOn(t, mttest.StartServer(t, devserver.Options{}), func(c *Config) { c.IOTimeout = ioTimeout })
	ctx := t.Context()
	good, err := f.relay.Mint(ctx, MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	// No call-rate cap: the bad client may send as many calls as it likes.
	bad, err := f.relay.Mint(ctx, MintRequest{Account: "alice", Policy: Policy{CallRate: -1}})
	if err != nil {
		t.Fatal(err)
	}
	getSelf := wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}}))
	call := func(u *upstream, ctx context.Context) error {
		_, err := u.Invoke(ctx, getSelf)
		return err
	}
	conns := func(id string) int {
		for _, s := range f.relay.Sessions() {
			if s.ID == id {
				return s.Connections
			}
		}
		return 0
	}

	// The bad client, through the proxy: one call answered while the
	// proxy still reads, so the relay has bound the connection.
	proxy := newStuckProxy(t, bad.addr())
	flooder, err := dialUpstream(ctx, upstreamConfig{DC: bad.DC, Key: bad.Key, Timeout: testTimeout(), Dial: func(ctx context.Context, _ int) (tdtransport.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", proxy.addr())
		if err != nil {
			return nil, err
		}
		return tdtransport.Intermediate.Handshake(c)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer flooder.Close()
	if err := call(flooder, ctx); err != nil {
		t.Fatalf("the bad client's first call, before the proxy stops reading: %v", err)
	}
	var rc net.Conn
	select {
	case rc = <-proxy.relayed:
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	if n := conns(bad.ID); n != 1 {
		t.Fatalf("the bad session has %d connections at the relay, want 1", n)
	}

	// The good client, straight to the relay (dialled now: a connection
	// idle for IOTimeout is dropped, and this one calls without pause).
	client, err := dialUpstream(ctx, upstreamConfig{DC: good.DC, Key: good.Key, Dial: devDial(map[int]string{good.DC: good.addr()}), Timeout: testTimeout()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := call(client, ctx); err != nil {
		t.Fatal(err)
	}

	// The flood: many calls at once, each with a large answer (the
	// account's own user a thousand times over, 64 KB) that is never
	// read: the answers fill the kernel's buffers and the relay's writes
	// to the connection block. The relay reads at most maxInFlight of
	// them and then stops reading, so no read timeout can drop the
	// connection: only the write timeout can.
	selves := make([]tdtg.InputUserClass, 1000)
	for i := range selves {
		selves[i] = &tdtg.InputUserSelf{}
	}
	bigQuery := wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.UsersGetUsersRequest{ID: selves}))
	proxy.stop(rc)
	floodStart := time.Now()
	floodCtx, stopFlood := context.WithCancel(ctx)
	var sent atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopFlood()
	for range 4 * maxInFlight {
		wg.Go(func() {
			sent.Add(1)
			_, _ = flooder.Invoke(floodCtx, bigQuery)
		})
	}

	// The good session answers, each call within goodWithin, during the
	// flood, while the relay's writes to the bad connection block, and
	// after the relay drops it.
	goodWithin := 5 * time.Second
	if raceEnabled {
		goodWithin = 15 * time.Second
	}
	var slowest time.Duration
	var goodCalls int
	goodCall := func(when string) {
		t.Helper()
		// Paced under the session's call-rate cap (DefaultCallRate).
		time.Sleep(time.Second / (DefaultCallRate / 2))
		cctx, cancel := context.WithTimeout(ctx, goodWithin)
		defer cancel()
		start := time.Now()
		if err := call(client, cctx); err != nil {
			t.Fatalf("good call %d %s (%s into the flood): %v", goodCalls, when, time.Since(floodStart).Round(time.Millisecond), err)
		}
		slowest = max(slowest, time.Since(start))
		goodCalls++
	}
	deadline := floodStart.Add(ioTimeout + testTimeout())
	var dropped time.Duration
	for dropped == 0 {
		goodCall("during the flood")
		if conns(bad.ID) == 0 {
			dropped = time.Since(floodStart)
		} else if time.Now().After(deadline) {
			t.Fatalf("the relay kept the connection that never reads for %s (IOTimeout %s); %d calls made on it", time.Since(floodStart).Round(time.Millisecond), ioTimeout, sent.Load())
		}
	}
	if dropped < ioTimeout {
		t.Errorf("the relay dropped the connection %s into the flood, before IOTimeout %s: not by a blocked write", dropped, ioTimeout)
	}
	for range 10 {
		goodCall("after the relay dropped the bad connection")
	}
	stopFlood()
	flooder.Close()
	wg.Wait()

	// The relay closed its end: the proxy's relay-side connection holds
	// what the relay wrote before its write blocked, then EOF or reset.
	_ = rc.SetReadDeadline(time.Now().Add(testTimeout()))
	buffered, err := io.Copy(io.Discard, rc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the relay's end of the stuck connection is still open (%d bytes buffered)", buffered)
	}
	t.Logf("IOTimeout %s: the relay dropped the stuck connection %s into the flood (%d calls made, %d bytes of answers left unread, %d read before); %d good calls, the slowest %s",
		ioTimeout, dropped.Round(time.Millisecond), sent.Load(), buffered, proxy.read.Load(), goodCalls, slowest.Round(time.Millisecond))
	if st := f.srv.Stats(); st.KeyExchanges != 0 {
		t.Errorf("%d key exchanges at the dev server, want 0", st.KeyExchanges)
	}
}
