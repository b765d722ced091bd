package relay

import (
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// TestCallLimiter: the cap lets burst calls through at once, then one per
// 1/rate; a call over it learns how long until it would pass; an idle
// connection saves up no more than burst; no rate is no cap.
func TestCallLimiter(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		at   time.Duration
		ok   bool
		wait time.Duration // when !ok
	}
	for _, tc := range []struct {
		name        string
		rate        float64
		burst       int
		steps       []step
		nilLimiter  bool
		floodWaitOf time.Duration
	}{
		{name: "burst then rate", rate: 2, burst: 3, steps: []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, 500 * time.Millisecond},
			{250 * time.Millisecond, false, 250 * time.Millisecond},
			{500 * time.Millisecond, true, 0}, {500 * time.Millisecond, false, 500 * time.Millisecond},
		}},
		{name: "idle saves up only burst", rate: 2, burst: 2, steps: []step{
			{0, true, 0}, {0, true, 0}, {0, false, 500 * time.Millisecond},
			{time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, false, 500 * time.Millisecond},
		}},
		{name: "slow rate", rate: 0.1, burst: 1, steps: []step{
			{0, true, 0}, {time.Second, false, 9 * time.Second}, {10 * time.Second, true, 0},
		}},
		{name: "a clock that goes back takes nothing", rate: 1, burst: 1, steps: []step{
			{time.Minute, true, 0}, {0, false, time.Second}, {time.Minute + time.Second, true, 0},
		}},
		{name: "no rate", rate: 0, burst: 1, nilLimiter: true, steps: []step{{0, true, 0}, {0, true, 0}, {0, true, 0}}},
		{name: "negative rate", rate: -1, burst: 1, nilLimiter: true, steps: []step{{0, true, 0}, {0, true, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newCallLimiter(tc.rate, tc.burst)
			if (l == nil) != tc.nilLimiter {
				t.Fatalf("newCallLimiter(%v, %d) = %v", tc.rate, tc.burst, l)
			}
			for i, s := range tc.steps {
				wait, ok := l.take(at(s.at))
				if ok != s.ok || (!ok && (wait < s.wait-time.Millisecond || wait > s.wait+time.Millisecond)) {
					t.Errorf("step %d at %v: %v, %v; want %v, %v", i, s.at, wait, ok, s.wait, s.ok)
				}
			}
		})
	}
	for _, tc := range []struct {
		wait time.Duration
		want string
	}{
		{time.Nanosecond, "FLOOD_WAIT_1"}, {500 * time.Millisecond, "FLOOD_WAIT_1"}, {time.Second, "FLOOD_WAIT_1"},
		{time.Second + time.Millisecond, "FLOOD_WAIT_2"}, {9 * time.Second, "FLOOD_WAIT_9"}, {0, "FLOOD_WAIT_1"},
	} {
		if got := floodWait(tc.wait); got != tc.want {
			t.Errorf("floodWait(%v) = %s, want %s", tc.wait, got, tc.want)
		}
	}
}

// TestRelayCallRateCap: a client connection over the relay's call-rate
// cap gets rpc_error 420 FLOOD_WAIT_n and nothing of the call reaches the
// dev server; another session has a cap of its own; a session whose policy lifts the cap is not held; the relay counts
// the flood waits per method.
func TestRelayCallRateCap(t *testing.T) {
	t.Parallel()
	const burst = 5
	f := newRelayFixtureOn(t, mttest.StartServer(t, devserver.Options{}), func(c *Config) { c.CallRate, c.CallBurst = 0.2, burst })
	ctx := t.Context()
	getMe := func(u *upstream) error {
		_, err := u.Invoke(ctx, wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}})))
		return err
	}
	dialRelay := func(m Minted) *upstream {
		t.Helper()
		u, err := dialUpstream(ctx, upstreamConfig{DC: m.DC, Key: m.Key, Dial: devDial(map[int]string{m.DC: m.addr()}), Timeout: testTimeout()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(u.Close)
		return u
	}
	upstreamCalls := func() int64 { return f.srv.Stats().Calls[tdtg.UsersGetUsersRequestTypeID] }

	capped, err := f.relay.Mint(ctx, MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	first := dialRelay(capped)
	for i := range burst {
		if err := getMe(first); err != nil {
			t.Fatalf("call %d of the burst: %v", i, err)
		}
	}
	for i := range 3 {
		err := getMe(first)
		rpcErr, ok := tdtgerr.As(err)
		if !ok || rpcErr.Code != floodWaitCode || rpcErr.Type != "FLOOD_WAIT" || rpcErr.Argument < 1 || rpcErr.Argument > 5 {
			t.Fatalf("call %d over the cap: %v; want 420 FLOOD_WAIT_n, n in 1..5", i, err)
		}
	}
	if n := upstreamCalls(); n != burst {
		t.Errorf("the dev server saw %d users.getUsers; want the %d of the burst only", n, burst)
	}
	// Another session has a cap of its own (a connection of the same
	// session shares it: TestRelaySessionSharedLimiter).
	other, err := f.relay.Mint(ctx, MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	second := dialRelay(other)
	if err := getMe(second); err != nil {
		t.Errorf("a connection of another session: %v", err)
	}
	// Refused calls take from the cap too: past it, a client looping on a
	// refused method gets FLOOD_WAIT, not one more refusal (and log line).
	logOut := wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.AuthLogOutRequest{}))
	refusedBefore := f.relay.Metrics().Refusals["auth.logOut"]
	var refused, waited int
	for range burst + 2 {
		_, err := second.Invoke(ctx, logOut)
		rpcErr, ok := tdtgerr.As(err)
		switch {
		case ok && rpcErr.Code == RefusedCode:
			refused++
		case ok && rpcErr.Code == floodWaitCode:
			waited++
		default:
			t.Fatalf("auth.logOut through the relay: %v; want 403 or 420", err)
		}
	}
	if refused != burst-1 || waited != 3 {
		t.Errorf("auth.logOut %d times on a connection with %d calls left: %d refused, %d flood waits; want %d and 3", burst+2, burst-1, refused, waited, burst-1)
	}
	if got := f.relay.Metrics().Refusals["auth.logOut"] - refusedBefore; got != int64(burst-1) {
		t.Errorf("metrics: %d refusals of auth.logOut, want %d", got, burst-1)
	}
	// A session whose policy lifts the cap.
	free, err := f.relay.Mint(ctx, MintRequest{Account: "alice", Policy: Policy{CallRate: -1}})
	if err != nil {
		t.Fatal(err)
	}
	u := dialRelay(free)
	for i := range 3 * burst {
		if err := getMe(u); err != nil {
			t.Fatalf("call %d of a session with no cap: %v", i, err)
		}
	}
	if n := upstreamCalls(); n != burst+1+3*burst {
		t.Errorf("the dev server saw %d users.getUsers; want %d", n, burst+1+3*burst)
	}
	if got := f.relay.Metrics().FloodWaits["users.getUsers"]; got != 3 {
		t.Errorf("metrics: %d flood waits of users.getUsers, want 3", got)
	}
}
