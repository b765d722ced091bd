//go:build unix

package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tgvault/tgvault/storage/foreign"
	"github.com/tgvault/tgvault/vault"
)

// The harnesses of this file need `tgvault run`: a dev server (tgvault
// dev-server) with seeded accounts, imported into a vault, served by a
// real run over a real unix socket. The dev server's state and its seeds
// directory hold the seeded auth keys by design, so they live under src/
// (not scanned); the stdout and stderr of run and of the dev server go to
// logs/ (scanned), and the seeded keys and their session strings are
// secrets of the scan.

// devServer is a running `tgvault dev-server` with seeded accounts.
type devServer struct {
	addr, pub, stats string
	seeds            string
	users            map[string]int64 // account name -> user id (username "user<ID>")
	cmd              *exec.Cmd
	done             chan struct{}
}

// logFile opens a new file in logs/ for a long-running child's output.
func logFile(t testing.TB, what string, args []string) *os.File {
	t.Helper()
	p := filepath.Join(root, "logs", fmt.Sprintf("%06d-%s.log", logSeq.Add(1), what))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "$ tgvault %s\n", strings.Join(args, " "))
	return f
}

// checkLogPanics counts a panic in a child's log.
func checkLogPanics(t testing.TB, path string) {
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, []byte("panic:")) || bytes.Contains(b, []byte("goroutine ")) {
		panics.Add(1)
		t.Errorf("%s: a panic in the log", path)
	}
}

// startDevServer starts a dev server seeding n accounts and registers
// their keys as secrets.
func startDevServer(t testing.TB, n int) *devServer {
	t.Helper()
	return startDevServerArgs(t, n)
}

// startDevServerArgs is startDevServer with more dev-server arguments.
func startDevServerArgs(t testing.TB, n int, extra ...string) *devServer {
	t.Helper()
	dir, err := os.MkdirTemp(filepath.Join(root, "src"), "dev-")
	if err != nil {
		t.Fatal(err)
	}
	info := filepath.Join(dir, "info.json")
	d := &devServer{stats: filepath.Join(dir, "stats.json"), done: make(chan struct{}), users: map[string]int64{}}
	args := []string{"--json", "dev-server", "--state", filepath.Join(dir, "state"), "--seed-accounts", strconv.Itoa(n),
		"--info-file", info, "--stats-file", d.stats}
	args = append(args, extra...)
	lf := logFile(t, "dev-server", args)
	d.cmd = exec.Command(bin, args...)
	d.cmd.Env = (&tv{}).env()
	d.cmd.Stdout, d.cmd.Stderr = lf, lf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := d.cmd.Wait()
		fmt.Fprintf(lf, "\nexit: %v\n", err)
		_ = lf.Close()
		checkLogPanics(t, lf.Name())
		close(d.done)
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(os.Interrupt)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	})
	var di struct {
		Addr      string `json:"addr"`
		PublicKey string `json:"public_key"`
		Seeds     string `json:"seeds"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(info); err == nil && len(b) > 0 && json.Unmarshal(b, &di) == nil && di.Addr != "" {
			break
		}
		select {
		case <-d.done:
			t.Fatalf("dev-server exited before listening (log %s)", lf.Name())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("dev-server wrote no info file")
		}
	}
	d.addr, d.pub, d.seeds = di.Addr, di.PublicKey, di.Seeds
	ents, err := os.ReadDir(d.seeds)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".session")
		if !ok {
			continue
		}
		// seed<ID>.session: the user's id (username user<ID>).
		uid, err := strconv.ParseInt(strings.TrimPrefix(name, "seed"), 10, 64)
		if err != nil {
			t.Fatalf("seed file %s: %v", e.Name(), err)
		}
		d.users[name] = uid
	}
	if len(d.users) != n {
		t.Fatalf("dev-server seeded %d accounts, want %d", len(d.users), n)
	}
	return d
}

// seedNames returns the seeded accounts' names, sorted.
func (d *devServer) seedNames() []string {
	var names []string
	for n := range d.users {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// seedKey reads a seeded account's auth key from its .session file and
// registers it as a secret.
func (d *devServer) seedKey(t testing.TB, name string) []byte {
	t.Helper()
	fg, err := foreign.ReadFile(filepath.Join(d.seeds, name+".session"))
	if err != nil {
		t.Fatal(err)
	}
	if uid, _ := fg.Session.UserID.Get(); uid != d.users[name] {
		t.Fatalf("%s: user id %d in the file", name, uid)
	}
	k := fg.Session.AuthKey.Bytes()
	addKey(k)
	return k
}

// devStats reads the dev server's counters.
func (d *devServer) devStats() (ex, dup int64) {
	var st struct {
		KeyExchanges int64 `json:"key_exchanges"`
		Duplicates   int64 `json:"duplicates"`
	}
	b, _ := os.ReadFile(d.stats)
	_ = json.Unmarshal(b, &st)
	return st.KeyExchanges, st.Duplicates
}

// runVault makes a vault and imports k of the dev server's seeds (the
// first k by name; the other seeded users are peers to resolve); it
// returns the vault with the export of each account. The keys and the
// session strings of the imported accounts become secrets.
func runVault(t *testing.T, name string, d *devServer, k int) (*tv, map[string]string) {
	t.Helper()
	v := newVault(t, name)
	src, err := os.MkdirTemp(filepath.Join(root, "src"), "seeds-")
	if err != nil {
		t.Fatal(err)
	}
	imported := map[string]bool{}
	for _, n := range d.seedNames()[:k] {
		d.seedKey(t, n)
		b, err := os.ReadFile(filepath.Join(d.seeds, n+".session"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, n+".session"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		imported[n] = true
	}
	v.mustImport(src)
	want := map[string]string{}
	accts, r := v.list()
	if r.code != 0 {
		t.Fatalf("list: exit %d: %s", r.code, r.stderr)
	}
	for _, a := range accts {
		if !imported[a.Name] {
			t.Fatalf("unexpected account %q after the import", a.Name)
		}
		s, r := v.export(a.Name)
		if r.code != 0 || s == "" {
			t.Fatalf("export %s: exit %d: %s", a.Name, r.code, r.stderr)
		}
		addWord(s)
		want[a.Name] = s
	}
	if len(want) != k {
		t.Fatalf("imported %d accounts, want %d", len(want), k)
	}
	return v, want
}

// runProc is a running `tgvault run`.
type runProc struct {
	cmd    *exec.Cmd
	sock   string
	log    string
	start  time.Time
	done   chan struct{}
	res    result
	client *http.Client
}

func sockPath() string { return filepath.Join(root, "tmp", "run-"+randHex(4)+".sock") }

// startRun starts `tgvault run` of v against the dev server on sock.
func (v *tv) startRun(t testing.TB, d *devServer, sock string) *runProc {
	t.Helper()
	return v.startLong(t, sock, "run", "--socket", sock, "--server", d.addr, "--server-key", d.pub)
}

// startLong starts a long-running tgvault (a run) with args, serving its
// local API on sock; its output goes to a log in logs/.
func (v *tv) startLong(t testing.TB, sock string, args ...string) *runProc {
	t.Helper()
	lf := logFile(t, "run", args)
	p := &runProc{sock: sock, log: lf.Name(), done: make(chan struct{}), client: unixClient(sock, 0)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = v.env()
	p.cmd.Stdout, p.cmd.Stderr = lf, lf
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A test that fails half-way leaves no run behind (and its log is
	// checked before the test ends).
	t.Cleanup(func() {
		if !p.exited() {
			p.kill()
		}
		<-p.done
	})
	go func() {
		err := p.cmd.Wait()
		p.res = result{dur: time.Since(p.start)}
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.res.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.res.killed, p.res.code = true, -1
			}
		default:
			p.res.code = -2
		}
		fmt.Fprintf(lf, "\nexit %d killed=%v dur=%v\n", p.res.code, p.res.killed, p.res.dur)
		_ = lf.Close()
		b, _ := os.ReadFile(lf.Name())
		p.res.stderr = string(b)
		checkLogPanics(t, lf.Name())
		close(p.done)
	}()
	return p
}

// stop sends SIGTERM and waits up to a minute (then SIGKILL).
func (p *runProc) stop() result {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.res
}

func (p *runProc) kill() result {
	_ = p.cmd.Process.Kill()
	<-p.done
	return p.res
}

func (p *runProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// unixClient is an HTTP client of a unix socket; maxConns 0 keeps
// connections alive, -1 opens one per request.
func unixClient(sock string, maxConns int) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: maxConns < 0,
	}
	return &http.Client{Transport: tr, Timeout: 90 * time.Second}
}

// apiResp is one answer of the local API.
type apiResp struct {
	code int
	ct   string
	body []byte
	err  error
}

// errBody returns the "error" of a JSON error body, "" if there is none.
func (r apiResp) errBody() string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(r.body, &e) != nil {
		return ""
	}
	return e.Error
}

func (r apiResp) String() string {
	if r.err != nil {
		return "error " + r.err.Error()
	}
	b := r.body
	if len(b) > 200 {
		b = b[:200]
	}
	return fmt.Sprintf("%d %s", r.code, strings.TrimSpace(string(b)))
}

func apiCall(c *http.Client, method, path string, body io.Reader) apiResp {
	req, err := http.NewRequest(method, "http://tgvault"+path, body)
	if err != nil {
		return apiResp{err: err}
	}
	resp, err := c.Do(req)
	if err != nil {
		return apiResp{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return apiResp{code: resp.StatusCode, ct: resp.Header.Get("Content-Type"), body: b, err: err}
}

// waitReady polls GET /v1/accounts until n accounts are ready (or the run
// exits, or the deadline passes).
func (p *runProc) waitReady(n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("run exited (%d) before %d accounts were ready: %s", p.res.code, n, firstLine(p.res.stderr))
		}
		r := apiCall(p.client, "GET", "/v1/accounts", nil)
		if r.err == nil && r.code == 200 {
			var as []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			}
			if err := json.Unmarshal(r.body, &as); err == nil {
				ready := 0
				for _, a := range as {
					if a.Status == "ready" {
						ready++
					}
				}
				last = fmt.Sprintf("%d of %d listed ready", ready, len(as))
				if ready == n && len(as) == n {
					return nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not %d accounts ready within %v (%s)", n, within, last)
}

// waitSocket polls until the socket exists (run listens right before
// its flush ticker starts) and returns when it appeared.
func (p *runProc) waitSocket(within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if fi, err := os.Lstat(p.sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return time.Now(), nil
		}
		if p.exited() {
			return time.Time{}, fmt.Errorf("run exited (%d): %s", p.res.code, firstLine(p.res.stderr))
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Time{}, errors.New("no socket")
}

const getSelf = `{"_":"users.getUsers","id":[{"_":"inputUserSelf"}]}`

// peerPairs is a shuffled queue of (account, username) resolves: each
// resolve of a username an account has not seen adds a peer to its cache
// (seeing a known peer again does not make the cache dirty).
type peerPairs struct {
	next  atomic.Int64
	pairs [][2]string
}

func newPeerPairs(d *devServer, accounts []string) *peerPairs {
	pp := &peerPairs{}
	for _, a := range accounts {
		for _, u := range d.users {
			pp.pairs = append(pp.pairs, [2]string{a, "user" + strconv.FormatInt(u, 10)})
		}
	}
	mrand.Shuffle(len(pp.pairs), func(i, j int) { pp.pairs[i], pp.pairs[j] = pp.pairs[j], pp.pairs[i] })
	return pp
}

func (pp *peerPairs) take() ([2]string, bool) {
	i := pp.next.Add(1) - 1
	if i >= int64(len(pp.pairs)) {
		return [2]string{}, false
	}
	return pp.pairs[i], true
}

// driver keeps the pool writing peers: resolves of usernames new to the
// account (from pp, while it lasts) and users.getUsers of the self user,
// from a few goroutines, each call every pace.
type driver struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	resolved map[string]map[string]time.Time // account -> usernames resolved with 200, when
	calls    atomic.Int64
	bad      atomic.Int64
	lastBad  atomic.Value
}

func drive(p *runProc, accounts []string, pp *peerPairs, workers int, pace time.Duration) *driver {
	dr := &driver{stop: make(chan struct{}), resolved: map[string]map[string]time.Time{}}
	for w := range workers {
		dr.wg.Go(func() {
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-dr.stop:
					return
				case <-tick.C:
				}
				var r apiResp
				pair, ok := pp.take()
				if ok {
					r = apiCall(p.client, "GET", "/v1/accounts/"+pair[0]+"/peers/@"+pair[1], nil)
				} else {
					r = apiCall(p.client, "POST", "/v1/accounts/"+accounts[(w+i)%len(accounts)]+"/invoke", strings.NewReader(getSelf))
				}
				dr.calls.Add(1)
				switch {
				case r.err == nil && r.code == 200:
					if ok {
						dr.mu.Lock()
						if dr.resolved[pair[0]] == nil {
							dr.resolved[pair[0]] = map[string]time.Time{}
						}
						dr.resolved[pair[0]][pair[1]] = time.Now()
						dr.mu.Unlock()
					}
				case r.err != nil && p.exited():
					return // killed or stopped under us
				default:
					dr.bad.Add(1)
					dr.lastBad.Store(r.String())
				}
			}
		})
	}
	return dr
}

func (dr *driver) halt() { close(dr.stop); dr.wg.Wait() }

// checkPeersSaved opens every account in this process and checks that
// the usernames resolved before the moment before (all when zero) are in
// its saved peer cache.
func checkPeersSaved(t *testing.T, v *tv, resolved map[string]map[string]time.Time, before time.Time, what string) (checked int) {
	t.Helper()
	iv, err := v.inproc()
	if err != nil {
		t.Errorf("in-process open: %v", err)
		return 0
	}
	defer iv.Close()
	for name, us := range resolved {
		f, err := iv.OpenAccount(name)
		if err != nil {
			t.Errorf("open %s: %v", name, err)
			continue
		}
		for u, at := range us {
			if !before.IsZero() && !at.Before(before) {
				continue
			}
			checked++
			if _, err := f.PeerByUsername(u); err != nil {
				t.Errorf("%s: peer @%s resolved before %s is not in the saved cache: %v", name, u, what, err)
			}
		}
		_ = f.Close()
	}
	return checked
}

// flushLanding says where a kill aimed at the periodic flush landed, from
// the modification times of the account files and the index: nothing
// else writes them between start-up and the first flush.
func flushLanding(v *tv, flushAt time.Time) string {
	after := flushAt.Add(-2 * time.Second)
	written, total := 0, 0
	ents, _ := os.ReadDir(filepath.Join(v.dir, "accounts"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		total++
		if fi, err := e.Info(); err == nil && fi.ModTime().After(after) {
			written++
		}
	}
	idx := false
	if fi, err := os.Stat(filepath.Join(v.dir, "index.age")); err == nil && fi.ModTime().After(after) {
		idx = true
	}
	switch {
	case written == 0 && !idx:
		return "flush:before"
	case written == total && idx:
		return "flush:after"
	}
	return "flush:mid"
}

// doctorRunHeld reports whether doctor says a run holds the vault.
func doctorRunHeld(v *tv) bool {
	r := v.run(nil, "doctor", "--json")
	var out struct {
		Checks []vault.Check `json:"checks"`
	}
	_ = json.Unmarshal([]byte(r.stdout), &out)
	for _, c := range out.Checks {
		if c.Name == "run" {
			return true
		}
	}
	return false
}

// TestCrashRun SIGKILLs `tgvault run` under peer-cache traffic: during
// start-up, around the periodic peer flush (every 10 s from the moment it
// listens) and during the SIGTERM shutdown (which saves every account).
// After each kill the vault opens, every account is there and exports
// (without --force: no stale run lock), no plaintext temp file is left,
// and the next run (on the same socket path: the killed one's socket file
// is left behind) connects every account again. A run that finishes its
// shutdown before the kill must have saved every peer it resolved.
func TestCrashRun(t *testing.T) {
	n := envInt("TGVAULT_RUN_KILLS", 6)
	accts := envInt("TGVAULT_RUN_ACCOUNTS", 8)
	// Enough other users that every run resolves new peers: about
	// 40 resolves a second (4 workers every 100 ms), 12 s per run.
	runs := n*2/3 + 3
	extra := max(100, runs*500/accts)
	d := startDevServer(t, accts+extra)
	v, want := runVault(t, "crash-run", d, accts)
	var names []string
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	pp := newPeerPairs(d, names)
	s := newCrashStats()
	// One socket path for every run, as a user's default is: a killed
	// run leaves its socket file behind for the next one to take over.
	sock := sockPath()

	// Calibrate: one clean run, traffic, SIGTERM.
	p := v.startRun(t, d, sock)
	if err := p.waitReady(accts, time.Minute); err != nil {
		p.kill()
		t.Fatalf("calibration: %v", err)
	}
	startup := time.Since(p.start)
	dr := drive(p, names, pp, 4, 100*time.Millisecond)
	time.Sleep(time.Second) // traffic for a while (nothing to wait for)
	dr.halt()
	if dr.bad.Load() > 0 {
		t.Errorf("calibration traffic: %d of %d calls failed (last %v)", dr.bad.Load(), dr.calls.Load(), dr.lastBad.Load())
	}
	t0 := time.Now()
	r := p.stop()
	shutdown := time.Since(t0)
	shutdowns := []time.Duration{shutdown}
	if r.code != 0 {
		t.Fatalf("calibration run: SIGTERM: exit %d: %s", r.code, r.stderr)
	}
	peersChecked := checkPeersSaved(t, v, dr.resolved, time.Time{}, "a clean SIGTERM")
	s.measured = startup
	cleanExits, calls := 0, dr.calls.Load()
	var startFail int
	for i := range n {
		phase := [...]string{"startup", "flush", "sigterm"}[i%3]
		p := v.startRun(t, d, sock)
		var dr *driver
		var termSent bool
		var flushAt time.Time
		switch phase {
		case "startup":
			time.Sleep(killDelay(startup)) // the kill moment itself
		case "flush":
			ls, err := p.waitSocket(time.Minute)
			if err == nil {
				err = p.waitReady(accts, time.Minute)
			}
			if err != nil {
				startFail++
				t.Errorf("run after a kill: %v", err)
				break
			}
			dr = drive(p, names, pp, 4, 100*time.Millisecond)
			// The first flush starts 10 s after run listens; it takes
			// tens of milliseconds here: aim at [-20 ms, +100 ms].
			flushAt = ls.Add(10 * time.Second)
			time.Sleep(time.Until(flushAt.Add(-20*time.Millisecond + time.Duration(mrand.Int64N(int64(120*time.Millisecond))))))
		case "sigterm":
			if err := p.waitReady(accts, time.Minute); err != nil {
				startFail++
				t.Errorf("run after a kill: %v", err)
				break
			}
			dr = drive(p, names, pp, 4, 100*time.Millisecond)
			time.Sleep(time.Duration(200+mrand.IntN(600)) * time.Millisecond)
			// SIGTERM with calls in flight, then SIGKILL within twice
			// the median shutdown measured so far (some runs exit
			// first; the median keeps an outlier, such as net/http's
			// 5 s wait for a connection that sent no request yet,
			// from sending every kill after the exit).
			if b := dr.bad.Load(); b > 0 {
				t.Errorf("traffic before SIGTERM: %d calls failed (last %v)", b, dr.lastBad.Load())
			}
			termAt := time.Now()
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			termSent = true
			select {
			case <-p.done:
				shutdowns = append(shutdowns, time.Since(termAt))
			case <-time.After(time.Duration(mrand.Int64N(2*int64(median(shutdowns)) + 1))):
			}
		}
		r := p.kill()
		if dr != nil {
			dr.halt()
			calls += dr.calls.Load()
		}
		if r.killed {
			s.kills++
			s.killedLanded[phase]++
			if phase == "flush" {
				l := flushLanding(v, flushAt)
				s.killedLanded[l]++
				if l == "flush:after" {
					// The flush finished before the kill: what was
					// resolved before its tick is saved.
					peersChecked += checkPeersSaved(t, v, dr.resolved, flushAt.Add(-100*time.Millisecond), "a finished periodic flush")
				}
			}
		} else {
			s.finished++
			s.killedLanded[phase+"-exited"]++
			if r.code != 0 {
				t.Errorf("%s: run exited %d before the kill: %s", phase, r.code, firstLine(r.stderr))
			}
			if termSent && r.code == 0 {
				cleanExits++
				peersChecked += checkPeersSaved(t, v, dr.resolved, time.Time{}, "a clean SIGTERM")
			}
		}
		checkTemps(t, v, s)
		verify(t, v, s, want, nil, 2)
		doctorAfter(v, s, "temp files")
		if doctorRunHeld(v) {
			t.Errorf("after a kill of run (%s), doctor still sees a run holding the vault", phase)
		}
		if accts, _ := v.list(); len(accts) > 0 {
			for _, a := range accts {
				if a.Status != vault.StatusActive {
					s.lost++
					t.Errorf("after a kill (%s): account %s is %s", phase, a.Name, a.Status)
				}
			}
		}
	}
	// The last word: a run after all the kills connects every account.
	p = v.startRun(t, d, sock)
	if err := p.waitReady(accts, time.Minute); err != nil {
		startFail++
		t.Errorf("final run: %v", err)
	}
	if r := p.stop(); r.code != 0 {
		t.Errorf("final run: SIGTERM: exit %d", r.code)
	}
	ex, dup := d.devStats()
	if ex != 0 {
		t.Errorf("the dev server saw %d key exchanges: a run made a new key", ex)
	}
	s.orphans = countOrphans(t, v)
	figures.add("crash-run", "%d accounts; %s; startup to ready %v, shutdown (SIGTERM to exit) %v calibration, %v median of %d, %v max; runs that failed to connect every account after a kill %d; clean shutdowns before the kill %d, peers checked saved %d; API calls %d; dev server key exchanges %d, duplicates %d",
		accts, s, startup.Round(time.Millisecond), shutdown.Round(time.Millisecond), median(shutdowns).Round(time.Millisecond), len(shutdowns), slices.Max(shutdowns).Round(time.Millisecond), startFail, cleanExits, peersChecked, calls, ex, dup)
}

func median(ds []time.Duration) time.Duration {
	c := slices.Clone(ds)
	slices.Sort(c)
	return c[len(c)/2]
}

// TestTwoRuns starts a second `tgvault run` on a vault a first one
// serves: it exits 5 naming the first one's pid, on another socket and
// on the same one, and the first keeps serving.
func TestTwoRuns(t *testing.T) {
	d := startDevServer(t, 2)
	v, _ := runVault(t, "two-runs", d, 2)
	sock := sockPath()
	p := v.startRun(t, d, sock)
	defer p.stop()
	if err := p.waitReady(2, time.Minute); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, s := range []string{sockPath(), sock} {
		r := v.run(nil, "run", "--socket", s, "--server", d.addr, "--server-key", d.pub)
		codes = append(codes, strconv.Itoa(r.code))
		if r.code != 5 {
			t.Errorf("second run (socket %s): exit %d, want 5: %s", s, r.code, firstLine(r.stderr))
		}
		m := busyPID.FindStringSubmatch(r.stderr)
		if m == nil || m[1] != strconv.Itoa(p.cmd.Process.Pid) {
			t.Errorf("second run's error does not name pid %d: %s", p.cmd.Process.Pid, firstLine(r.stderr))
		}
		if r.dur > 5*time.Second {
			t.Errorf("second run took %v to refuse", r.dur)
		}
	}
	// The first still serves, and export refuses without --force.
	for name := range d.users {
		if r := apiCall(p.client, "POST", "/v1/accounts/"+name+"/invoke", strings.NewReader(getSelf)); r.err != nil || r.code != 200 {
			t.Errorf("first run after the second was refused: %v", r)
		}
		if r := v.run(nil, "export", name); r.code != 5 {
			t.Errorf("export %s while run holds it: exit %d, want 5", name, r.code)
		}
		if r := v.run(nil, "export", name, "--force"); r.code != 0 || r.stdout == "" {
			t.Errorf("export %s --force while run holds it: exit %d", name, r.code)
		}
	}
	if r := p.stop(); r.code != 0 {
		t.Errorf("first run: SIGTERM: exit %d", r.code)
	}
	figures.add("two-runs", "second run exit codes [%s] (other socket, same socket; want 5 5); the first kept serving", strings.Join(codes, " "))
}

// TestRunAPIBadInput feeds the local API of a running `tgvault run` bad
// input: bodies over and at the limit, malformed JSON, unknown methods
// and accounts, refused methods, slowloris clients (headers or a body
// trickled in: cut by the server's ReadHeaderTimeout or the API's
// BodyTimeout while others are served) and many clients at once.
func TestRunAPIBadInput(t *testing.T) {
	const accts = 4
	clients := envInt("TGVAULT_API_CLIENTS", 200)
	slow := envInt("TGVAULT_API_SLOWLORIS", 8)
	d := startDevServer(t, accts)
	v, _ := runVault(t, "api-bad", d, accts)
	p := v.startRun(t, d, sockPath())
	defer p.stop()
	if err := p.waitReady(accts, time.Minute); err != nil {
		t.Fatal(err)
	}
	names := d.seedNames()
	a := names[0]
	inv := "/v1/accounts/" + a + "/invoke"
	c := unixClient(p.sock, -1)

	// Precise answers: status, JSON error body, content type.
	const limit = 1 << 20
	padded := func(size int) []byte { // getSelf padded with spaces to size bytes
		return append([]byte(getSelf), bytes.Repeat([]byte(" "), size-len(getSelf))...)
	}
	cases := []struct {
		name, method, path string
		body               []byte
		code               int
		errHas             string // the error names this
	}{
		{"over the limit by one byte", "POST", inv, padded(limit + 1), 413, strconv.Itoa(limit)},
		{"far over the limit", "POST", inv, padded(8 * limit), 413, strconv.Itoa(limit)},
		{"malformed JSON", "POST", inv, []byte(`{"_":"users.getUsers","id":[`), 400, ""},
		{"not an object", "POST", inv, []byte(`[1,2,3]`), 400, ""},
		{"empty body", "POST", inv, nil, 400, ""},
		{"unknown method", "POST", inv, []byte(`{"_":"users.getUserz","id":[]}`), 400, "users.getUserz"},
		{"unknown constructor", "POST", inv, []byte(`{"_":"users.getUsers","id":[{"_":"inputUserSelff"}]}`), 400, "inputUserSelff"},
		{"wrong class", "POST", inv, []byte(`{"_":"users.getUsers","id":[{"_":"inputPeerSelf"}]}`), 400, "inputPeerSelf"},
		{"refused method", "POST", inv, []byte(`{"_":"auth.logOut"}`), 403, ""},
		{"unknown account invoke", "POST", "/v1/accounts/nobody/invoke", []byte(getSelf), 404, ""},
		{"unknown account", "GET", "/v1/accounts/nobody", nil, 404, ""},
		{"unknown account me", "GET", "/v1/accounts/nobody/me", nil, 404, ""},
		{"unknown peer", "GET", "/v1/accounts/" + a + "/peers/@nosuchuser", nil, 404, ""},
	}
	for _, tc := range cases {
		var body io.Reader
		if tc.body != nil {
			body = bytes.NewReader(tc.body)
		}
		r := apiCall(c, tc.method, tc.path, body)
		switch {
		case r.err != nil:
			t.Errorf("%s: %v", tc.name, r.err)
		case r.code != tc.code:
			t.Errorf("%s: %v, want %d", tc.name, r, tc.code)
		case r.ct != "application/json" || r.errBody() == "":
			t.Errorf("%s: not a JSON error body (%s): %v", tc.name, r.ct, r)
		case tc.errHas != "" && !strings.Contains(r.errBody(), tc.errHas):
			t.Errorf("%s: the error does not name %q: %s", tc.name, tc.errHas, r.errBody())
		}
	}
	// At the limit exactly: answered.
	if r := apiCall(c, "POST", inv, bytes.NewReader(padded(limit))); r.err != nil || r.code != 200 || !bytes.Contains(r.body, []byte(`"_":"user"`)) {
		t.Errorf("a body of exactly %d bytes: %v", limit, r)
	}
	// The CLI client maps them to exit codes.
	for _, cc := range []struct {
		args []string
		code int
	}{
		{[]string{"call", a, "me"}, 0},
		{[]string{"call", "nobody", "me"}, 4},
		{[]string{"call", a, "users.getUserz", "{}"}, 2}, // not a method: usage, checked before sending
		{[]string{"call", a, "auth.logOut"}, 1},
	} {
		r := v.run([]string{"TGVAULT_SOCKET=" + p.sock}, cc.args...)
		if r.code != cc.code {
			t.Errorf("tgvault %s: exit %d, want %d: %s", strings.Join(cc.args, " "), r.code, cc.code, firstLine(r.stderr))
		}
	}

	// Slowloris: one byte every 200 ms, never finished; half the clients
	// trickle their headers, half send whole headers and trickle an invoke
	// body. The server must close each connection after 10 s (its
	// ReadHeaderTimeout; the API's BodyTimeout, answering 408) while
	// serving the others.
	type cut struct {
		body  bool // trickled a body, not headers
		after time.Duration
		sent  int
		resp  string // what the server sent before closing
		err   error
	}
	cuts := make(chan cut, slow)
	for i := range slow {
		go func() {
			body := i%2 == 1
			conn, err := net.Dial("unix", p.sock)
			if err != nil {
				cuts <- cut{body: body, err: err}
				return
			}
			defer conn.Close()
			t0 := time.Now()
			closed := make(chan struct{})
			var resp bytes.Buffer
			go func() { // the server closes: the read ends
				_, _ = io.Copy(&resp, conn)
				close(closed)
			}()
			trickle := "GET /v1/accounts HTTP/1.1\r\nHost: tgvault\r\nX-Slow: " + strings.Repeat("a", 1000)
			if body {
				_, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: tgvault\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n", inv)
				if err != nil {
					cuts <- cut{body: body, err: err}
					return
				}
				trickle = getSelf + strings.Repeat(" ", 4096-len(getSelf))
			}
			sent := 0
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-closed:
					cuts <- cut{body: body, after: time.Since(t0), sent: sent, resp: resp.String()}
					return
				case <-tick.C:
					if sent < len(trickle) {
						if _, err := conn.Write([]byte{trickle[sent]}); err == nil {
							sent++
						}
					}
					if time.Since(t0) > 30*time.Second {
						cuts <- cut{body: body, after: time.Since(t0), sent: sent, err: errors.New("not cut within 30 s")}
						return
					}
				}
			}
		}()
	}
	// Meanwhile, others are served promptly.
	served, worst := 0, time.Duration(0)
	var got []cut
	for len(got) < slow {
		select {
		case ct := <-cuts:
			got = append(got, ct)
		case <-time.After(500 * time.Millisecond):
			t0 := time.Now()
			r := apiCall(c, "POST", "/v1/accounts/"+names[served%accts]+"/invoke", strings.NewReader(getSelf))
			if r.err != nil || r.code != 200 {
				t.Errorf("a call during the slowloris: %v", r)
			}
			served++
			worst = max(worst, time.Since(t0))
		}
	}
	var minCut, maxCut time.Duration
	bodies := 0
	for i, ct := range got {
		if ct.err != nil {
			t.Errorf("slowloris client (body %v): %v", ct.body, ct.err)
			continue
		}
		if i == 0 || ct.after < minCut {
			minCut = ct.after
		}
		maxCut = max(maxCut, ct.after)
		if ct.after < 9*time.Second || ct.after > 15*time.Second {
			t.Errorf("slowloris client (body %v) cut after %v (%d bytes sent), want about 10 s", ct.body, ct.after, ct.sent)
		}
		if ct.body {
			bodies++
			if !strings.HasPrefix(ct.resp, "HTTP/1.1 408 ") || !strings.Contains(ct.resp, "timed out") {
				t.Errorf("slow-body client: answered %.80q, want 408 naming the timeout", ct.resp)
			}
		}
	}
	if worst > 2*time.Second {
		t.Errorf("a call took %v during the slowloris", worst)
	}

	// Many clients at once, each on its own connection.
	start := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	var slowest atomic.Int64
	var firstBad atomic.Value
	for i := range clients {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			r := apiCall(c, "POST", "/v1/accounts/"+names[i%accts]+"/invoke", strings.NewReader(getSelf))
			if r.err != nil || r.code != 200 || !bytes.Contains(r.body, []byte(`"self":true`)) {
				failed.Add(1)
				firstBad.CompareAndSwap(nil, r.String())
			}
			for el := int64(time.Since(t0)); ; {
				cur := slowest.Load()
				if el <= cur || slowest.CompareAndSwap(cur, el) {
					break
				}
			}
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	all := time.Since(t0)
	if f := failed.Load(); f > 0 {
		t.Errorf("%d of %d concurrent clients not answered 200 (first %v)", f, clients, firstBad.Load())
	}
	// Still serving, every account ready.
	if err := p.waitReady(accts, 5*time.Second); err != nil {
		t.Errorf("after the bad input: %v", err)
	}
	if r := apiCall(c, "GET", "/v1/accounts/"+a+"/me", nil); r.err != nil || r.code != 200 {
		t.Errorf("me after the bad input: %v", r)
	}
	r := p.stop()
	if r.code != 0 {
		t.Errorf("run: SIGTERM after the bad input: exit %d", r.code)
	}
	if strings.Contains(r.stderr, "panic") {
		t.Errorf("run's log mentions a panic")
	}
	figures.add("api-bad", "%d error cases answered as specified; %d slowloris clients (%d of them trickling a body, answered 408) cut after %v..%v while %d calls were served (slowest %v); %d concurrent clients in %v (slowest %v), failed %d; run exit after SIGTERM %d",
		len(cases)+1, slow, bodies, minCut.Round(10*time.Millisecond), maxCut.Round(10*time.Millisecond), served, worst.Round(time.Millisecond),
		clients, all.Round(time.Millisecond), time.Duration(slowest.Load()).Round(time.Millisecond), failed.Load(), r.code)
}

// TestRunLogsScanned is the positive control of the secrets scan for
// this file: a seeded account's key (read from its .session file) and
// its session string are needles, a planted copy in a file is found by
// the tree scan, and the dev server's log is in logs/ (scanned) while its
// state and seeds (plaintext by design) are under src/ (not scanned).
func TestRunLogsScanned(t *testing.T) {
	d := startDevServer(t, 1)
	v, want := runVault(t, "scan", d, 1)
	name := d.seedNames()[0]
	k := d.seedKey(t, name)
	dir, err := os.MkdirTemp(filepath.Join(root, "src"), "planted-")
	if err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(dir, "run.log")
	if err := os.WriteFile(planted, append([]byte("log line "), k[100:140]...), 0o600); err != nil {
		t.Fatal(err)
	}
	if hits, _, _ := scanTree(dir); len(hits) != 1 {
		t.Errorf("a planted window of a seeded key: %d hits, want 1", len(hits))
	}
	if scanBytes([]byte("x "+want[name]+" y")) == "" {
		t.Errorf("the seeded account's session string is not a needle")
	}
	p := v.startRun(t, d, sockPath())
	if err := p.waitReady(1, time.Minute); err != nil {
		t.Error(err)
	}
	if r := p.stop(); r.code != 0 {
		t.Errorf("run: SIGTERM: exit %d", r.code)
	}
	for _, l := range []string{p.log} {
		if filepath.Dir(l) != filepath.Join(root, "logs") {
			t.Errorf("run's log %s is not in logs/", l)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(root, "logs"))
	found := false
	for _, e := range ents {
		found = found || strings.HasSuffix(e.Name(), "-dev-server.log")
	}
	if !found {
		t.Errorf("no dev-server log in logs/")
	}
	if !strings.HasPrefix(d.seeds, filepath.Join(root, "src")+string(filepath.Separator)) {
		t.Errorf("seeds dir %s is not under src/", d.seeds)
	}
}
