package relay

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// The call-rate cap's defaults: a relay session (all its connections
// together) may make DefaultCallBurst calls at once and DefaultCallRate
// calls a second after that. An
// interactive client, or one downloading a file (one upload.getFile per
// 512 KiB-1 MiB part), stays well under it; a client stuck in a loop
// (mtcute paging dialogs forever made 650 calls a second) is held to it
// instead of spending the account's standing with Telegram.
const (
	DefaultCallRate  = 20
	DefaultCallBurst = 100
)

// floodWaitCode is the rpc_error code of FLOOD_WAIT_n, which every client
// library understands as "retry in n seconds" (most sleep and retry by
// themselves when n is small).
const floodWaitCode = 420

// callLimiter is one relay session's call-rate cap, a token bucket: burst
// calls at once, rate calls a second after that. A nil *callLimiter caps
// nothing. It is safe for concurrent use.
type callLimiter struct {
	rate, burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// newCallLimiter returns a cap of rate calls a second after burst calls
// at once, or nil (no cap) when rate is not positive.
func newCallLimiter(rate float64, burst int) *callLimiter {
	if rate <= 0 {
		return nil
	}
	b := float64(max(burst, 1))
	return &callLimiter{rate: rate, burst: b, tokens: b}
}

// take takes one call's token at now. When there is none, ok is false and
// wait is how long until there is one; the call must not go on.
func (l *callLimiter) take(now time.Time) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.After(l.last) {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	if now.After(l.last) {
		l.last = now
	}
	if l.tokens >= 1 {
		l.tokens--
		return 0, true
	}
	return time.Duration((1 - l.tokens) / l.rate * float64(time.Second)), false
}

// floodWait is the FLOOD_WAIT_n message for a wait: n whole seconds,
// rounded up, at least 1 (Telegram's unit).
func floodWait(wait time.Duration) string {
	n := max(1, int(math.Ceil(wait.Seconds())))
	return "FLOOD_WAIT_" + strconv.Itoa(n)
}

// callLimiter returns the cap of a session, shared by its connections:
// the policy's rate when it sets one (negative: none), else the relay's.
func (r *Relay) callLimiter(p Policy) *callLimiter {
	rate := r.cfg.CallRate
	if p.CallRate != 0 {
		rate = p.CallRate
	}
	return newCallLimiter(rate, r.cfg.CallBurst)
}
