package daemon

import (
	"log/slog"
	"sync"

	"github.com/tgvault/tgvault/mtproto"
)

// reachLog says once when an account's server stops answering connections
// (the pool retries it with back-off, state unreachable) and once when it
// is back, rather than on every try.
type reachLog struct {
	mu   sync.Mutex
	down map[string]bool
}

func newReachLog() *reachLog { return &reachLog{down: map[string]bool{}} }

func (r *reachLog) note(d *daemon, name string, s mtproto.Status, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case s == mtproto.StatusUnreachable && !r.down[name]:
		r.down[name] = true
		d.logAccount(slog.LevelWarn, name, "account %s: unreachable: %v; retrying with back-off (a `tgvault call` tries once more at once)", name, err)
	case s == mtproto.StatusReady && r.down[name]:
		delete(r.down, name)
		d.logAccount(slog.LevelInfo, name, "account %s: its server answers again; ready", name)
	case s.Final():
		delete(r.down, name)
	}
}
