package mtproto

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdtelegram "github.com/gotd/td/telegram"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"
)

// rpcErrorTypes is the bounded label set of tgvault_rpc_errors_total: the
// Telegram error types a pool reacts to or a user is likely to ask about.
// Every other type is counted as "OTHER", so the label set never grows
// with what a server answers.
var rpcErrorTypes = [...]string{
	"FLOOD_WAIT",
	"FLOOD_PREMIUM_WAIT",
	"SLOWMODE_WAIT",
	"AUTH_KEY_UNREGISTERED",
	"AUTH_KEY_DUPLICATED",
	"SESSION_REVOKED",
	"SESSION_EXPIRED",
	"USER_DEACTIVATED",
	"USERNAME_NOT_OCCUPIED",
	"USERNAME_INVALID",
	"PEER_ID_INVALID",
	"INPUT_METHOD_INVALID",
	"OTHER",
}

const rpcErrorOther = len(rpcErrorTypes) - 1

// poolMetrics are a pool's counters. They are fed from every client's
// invoke path (rpcMetrics) and from the pool's connect loop.
type poolMetrics struct {
	connectAttempts  atomic.Int64
	connects         atomic.Int64
	rpcOK            atomic.Int64
	rpcError         atomic.Int64 // the server answered an RPC error
	rpcFailed        atomic.Int64 // no answer: transport, timeout, canceled
	rpcErrors        [len(rpcErrorTypes)]atomic.Int64
	floodWaits       atomic.Int64
	floodWaitSeconds atomic.Int64
	keepAlives       atomic.Int64
	keepAliveErrors  atomic.Int64
	removals         atomic.Int64 // accounts Remove took out
	duplicateWaits   atomic.Int64 // AUTH_KEY_DUPLICATED waited out (Options.DuplicateWait)
}

// rpc counts the outcome of one RPC attempt.
func (m *poolMetrics) rpc(err error) {
	if m == nil {
		return
	}
	if err == nil {
		m.rpcOK.Add(1)
		return
	}
	rpcErr, ok := tdtgerr.As(err)
	if !ok {
		m.rpcFailed.Add(1)
		return
	}
	m.rpcError.Add(1)
	i := rpcErrorOther
	for j, t := range rpcErrorTypes[:rpcErrorOther] {
		if rpcErr.IsType(t) {
			i = j
			break
		}
	}
	m.rpcErrors[i].Add(1)
}

// floodWait counts one FLOOD_WAIT waited out.
func (m *poolMetrics) floodWait(d time.Duration) {
	if m == nil {
		return
	}
	m.floodWaits.Add(1)
	m.floodWaitSeconds.Add(int64(d / time.Second))
}

// rpcMetrics is a gotd middleware counting every RPC attempt's outcome.
func rpcMetrics(m *poolMetrics) tdtelegram.Middleware {
	return tdtelegram.MiddlewareFunc(func(next tdtg.Invoker) tdtelegram.InvokeFunc {
		return func(ctx context.Context, input tdbin.Encoder, output tdbin.Decoder) error {
			err := next.Invoke(ctx, input, output)
			m.rpc(err)
			return err
		}
	})
}

// WriteMetrics writes the pool's metrics in the Prometheus text exposition
// format (version 0.0.4). Labels carry states, outcomes and Telegram error
// types only: never an account name, key id or anything secret.
func (p *Pool) WriteMetrics(w io.Writer) error {
	var counts [len(statusNames)]int
	p.mu.Lock()
	for _, a := range p.accounts {
		if int(a.status) < len(counts) {
			counts[a.status]++
		}
	}
	p.mu.Unlock()
	m := p.metrics
	ew := &errWriter{w: w}
	ew.printf("# HELP tgvault_accounts Accounts in the pool by state.\n# TYPE tgvault_accounts gauge\n")
	for i, n := range counts {
		ew.printf("tgvault_accounts{state=%q} %d\n", statusNames[i], n)
	}
	ew.printf("# HELP tgvault_connect_attempts_total Connects started.\n# TYPE tgvault_connect_attempts_total counter\n")
	ew.printf("tgvault_connect_attempts_total %d\n", m.connectAttempts.Load())
	ew.printf("# HELP tgvault_connects_total Connects that ended logged in and ready.\n# TYPE tgvault_connects_total counter\n")
	ew.printf("tgvault_connects_total %d\n", m.connects.Load())
	ew.printf("# HELP tgvault_rpc_total RPC attempts by outcome (ok, rpc_error: the server answered an error, failed: no answer).\n# TYPE tgvault_rpc_total counter\n")
	ew.printf("tgvault_rpc_total{outcome=\"ok\"} %d\n", m.rpcOK.Load())
	ew.printf("tgvault_rpc_total{outcome=\"rpc_error\"} %d\n", m.rpcError.Load())
	ew.printf("tgvault_rpc_total{outcome=\"failed\"} %d\n", m.rpcFailed.Load())
	ew.printf("# HELP tgvault_rpc_errors_total RPC errors by Telegram error type (OTHER for the rest).\n# TYPE tgvault_rpc_errors_total counter\n")
	for i, t := range rpcErrorTypes {
		ew.printf("tgvault_rpc_errors_total{type=%q} %d\n", t, m.rpcErrors[i].Load())
	}
	ew.printf("# HELP tgvault_flood_waits_total FLOOD_WAIT answers waited out before a retry.\n# TYPE tgvault_flood_waits_total counter\n")
	ew.printf("tgvault_flood_waits_total %d\n", m.floodWaits.Load())
	ew.printf("# HELP tgvault_flood_wait_seconds_total Seconds waited for FLOOD_WAIT.\n# TYPE tgvault_flood_wait_seconds_total counter\n")
	ew.printf("tgvault_flood_wait_seconds_total %d\n", m.floodWaitSeconds.Load())
	ew.printf("# HELP tgvault_keepalives_total Keep-alive calls (updates.getState) of ready accounts by outcome.\n# TYPE tgvault_keepalives_total counter\n")
	ew.printf("tgvault_keepalives_total{outcome=\"ok\"} %d\n", m.keepAlives.Load())
	ew.printf("tgvault_keepalives_total{outcome=\"error\"} %d\n", m.keepAliveErrors.Load())
	ew.printf("# HELP tgvault_removals_total Accounts removed from the pool.\n# TYPE tgvault_removals_total counter\n")
	ew.printf("tgvault_removals_total %d\n", m.removals.Load())
	ew.printf("# HELP tgvault_duplicate_waits_total AUTH_KEY_DUPLICATED answers waited out before a retry (a fleet's takeovers).\n# TYPE tgvault_duplicate_waits_total counter\n")
	ew.printf("tgvault_duplicate_waits_total %d\n", m.duplicateWaits.Load())
	ew.printf("# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\n")
	ew.printf("go_goroutines %d\n", runtime.NumGoroutine())
	mem := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(mem)
	for i, m := range []struct{ name, help string }{
		{"go_heap_live_bytes", "Heap memory reachable at the last garbage collection."},
		{"go_heap_objects_bytes", "Heap memory of objects, reachable or not yet collected."},
		{"go_stacks_bytes", "Memory of goroutine stacks."},
	} {
		if mem[i].Value.Kind() == metrics.KindUint64 {
			ew.printf("# HELP %s %s\n# TYPE %s gauge\n%s %d\n", m.name, m.help, m.name, m.name, mem[i].Value.Uint64())
		}
	}
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
