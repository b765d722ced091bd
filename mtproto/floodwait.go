package mtproto

import (
	"context"
	"fmt"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdtelegram "github.com/gotd/td/telegram"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"
)

// DefaultMaxFloodWait is the longest FLOOD_WAIT a client waits out when
// Options.MaxFloodWait is zero.
const DefaultMaxFloodWait = time.Minute

// maxFloodRetries bounds the retries of one call that keeps getting
// FLOOD_WAIT.
const maxFloodRetries = 5

// floodWaiter is a gotd middleware that honours FLOOD_WAIT (gotd does
// not): it waits the seconds the server asks (at least one), then sends
// the call again. A wait longer than maxWait, or a call still refused after
// maxFloodRetries waits, fails with a *FloodWaitError at once; a context
// that ends during the wait fails the call with the context's error.
//
// It holds no state: each call waits on its own, so one account's (or
// one method's) flood wait never delays another's calls.
func floodWaiter(maxWait time.Duration, m *poolMetrics) tdtelegram.Middleware {
	return tdtelegram.MiddlewareFunc(func(next tdtg.Invoker) tdtelegram.InvokeFunc {
		return func(ctx context.Context, input tdbin.Encoder, output tdbin.Decoder) error {
			for retry := 0; ; retry++ {
				err := next.Invoke(ctx, input, output)
				d, ok := tdtgerr.AsFloodWait(err)
				if !ok {
					return err
				}
				if d > maxWait || retry >= maxFloodRetries {
					return &FloodWaitError{Wait: d, err: err}
				}
				d = max(d, time.Second)
				t := time.NewTimer(d)
				select {
				case <-t.C:
					m.floodWait(d)
				case <-ctx.Done():
					t.Stop()
					return fmt.Errorf("mtproto: waiting out FLOOD_WAIT of %s: %w", d, context.Cause(ctx))
				}
			}
		}
	})
}
