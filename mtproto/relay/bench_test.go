package relay

import (
	"slices"
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"
)

// BenchmarkRelayGetUsers: one users.getUsers(self) at a time, by the same
// gotd MTProto client code, straight to the dev server on the account's
// key (direct, the yardstick) and through the relay on a relay key
// (relayed: client → relay → dev server). ns/op is the mean round trip;
// p50-µs the median. The relay's added latency is relayed minus direct.
// The first call (connect, initConnection) is made before the clock.
func BenchmarkRelayGetUsers(b *testing.B) {
	f := newRelayFixture(b)
	// No call-rate cap: the benchmark calls as fast as it can.
	m, err := f.relay.Mint(b.Context(), MintRequest{Account: "alice", Policy: Policy{CallRate: -1}})
	if err != nil {
		b.Fatal(err)
	}
	query := encodeQuery(b, &tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}})
	for _, tc := range []struct {
		name string
		cfg  upstreamConfig
	}{
		{"direct", upstreamConfig{DC: f.seed.DC, Key: f.seed.Key, Dial: devDial(map[int]string{f.seed.DC: f.srv.Addr()})}},
		{"relayed", upstreamConfig{DC: m.DC, Key: m.Key, Dial: devDial(map[int]string{m.DC: m.addr()})}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tc.cfg.Timeout = testTimeout()
			u, err := dialUpstream(b.Context(), tc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer u.Close()
			if _, err := u.Invoke(b.Context(), wrapQuery(tdtg.Layer, &testDevice, false, query)); err != nil {
				b.Fatal(err)
			}
			var d []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := u.Invoke(b.Context(), wrapQuery(tdtg.Layer, nil, false, query)); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(start))
			}
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
		})
	}
}
