//go:build unix

package reliability

import (
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/vault"
)

// The harnesses of this file attack the one-owner rule through the real
// binary and a dev server that counts duplicate use of a key (a key used
// by a connection while another connection uses it): index rollback after
// a move, export --move racing a starting run, run A beside export B.

// startRunArgs starts `tgvault run` with extra arguments (NAMEs, flags).
func (v *tv) startRunArgs(t testing.TB, d *devServer, sock string, extra ...string) *runProc {
	t.Helper()
	args := append([]string{"run", "--socket", sock, "--server", d.addr, "--server-key", d.pub, "--mlock", "off"}, extra...)
	return v.startLong(t, sock, args...)
}

// poolNames returns the accounts a run's pool has (once its socket is
// up, the pool of a directory vault's run is fixed). The socket file
// appears at bind, a moment before the listen: a refused dial is tried
// again for a while.
func (p *runProc) poolNames() (map[string]string, error) {
	var r apiResp
	for deadline := time.Now().Add(5 * time.Second); ; {
		r = apiCall(p.client, "GET", "/v1/accounts", nil)
		if r.err == nil || time.Now().After(deadline) || p.exited() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r.err != nil || r.code != 200 {
		return nil, fmt.Errorf("GET /v1/accounts: %v", r)
	}
	var as []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(r.body, &as); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, a := range as {
		out[a.Name] = a.Status
	}
	return out, nil
}

// status reads `show NAME --json`'s status.
func (v *tv) status(t testing.TB, name string) vault.AccountStatus {
	t.Helper()
	r := v.run(nil, "show", name, "--json")
	var a vault.Account
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &a) != nil {
		t.Fatalf("show %s: exit %d: %s", name, r.code, firstLine(r.stderr))
	}
	return a.Status
}

// recipient is a fresh age recipient to hand accounts off to.
func recipient(t testing.TB) string {
	t.Helper()
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String()
}

// TestIndexRollbackAfterMove: export --move, then the index.age from
// before the move put back (a sync tool, a backup): the moved account
// stays handed off (its file says so), run does not connect it, export
// refuses it, and the index is repaired; the dev server sees no key used
// twice.
func TestIndexRollbackAfterMove(t *testing.T) {
	d := startDevServer(t, 2)
	v, _ := runVault(t, "rollback-move", d, 2)
	names := d.seedNames()
	moved, other := names[0], names[1]
	idx := filepath.Join(v.dir, "index.age")
	before, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	if r := v.run(nil, "export", moved, "--to", recipient(t), "--move"); r.code != 0 {
		t.Fatalf("export --move: exit %d: %s", r.code, r.stderr)
	}
	if err := os.WriteFile(idx, before, 0o600); err != nil {
		t.Fatal(err)
	}
	accts, _ := v.list()
	for _, a := range accts {
		if a.Name == moved && a.Status != vault.StatusActive {
			t.Fatalf("the restored index says %s (the test needs the old, active one)", a.Status)
		}
	}
	p := v.startRunArgs(t, d, sockPath())
	if _, err := p.waitSocket(time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := p.waitReady(1, time.Minute); err != nil {
		t.Fatal(err)
	}
	pool, err := p.poolNames()
	if err != nil {
		t.Fatal(err)
	}
	if _, served := pool[moved]; served {
		t.Errorf("run serves %s, handed off before the index rollback", moved)
	}
	if _, served := pool[other]; !served {
		t.Errorf("run does not serve %s", other)
	}
	if r := v.run(nil, "export", moved); r.code != 5 || !strings.Contains(r.stderr, "handed off") {
		t.Errorf("export %s after the rollback: exit %d: %s", moved, r.code, firstLine(r.stderr))
	}
	if st := v.status(t, moved); st != vault.StatusHandedOff {
		t.Errorf("the index says %s after run read the file, want handed_off", st)
	}
	if r := p.stop(); r.code != 0 {
		t.Errorf("run: SIGTERM: exit %d", r.code)
	}
	ex, dup := d.devStats()
	if ex != 0 || dup != 0 {
		t.Errorf("dev server: %d key exchanges, %d duplicates", ex, dup)
	}
	figures.add("rollback-move", "index rolled back after export --move: run served %d of 2 (not the moved one), export exit 5, index repaired; dev server duplicates %d", len(pool), dup)
}

// TestMoveRunRace starts `run` and `export --move` of the same account at
// once, with a random offset, many times (TGVAULT_RACE_ROUNDS, 200 by
// default): exactly one wins each time (the export exits 0 and run does
// not serve the account, or the export is refused with exit 5 and run
// serves it), the account is never handed off while the pool serves it,
// and the dev server never sees its key used twice.
func TestMoveRunRace(t *testing.T) {
	rounds := envInt("TGVAULT_RACE_ROUNDS", 200)
	d := startDevServer(t, 2)
	v, _ := runVault(t, "move-run-race", d, 2)
	acct := d.seedNames()[0]
	to := recipient(t)
	sock := sockPath()
	wins := map[string]int{}
	var offsets []time.Duration
	for i := range rounds {
		// Offset in [-150 ms, +150 ms): negative starts the export first.
		off := time.Duration(mrand.IntN(300)-150) * time.Millisecond
		offsets = append(offsets, off)
		var (
			p  *runProc
			er result
			wg sync.WaitGroup
		)
		startExport := func() {
			wg.Go(func() { er = v.run(nil, "export", acct, "--to", to, "--move") })
		}
		if off < 0 {
			startExport()
			time.Sleep(-off)
			p = v.startRunArgs(t, d, sock)
		} else {
			p = v.startRunArgs(t, d, sock)
			time.Sleep(off)
			startExport()
		}
		wg.Wait()
		if _, err := p.waitSocket(time.Minute); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		pool, err := p.poolNames()
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		_, served := pool[acct]
		st := v.status(t, acct)
		switch {
		case er.code == 0 && !served && st == vault.StatusHandedOff:
			wins["export"]++
		case er.code == 5 && served && st == vault.StatusActive:
			wins["run"]++
		default:
			t.Errorf("round %d (offset %v): export exit %d (%s), run serves it %v, status %s: not exactly one winner",
				i, off, er.code, firstLine(er.stderr), served, st)
		}
		if served && st == vault.StatusHandedOff {
			t.Errorf("round %d: handed off while the pool serves it", i)
		}
		if r := p.stop(); r.code != 0 {
			t.Errorf("round %d: run: SIGTERM: exit %d: %s", i, r.code, firstLine(r.stderr))
		}
		if er.code == 0 {
			if r := v.run(nil, "reclaim", acct); r.code != 0 {
				t.Fatalf("round %d: reclaim: exit %d: %s", i, r.code, r.stderr)
			}
		}
		if t.Failed() && i > 5 {
			break
		}
	}
	ex, dup := d.devStats()
	if dup != 0 || ex != 0 {
		t.Errorf("dev server: %d key exchanges, %d duplicates", ex, dup)
	}
	t.Logf("wins: %v", wins)
	figures.add("move-run-race", "%d rounds of run || export --move (offsets -150..+150 ms): export won %d, run won %d, neither or both %d; dev server duplicates %d",
		rounds, wins["export"], wins["run"], rounds-wins["export"]-wins["run"], dup)
}

// TestRunAExportB: `run A` holds A only: B exports, moves, comes back,
// is renamed while run serves A, and A is refused; the dev server sees
// no key used twice.
func TestRunAExportB(t *testing.T) {
	d := startDevServer(t, 2)
	v, want := runVault(t, "run-a-export-b", d, 2)
	names := d.seedNames()
	a, b := names[0], names[1]
	p := v.startRunArgs(t, d, sockPath(), a)
	if err := p.waitReady(1, time.Minute); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	to := recipient(t)
	for w := range 3 {
		wg.Go(func() {
			for i := range 5 {
				if got, r := v.export(b); r.code != 0 || got != want[b] {
					// Another goroutine may hold B for its move for an
					// instant: that is exit 5 naming that process.
					if r.code != 5 || !strings.Contains(r.stderr, "held by process") {
						errs <- fmt.Sprintf("worker %d: export %s: exit %d: %s", w, b, r.code, firstLine(r.stderr))
					}
				}
				if r := v.run(nil, "export", a); r.code != 5 || !strings.Contains(r.stderr, "(tgvault run)") {
					errs <- fmt.Sprintf("worker %d: export %s while run serves it: exit %d: %s", w, a, r.code, firstLine(r.stderr))
				}
				_ = i
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if r := v.run(nil, "export", b, "--to", to, "--move"); r.code != 0 {
		t.Errorf("move %s while run serves %s: exit %d: %s", b, a, r.code, firstLine(r.stderr))
	}
	if r := v.run(nil, "reclaim", b); r.code != 0 {
		t.Errorf("reclaim %s: exit %d", b, r.code)
	}
	if r := v.run(nil, "rename", b, b+"-renamed"); r.code != 0 {
		t.Errorf("rename %s while run serves %s: exit %d: %s", b, a, r.code, firstLine(r.stderr))
	}
	if r := v.run(nil, "rename", a, a+"-renamed"); r.code != 5 {
		t.Errorf("rename %s while run serves it: exit %d", a, r.code)
	}
	st := v.run(nil, "status", "--socket", p.sock)
	if !strings.Contains(st.stdout, a) || !strings.Contains(st.stdout, "(tgvault run)") || strings.Contains(st.stdout, b+"-renamed ") {
		t.Errorf("status does not name the holder of %s only:\n%s", a, st.stdout)
	}
	if r := p.stop(); r.code != 0 {
		t.Errorf("run: SIGTERM: exit %d", r.code)
	}
	ex, dup := d.devStats()
	if ex != 0 || dup != 0 {
		t.Errorf("dev server: %d key exchanges, %d duplicates", ex, dup)
	}
	figures.add("run-a-export-b", "run A; 15 exports of B and a move, rename of B ok; export and rename of A exit 5; dev server duplicates %d", dup)
}
