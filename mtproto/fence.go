package mtproto

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// Fence is a deadline on the monotonic clock past which a client sends
// nothing to the server (Options.Fence): every write on every connection of
// the client checks it at the last moment before its bytes go to the
// socket, and a write at or past it closes the connection unsent
// (ErrFenceClosed). So does a dial. A fleet worker keeps one per leased
// account and moves it with every renewal of the lease: a worker that was
// stopped (SIGSTOP, a paused VM) and wakes past the deadline sends no stale
// byte, not even a ping that would keep an old connection alive.
//
// The zero Fence is not usable; NewFence makes one, closed until Set. A
// Fence is safe for concurrent use.
type Fence struct {
	base  time.Time    // the origin: its monotonic reading is what counts
	until atomic.Int64 // nanoseconds after base; <= 0: closed
}

// NewFence returns a closed fence.
func NewFence() *Fence { return &Fence{base: time.Now()} }

// Set moves the deadline to t, which must come from time.Now (plus a
// duration): only its monotonic reading is used, so a step of the wall
// clock moves nothing.
func (f *Fence) Set(t time.Time) { f.until.Store(int64(t.Sub(f.base))) }

// Close closes the fence at once.
func (f *Fence) Close() { f.until.Store(0) }

// Open reports whether the deadline is still ahead.
func (f *Fence) Open() bool { return time.Since(f.base) < time.Duration(f.until.Load()) }

// Deadline returns the deadline (a time with a monotonic reading).
func (f *Fence) Deadline() time.Time { return f.base.Add(time.Duration(f.until.Load())) }

// fenceDial wraps dial (net.Dialer's when nil) so that it refuses to dial
// past the fence and returns connections that write only before it.
func fenceDial(dial func(ctx context.Context, network, addr string) (net.Conn, error), f *Fence) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if !f.Open() {
			return nil, ErrFenceClosed
		}
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &fencedConn{Conn: c, fence: f}, nil
	}
}

// fencedConn is a connection that writes only before its fence's
// deadline. Write checks it last thing before the socket; the write
// deadlines gotd sets are clamped to it too, so that a write blocked on a
// full socket buffer fails at the deadline instead of going out later.
type fencedConn struct {
	net.Conn
	fence *Fence
}

func (c *fencedConn) Write(b []byte) (int, error) {
	if !c.fence.Open() {
		_ = c.Conn.Close()
		return 0, ErrFenceClosed
	}
	return c.Conn.Write(b)
}

func (c *fencedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

func (c *fencedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

func (c *fencedConn) clamp(t time.Time) time.Time {
	if d := c.fence.Deadline(); t.IsZero() || d.Before(t) {
		return d
	}
	return t
}
