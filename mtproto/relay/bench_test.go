package relay

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
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

// BenchmarkRelayThroughput: users.getUsers(self) from 8 client connections
// at once (4 goroutines per P, none waiting on another), straight to the
// dev server on the account's key (direct, the yardstick) and through the
// relay on a relay key (relayed), all in this process. calls/s is the
// throughput of the whole (clients, relay, dev server) on this machine;
// cpu-µs/call the process's CPU time (user + system, getrusage) per call.
// relay-calls/s/core is what one core of the relay alone would carry:
// 1 s over the relay's own CPU per call, which is relayed's cpu-µs/call
// minus direct's (the clients and the dev server do the same work in
// both). No call-rate cap (the session's policy lifts it), no
// connection cap (each run of the function opens conns more, before the
// relay has seen the last run's close).
func BenchmarkRelayThroughput(b *testing.B) {
	const conns = 8
	f := newRelayFixtureOn(b, mttest.StartServer(b, devserver.Options{}), func(c *Config) { c.SessionConns, c.AccountConns = -1, -1 })
	m, err := f.relay.Mint(b.Context(), MintRequest{Account: "alice", Policy: Policy{CallRate: -1}})
	if err != nil {
		b.Fatal(err)
	}
	query := encodeQuery(b, &tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}})
	var directCPU float64 // µs of CPU per call, direct (the last run of it)
	for _, tc := range []struct {
		name string
		cfg  upstreamConfig
	}{
		{"direct", upstreamConfig{DC: f.seed.DC, Key: f.seed.Key, Dial: devDial(map[int]string{f.seed.DC: f.srv.Addr()})}},
		{"relayed", upstreamConfig{DC: m.DC, Key: m.Key, Dial: devDial(map[int]string{m.DC: m.addr()})}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tc.cfg.Timeout = testTimeout()
			us := make([]*upstream, conns)
			for i := range us {
				u, err := dialUpstream(b.Context(), tc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer u.Close()
				if _, err := u.Invoke(b.Context(), wrapQuery(tdtg.Layer, &testDevice, false, query)); err != nil {
					b.Fatal(err)
				}
				us[i] = u
			}
			var next atomic.Int64
			b.SetParallelism(4)
			cpu0 := mttest.ProcessCPU(b)
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				u := us[int(next.Add(1))%len(us)]
				for pb.Next() {
					if _, err := u.Invoke(b.Context(), wrapQuery(tdtg.Layer, nil, false, query)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			elapsed, cpu := time.Since(start), mttest.ProcessCPU(b)-cpu0
			perCall := float64(cpu.Microseconds()) / float64(b.N)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
			b.ReportMetric(perCall, "cpu-µs/call")
			switch {
			case tc.name == "direct":
				directCPU = perCall
			case directCPU > 0 && perCall > directCPU:
				b.ReportMetric(1e6/(perCall-directCPU), "relay-calls/s/core")
			}
		})
	}
}
