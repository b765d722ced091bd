package mtproto

import (
	"context"
	"testing"

	tdlog "github.com/gotd/log"
)

// TestQuietLogAllocatesLess: what gotd does with its logger on every
// connection and call (a child logger with attributes, a record through
// it) allocates less with quietLog than with gotd's own log.Nop, which
// wraps itself for every With and merges the attributes on every Log.
func TestQuietLogAllocatesLess(t *testing.T) {
	use := func(l tdlog.Logger) func() {
		return func() {
			child := tdlog.With(tdlog.Named(l, "conn"), tdlog.Int64("dc", 2), tdlog.String("addr", "x"))
			child.Log(context.Background(), tdlog.LevelDebug, "read", tdlog.Int("n", 1))
		}
	}
	quiet, nop := testing.AllocsPerRun(100, use(quietLog{})), testing.AllocsPerRun(100, use(tdlog.Nop))
	// What is left with quietLog are the attribute lists of the calls.
	if quiet >= nop {
		t.Errorf("quietLog: %v allocations per With and Log, log.Nop %v: want fewer", quiet, nop)
	}
	t.Logf("allocations per With and Log: quietLog %v, log.Nop %v", quiet, nop)
}
