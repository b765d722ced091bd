package relay

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"
	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// gatedAccount is a test account whose upstream connections, once armed,
// hold every message from the server until the gate opens: a call in
// flight that takes as long as the test wants.
type gatedAccount struct {
	*testAccount
	armed atomic.Bool
	gate  chan struct{}
}

func (a *gatedAccount) Dial(ctx context.Context, dc int, addr string) (tdtransport.Conn, error) {
	c, err := a.testAccount.Dial(ctx, dc, addr)
	if err != nil {
		return nil, err
	}
	return gatedConn{Conn: c, a: a}, nil
}

type gatedConn struct {
	tdtransport.Conn
	a *gatedAccount
}

func (c gatedConn) Recv(ctx context.Context, b *tdbin.Buffer) error {
	err := c.Conn.Recv(ctx, b)
	if c.a.armed.Load() {
		select {
		case <-c.a.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

type accountsFunc func(ctx context.Context, name string) (Account, error)

func (f accountsFunc) Account(ctx context.Context, name string) (Account, error) { return f(ctx, name) }

// TestRelayCloseWaitsForCalls: Close lets a call already sent upstream
// be answered before it cuts the client's connection (a cut call is
// resent on reconnect: a message could go twice), for CloseWait at most;
// past it, Close cuts the call and returns.
func TestRelayCloseWaitsForCalls(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		closeWait time.Duration
		open      bool // the gate opens while Close waits
	}{
		{"answered", 10 * time.Second, true}, // gotd gives up a connection that reads nothing for 15 s
		{"bounded", 300 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var gated *gatedAccount
			f := capFixture{newRelayFixtureOn(t, mttest.StartServer(t, devserver.Options{}), func(c *Config) {
				c.CloseWait = tc.closeWait
				gated = &gatedAccount{testAccount: c.Accounts.(testAccounts)["alice"], gate: make(chan struct{})}
				c.Accounts = accountsFunc(func(context.Context, string) (Account, error) { return gated, nil })
			}), t}
			t.Cleanup(func() {
				select {
				case <-gated.gate:
				default:
					close(gated.gate)
				}
			})
			u := f.dial(f.mint("alice", Policy{}))
			if err := f.getMe(u); err != nil {
				t.Fatal(err)
			}
			gated.armed.Store(true)
			called := make(chan error, 1)
			go func() { called <- f.getMe(u) }()
			deadline := time.Now().Add(testTimeout())
			for f.srv.Stats().Calls[tdtg.UsersGetUsersRequestTypeID] < 2 {
				if time.Now().After(deadline) {
					t.Fatal("the second call never reached the dev server")
				}
				time.Sleep(5 * time.Millisecond)
			}
			start := time.Now()
			closed := make(chan error, 1)
			go func() { closed <- f.relay.Close() }()
			select {
			case err := <-closed:
				t.Fatalf("Close returned (%v) with a call in flight, after %v", err, time.Since(start))
			case <-time.After(min(tc.closeWait/2, time.Second)):
			}
			if tc.open {
				close(gated.gate)
				if err := <-called; err != nil {
					t.Errorf("the call in flight at Close: %v; want its answer", err)
				}
			}
			if err := <-closed; err != nil {
				t.Errorf("Close: %v", err)
			}
			took := time.Since(start)
			if !tc.open {
				if took < tc.closeWait || took > tc.closeWait+testTimeout() {
					t.Errorf("Close took %v; want CloseWait (%v) and a little", took, tc.closeWait)
				}
				if err := <-called; err == nil {
					t.Error("the call cut at Close was answered")
				}
			}
		})
	}
}
