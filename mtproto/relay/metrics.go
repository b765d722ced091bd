package relay

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
)

// Metrics are the relay's counters since New, for run's /metrics. They
// name methods, never an account.
type Metrics struct {
	// SessionsOpen is the number of relay sessions now; Minted and
	// Revoked count them since New (an expiry is a revoke).
	SessionsOpen, Minted, Revoked int64
	// KeyExchanges counts keys clients made with a relay DC.
	KeyExchanges int64
	// Calls counts relayed calls per method; Refusals counts the calls
	// refused per method (an unknown method by its constructor id), and
	// the results withheld whole.
	Calls, Refusals map[string]int64
	// FloodWaits counts the calls the call-rate cap answered with
	// FLOOD_WAIT_n instead of passing them on, per method.
	FloodWaits map[string]int64
	// ConnRefusals counts the calls answered TGVAULT_TOO_MANY_CONNECTIONS
	// because their connection was over a connection cap, by the cap
	// ("session": Config.SessionConns, "account": Config.AccountConns).
	ConnRefusals map[string]int64
	// Withheld counts results and updates the service-message filter
	// changed or dropped; Undecodable those it dropped because they did
	// not decode (fail closed); Updates the updates passed to clients.
	Withheld, Undecodable, Updates int64
}

type metrics struct {
	sessionsOpen, minted, revoked, exchanges atomic.Int64
	withheld, undecodable, updates           atomic.Int64

	mu         sync.Mutex
	calls      map[string]int64
	refusals   map[string]int64
	floodWaits map[string]int64
	connRefs   map[string]int64
}

func newMetrics() *metrics {
	return &metrics{calls: map[string]int64{}, refusals: map[string]int64{}, floodWaits: map[string]int64{}, connRefs: map[string]int64{}}
}

// floodWait counts a call of a method the schema knows (policyCheck
// passed it) over the call-rate cap.
func (m *metrics) floodWait(method string) {
	m.mu.Lock()
	m.floodWaits[method]++
	m.mu.Unlock()
}

// connRefusal counts a call refused for its connection being over a cap
// (capSession, capAccount).
func (m *metrics) connRefusal(cap string) {
	m.mu.Lock()
	m.connRefs[cap]++
	m.mu.Unlock()
}

func (m *metrics) call(method string) {
	m.mu.Lock()
	m.calls[method]++
	m.mu.Unlock()
}

func (m *metrics) refusal(method string) {
	if strings.HasPrefix(method, "#") {
		method = "(unknown)" // a client's made-up ids must not grow the map
	}
	m.mu.Lock()
	m.refusals[method]++
	m.mu.Unlock()
}

// Metrics returns a snapshot of the relay's counters.
func (r *Relay) Metrics() Metrics {
	m := r.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	return Metrics{
		SessionsOpen: m.sessionsOpen.Load(), Minted: m.minted.Load(), Revoked: m.revoked.Load(),
		KeyExchanges: m.exchanges.Load(),
		Calls:        maps.Clone(m.calls), Refusals: maps.Clone(m.refusals), FloodWaits: maps.Clone(m.floodWaits),
		ConnRefusals: maps.Clone(m.connRefs),
		Withheld:     m.withheld.Load(), Undecodable: m.undecodable.Load(), Updates: m.updates.Load(),
	}
}
