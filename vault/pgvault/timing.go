package pgvault

import (
	"fmt"
	"time"
)

// The timing of a fleet, derived from the lease period L. docs/fleet.md
// states the argument; in short:
//
//   - a worker renews every L/3 and counts its deadline D from when it sent
//     the renewal: D = sent + L - L/4 (Deadline), on its monotonic clock;
//     the database's expiry E is L after it ran the statement, so D <= E - L/4;
//   - nothing is written on a connection at or past D (mtproto.Fence), so
//     the last ping_delay_disconnect of a connection leaves before D;
//   - every connection pings every DeadMan interval asking for the delay d,
//     so the server closes it by D + d + TransitSlack whatever becomes of
//     the worker (stopped, paused, partitioned);
//   - a worker that claims a lease that expired in another's hands at E
//     connects it only at E + TakeoverWait, which is >= D + d + TransitSlack.
const (
	// MinPeriod and MaxPeriod bound the lease period (--lease).
	MinPeriod = 3 * time.Second
	MaxPeriod = time.Hour

	// TransitSlack bounds how long the old owner's last ping may take to
	// reach Telegram after it was written, and the server's timer slop.
	TransitSlack = time.Second

	// minDelay and maxDelay bound the disconnect delay: at least 3 s (pings
	// at most every 1.5 s), at most the 75 s gotd asks for by default.
	minDelay = 3 * time.Second
	maxDelay = 75 * time.Second
)

// CheckPeriod reports a lease period whose timing cannot hold: the worker
// renews every third of it and keeps the last quarter for stopping its
// sessions, and under MinPeriod a renewal (a round trip to PostgreSQL,
// hundreds of milliseconds on a loaded host) would eat that margin; over
// MaxPeriod a dead worker's accounts would wait over an hour.
func CheckPeriod(period time.Duration) error {
	switch {
	case period < MinPeriod:
		return fmt.Errorf("pgvault: a lease of %v is too short: a worker renews every third of it and keeps the last quarter to stop its sessions, and needs at least %v (renewals a second apart, %v to stop)", period, MinPeriod, MinPeriod/4)
	case period > MaxPeriod:
		return fmt.Errorf("pgvault: a lease of %v is too long: a worker that dies leaves its accounts offline for up to that long (at most %v)", period, MaxPeriod)
	}
	return nil
}

// DeadMan returns the server-enforced dead-man switch of the worker's
// connections: every interval each one sends ping_delay_disconnect asking
// Telegram to close it once delay passes without the next. The delay is
// half the period in whole seconds (rounded up), within 3 s and 75 s; the
// interval half the delay.
func (f *Fleet) DeadMan() (interval, delay time.Duration) {
	return deadMan(f.period)
}

func deadMan(period time.Duration) (interval, delay time.Duration) {
	delay = ((period/2 + time.Second - 1) / time.Second) * time.Second
	delay = min(max(delay, minDelay), maxDelay)
	return delay / 2, delay
}

// TakeoverWait is how long a worker that claimed a lease which expired age
// ago (by the database's clock) in another worker's hands waits before
// connecting the account: until the disconnect delay (and TransitSlack)
// has passed since the old owner's deadline, which was at least a margin
// before the expiry. Zero once that is over.
func (f *Fleet) TakeoverWait(age time.Duration) time.Duration {
	_, delay := f.DeadMan()
	return max(0, delay+TransitSlack-f.Margin()-age)
}

// WorstTakeover is the longest an account of a worker that stopped right
// after a renewal stays offline before another worker may connect it
// (connect time not included): the rest of the lease (a period, plus the
// renewal's round trip), a claim round (a tenth of a period) and the
// takeover wait of a lease that just expired.
func (f *Fleet) WorstTakeover() time.Duration {
	return f.period + f.period/10 + f.TakeoverWait(0)
}
