//go:build unix

package reliability

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tgvault/tgvault/internal/pgtest"
	"github.com/tgvault/tgvault/vault/pgvault"
)

// The fleet harness: three `tgvault run --worker` processes share a vault
// in a real PostgreSQL (internal/pgtest) whose accounts are seeded on a dev
// server that answers a key used by two open connections at once with
// AUTH_KEY_DUPLICATED, as Telegram does, and counts every such use. One
// worker after another is stopped with SIGSTOP for 1, 2 and 4 lease
// periods (a paused VM, a stalled disk: its connections stay open) and
// resumed; then killed with SIGKILL and restarted. After each: no key used
// twice, no account marked revoked, every account ready on exactly one
// worker; and when a worker rejoins, the others give back their surplus
// without dropping a session they keep.
//
// CI runs a short version; bench/reliability/fleet.sh the long one
// (3,000 accounts, two lease lengths) whose figures are in docs/fleet.md.
const (
	envFleetAccounts = "TGVAULT_FLEET_PAUSE_ACCOUNTS" // accounts (CI: 60)
	envFleetLeases   = "TGVAULT_FLEET_PAUSE_LEASES"   // lease lengths, comma-separated (CI: 3s)
	envFleetPauses   = "TGVAULT_FLEET_PAUSES"         // pauses in lease periods, comma-separated (1,2,4)
	envFleetKills    = "TGVAULT_FLEET_KILLS"          // SIGKILL rounds per lease (CI: 1)
)

// pgVaultURL turns pgtest's DSN into the postgres:// URL --vault takes.
func pgVaultURL(t testing.TB, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"sslmode": {"disable"}, "host": {cfg.Host}, "port": {strconv.Itoa(int(cfg.Port))}}
	return (&url.URL{Scheme: "postgres", User: url.User(cfg.User), Path: "/" + cfg.Database, RawQuery: q.Encode()}).String()
}

// fleetDev is the dev server's counters the harness reads.
type fleetDev struct {
	Duplicates      int64 `json:"duplicates"`
	Open            int   `json:"open"`
	PingDisconnects int64 `json:"ping_disconnects"`
	Pings           int64 `json:"pings"`
	PingDelayMin    int64 `json:"ping_delay_min"`
	PingDelayMax    int64 `json:"ping_delay_max"`
}

func (d *devServer) fleetStats() fleetDev {
	var st fleetDev
	b, _ := os.ReadFile(d.stats)
	_ = json.Unmarshal(b, &st)
	return st
}

// fleet is a vault in PostgreSQL, its dev server, and its workers.
type fleet struct {
	t       *testing.T
	v       *tv
	dev     *devServer
	lease   time.Duration
	names   []string // every account
	workers map[string]*runProc
	order   []string // worker names
	poll    unixPoller
}

// startWorker starts worker name.
func (f *fleet) startWorker(name string) {
	f.t.Helper()
	sock := sockPath()
	p := f.v.startLong(f.t, sock, "run", "--worker", name, "--lease", f.lease.String(),
		"--socket", sock, "--server", f.dev.addr, "--server-key", f.dev.pub)
	f.workers[name] = p
}

// unixPoller asks workers for their accounts with a short timeout: a
// stopped worker does not answer.
type unixPoller struct{ timeout time.Duration }

// accounts returns name -> status of a worker, ok false when it does not
// answer.
func (u unixPoller) accounts(p *runProc) (map[string]string, bool) {
	c := unixClient(p.sock, 0)
	c.Timeout = u.timeout
	r := apiCall(c, "GET", "/v1/accounts", nil)
	c.CloseIdleConnections()
	if r.err != nil || r.code != 200 {
		return nil, false
	}
	var as []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	if json.Unmarshal(r.body, &as) != nil {
		return nil, false
	}
	out := make(map[string]string, len(as))
	for _, a := range as {
		out[a.Name] = a.Status
	}
	return out, true
}

// readySets returns each answering worker's ready accounts.
func (f *fleet) readySets(skip string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, w := range f.order {
		if w == skip || f.workers[w] == nil {
			continue
		}
		wg.Go(func() {
			as, ok := f.poll.accounts(f.workers[w])
			if !ok {
				return
			}
			ready := map[string]bool{}
			for n, s := range as {
				if s == "ready" {
					ready[n] = true
				}
			}
			mu.Lock()
			out[w] = ready
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// settled reports whether every account is ready on exactly one worker,
// every worker answering, each with about its share (when balanced).
func (f *fleet) settled(balanced bool) (bool, string) {
	sets := f.readySets("")
	if len(sets) != len(f.order) {
		return false, fmt.Sprintf("%d of %d workers answer", len(sets), len(f.order))
	}
	on := map[string]int{}
	var counts []int
	for _, w := range f.order {
		counts = append(counts, len(sets[w]))
		for n := range sets[w] {
			on[n]++
		}
	}
	for _, n := range f.names {
		if on[n] != 1 {
			return false, fmt.Sprintf("account %s ready on %d workers (ready per worker %v)", n, on[n], counts)
		}
	}
	if balanced {
		for _, c := range counts {
			if c < len(f.names)/len(f.order)-1 {
				return false, fmt.Sprintf("not balanced: %v", counts)
			}
		}
	}
	return true, fmt.Sprintf("%v", counts)
}

// waitSettled waits until settled (failing the test after within).
func (f *fleet) waitSettled(what string, balanced bool, within time.Duration) time.Duration {
	f.t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < within {
		ok, why := f.settled(balanced)
		if ok {
			return time.Since(start)
		}
		last = why
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Fatalf("%s: not settled within %v: %s (dev server %+v)", what, within, last, f.dev.fleetStats())
	return 0
}

// check fails the test on a duplicate use of a key or an account no
// longer active.
func (f *fleet) check(what string) {
	f.t.Helper()
	if st := f.dev.fleetStats(); st.Duplicates != 0 {
		f.t.Fatalf("%s: %d connections used a key another open connection was using (AUTH_KEY_DUPLICATED)", what, st.Duplicates)
	}
	accts, r := f.v.list()
	if r.code != 0 {
		f.t.Fatalf("%s: list: exit %d: %s", what, r.code, r.stderr)
	}
	var bad []string
	for _, a := range accts {
		if a.Status != "active" {
			bad = append(bad, a.Name+" "+string(a.Status))
		}
	}
	if len(bad) > 0 || len(accts) != len(f.names) {
		f.t.Fatalf("%s: %d of %d accounts listed, not active: %v", what, len(accts), len(f.names), bad)
	}
}

// takeover follows the accounts a victim held from the moment at: each
// one's time until it is ready on another worker, or on the victim again
// once resumed (after it was seen stopped there). resumed is closed when
// the victim may answer again (nil: never).
func (f *fleet) takeover(victim string, held []string, at time.Time, resumed <-chan struct{}, within time.Duration) []time.Duration {
	f.t.Helper()
	back := map[string]time.Duration{}
	where := map[string]string{}
	defer func() {
		n := map[string]int{}
		for _, w := range where {
			n[w]++
		}
		f.t.Logf("the accounts of %s came back on %v", victim, n)
	}()
	downOnVictim := map[string]bool{}
	for time.Since(at) < within && len(back) < len(held) {
		canAsk := false
		if resumed != nil {
			select {
			case <-resumed:
				canAsk = true
			default:
			}
		}
		skip := victim
		if canAsk {
			skip = ""
		}
		sets := f.readySets(skip)
		now := time.Since(at)
		for _, n := range held {
			if _, ok := back[n]; ok {
				continue
			}
			for w, set := range sets {
				switch {
				case w != victim && set[n]:
					back[n], where[n] = now, w
				case w == victim && !set[n]:
					downOnVictim[n] = true
				case w == victim && set[n] && downOnVictim[n]:
					back[n], where[n] = now, w
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(back) < len(held) {
		f.t.Fatalf("%d of the %d accounts of %s not back within %v (dev server %+v)", len(held)-len(back), len(held), victim, within, f.dev.fleetStats())
	}
	out := make([]time.Duration, 0, len(back))
	for _, d := range back {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// heldBy returns the accounts ready on a worker.
func (f *fleet) heldBy(w string) []string {
	set := f.readySets("")[w]
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	r := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	return fmt.Sprintf("min %s median %s max %s (n=%d)", r(ds[0]), r(ds[len(ds)/2]), r(ds[len(ds)-1]), len(ds))
}

func envDurations(name, def string) []time.Duration {
	s := os.Getenv(name)
	if s == "" {
		s = def
	}
	var out []time.Duration
	for _, p := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil {
			panic(fmt.Sprintf("%s: %v", name, err))
		}
		out = append(out, d)
	}
	return out
}

func envInts(name, def string) []int {
	s := os.Getenv(name)
	if s == "" {
		s = def
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			panic(fmt.Sprintf("%s: %v", name, err))
		}
		out = append(out, n)
	}
	return out
}

// TestFleetPause: see the harness's comment above.
func TestFleetPause(t *testing.T) {
	if testing.Short() {
		t.Skip("the fleet harness takes minutes")
	}
	n := envInt(envFleetAccounts, 60)
	for _, lease := range envDurations(envFleetLeases, "3s") {
		t.Run(lease.String(), func(t *testing.T) { fleetPause(t, n, lease) })
	}
}

func fleetPause(t *testing.T, n int, lease time.Duration) {
	dev := startDevServerArgs(t, n, "--reject-duplicates")
	v := &tv{t: t, name: "fleet", dir: pgVaultURL(t, pgtest.Database(t))}
	v.kr = filepath.Join(root, "kr", "fleet-"+randHex(4))
	v.pass, v.passTxt = writePass(t)
	if r := v.run([]string{"TGVAULT_PASSPHRASE_FILE=" + v.pass}, "init", "--json"); r.code != 0 {
		t.Fatalf("init: exit %d: %s", r.code, r.stderr)
	}
	f := &fleet{t: t, v: v, dev: dev, lease: lease, names: dev.seedNames(), workers: map[string]*runProc{},
		order: []string{"w1", "w2", "w3"}, poll: unixPoller{timeout: 2 * time.Second}}
	for _, name := range f.names {
		dev.seedKey(t, name)
	}
	v.mustImport(dev.seeds)
	for _, w := range f.order {
		f.startWorker(w)
	}
	d := f.waitSettled("start", true, 2*time.Minute+time.Duration(n)*20*time.Millisecond)
	t.Logf("lease %v: %d accounts ready on 3 workers in %v", lease, n, d.Round(time.Millisecond))
	f.check("start")

	// Worst case by the timing argument, plus connects on a loaded host.
	within := 4*lease + time.Minute + time.Duration(n)*20*time.Millisecond
	var pauseTimes []time.Duration
	for i, k := range envInts(envFleetPauses, "1,2,4") {
		victim := f.order[i%len(f.order)]
		held := f.heldBy(victim)
		p := f.workers[victim]
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		resumed := make(chan struct{})
		go func() {
			time.Sleep(time.Duration(k) * lease)
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			close(resumed)
		}()
		ds := f.takeover(victim, held, at, resumed, within)
		<-resumed
		settle := f.waitSettled(fmt.Sprintf("pause %d×%v of %s", k, lease, victim), true, within)
		f.check(fmt.Sprintf("pause %d×%v of %s", k, lease, victim))
		pauseTimes = append(pauseTimes, ds...)
		t.Logf("lease %v: %s stopped for %v holding %d: back %s; all ready once and balanced %v after the pause",
			lease, victim, time.Duration(k)*lease, len(held), spread(ds), settle.Round(time.Millisecond))
		figures.add("fleet-pause", "lease %v, %d accounts, pause %d×lease (%d accounts): back after %s", lease, n, k, len(held), spread(ds))
	}

	var killTimes []time.Duration
	for i := range envInt(envFleetKills, 1) {
		victim := f.order[i%len(f.order)]
		held := f.heldBy(victim)
		at := time.Now()
		f.workers[victim].kill()
		f.workers[victim] = nil
		ds := f.takeover(victim, held, at, nil, within)
		killTimes = append(killTimes, ds...)
		t.Logf("lease %v: %s killed holding %d: back %s", lease, victim, len(held), spread(ds))

		// Rejoin: the survivors give back their surplus, in batches,
		// without dropping any session they keep.
		rest := slices.DeleteFunc(slices.Clone(f.order), func(w string) bool { return w == victim })
		f.workers[victim] = nil
		kept := f.readySets(victim)
		f.startWorker(victim)
		settle := f.rejoin(rest, kept, within)
		f.check(fmt.Sprintf("kill %d of %s", i+1, victim))
		t.Logf("lease %v: %s rejoined; balanced %v later", lease, victim, settle.Round(time.Millisecond))
	}
	if len(killTimes) > 0 {
		figures.add("fleet-kill", "lease %v, %d accounts, SIGKILL: back after %s", lease, n, spread(sortedCopy(killTimes)))
	}
	st := dev.fleetStats()
	_, delay := deadManOf(t, lease)
	if st.Pings == 0 || time.Duration(st.PingDelayMin)*time.Second != delay || time.Duration(st.PingDelayMax)*time.Second != delay {
		t.Errorf("the workers asked for disconnect delays of %d s to %d s in %d pings, want %v", st.PingDelayMin, st.PingDelayMax, st.Pings, delay)
	}
	figures.add("fleet", "lease %v, %d accounts: duplicates %d, revoked 0, pauses back %s, kills back %s, ping disconnects %d, pings %d asking %d s",
		lease, n, st.Duplicates, spread(sortedCopy(pauseTimes)), spread(sortedCopy(killTimes)), st.PingDisconnects, st.Pings, st.PingDelayMax)
	for _, w := range f.order {
		if p := f.workers[w]; p != nil {
			if r := p.stop(); r.code != 0 {
				t.Errorf("worker %s: exit %d", w, r.code)
			}
		}
	}
}

// rejoin waits until the fleet is balanced again after a worker joined,
// polling the survivors meanwhile: an account a survivor still has at the
// end must have been ready on it at every poll (a give-back stops only the
// surplus; a renewal delayed by it would have the watchdog stop them all).
func (f *fleet) rejoin(survivors []string, before map[string]map[string]bool, within time.Duration) time.Duration {
	f.t.Helper()
	start := time.Now()
	missed := map[string]map[string]int{} // survivor -> account -> first poll it was not ready
	polls := 0
	for time.Since(start) < within {
		sets := f.readySets("")
		polls++
		for _, w := range survivors {
			set, ok := sets[w]
			if !ok {
				continue
			}
			for n := range before[w] {
				if !set[n] {
					if missed[w] == nil {
						missed[w] = map[string]int{}
					}
					if _, seen := missed[w][n]; !seen {
						missed[w][n] = polls
					}
				}
			}
		}
		if ok, _ := f.settled(true); ok {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.waitSettled("rejoin", true, within)
	final := f.readySets("")
	for _, w := range survivors {
		for n, poll := range missed[w] {
			if final[w][n] {
				f.t.Fatalf("worker %s dropped %s, which it keeps, during the rejoin (poll %d of %d)", w, n, poll, polls)
			}
		}
	}
	return time.Since(start)
}

func sortedCopy(ds []time.Duration) []time.Duration {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}

// deadManOf is the switch pgvault derives from a lease (checked against
// what the dev server saw asked).
func deadManOf(t testing.TB, lease time.Duration) (interval, delay time.Duration) {
	f, err := pgvault.NewFleet(nil, "w", lease)
	if err != nil {
		t.Fatal(err)
	}
	return f.DeadMan()
}
