package reliability

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

var busyPID = regexp.MustCompile(`process (\d+) \(`)

// TestConcurrentWriters runs a bulk import and a rekey at once, in both
// orders: the second writer is refused with exit 5 naming the first
// one's pid (the lock is retried for about 100 ms, then refused), and
// nothing is lost.
func TestConcurrentWriters(t *testing.T) {
	rounds := envInt("TGVAULT_CONC_ROUNDS", 1)
	files := envInt("TGVAULT_CONC_IMPORT_FILES", 100)
	v := newVault(t, "conc-writers")
	d, want := writeSources(t, "cw", 5)
	v.mustImport(d)
	pass := []string{"TGVAULT_PASSPHRASE_FILE=" + v.pass}
	outcomes := map[string]int{}
	for i := range rounds * 2 {
		importFirst := i%2 == 0
		dir, maybe := writeSources(t, fmt.Sprintf("cw%02d", i), files)
		imp, io, ie := v.command(nil, "import", dir)
		rk, ro, re := v.command(pass, "rekey")
		first, second := imp, rk
		if !importFirst {
			first, second = rk, imp
		}
		t0 := time.Now()
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		// Let the first take the lock: import takes it at once, rekey
		// after its keyring read (before the scrypt of the slot).
		time.Sleep(150 * time.Millisecond)
		if err := second.Start(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var ri, rr result
		wg.Go(func() { ri = finish([]string{"import", dir}, imp, io, ie, imp.Wait(), t0) })
		wg.Go(func() { rr = finish([]string{"rekey"}, rk, ro, re, rk.Wait(), t0) })
		wg.Wait()
		key := fmt.Sprintf("import-first=%v: import exit %d, rekey exit %d", importFirst, ri.code, rr.code)
		outcomes[key]++
		// The refused one names the other's pid.
		for _, c := range []struct {
			r     result
			other int
		}{{ri, rk.Process.Pid}, {rr, imp.Process.Pid}} {
			if c.r.code == 5 {
				m := busyPID.FindStringSubmatch(c.r.stderr)
				if m == nil || m[1] != strconv.Itoa(c.other) {
					t.Errorf("busy error does not name pid %d: %s", c.other, firstLine(c.r.stderr))
				}
			} else if c.r.code != 0 {
				t.Errorf("%s: unexpected failure: %s", key, firstLine(c.r.stderr))
			}
		}
		if ri.code == 0 {
			for k, e := range maybe {
				want[k] = e
			}
		}
		// Nothing lost, nothing half-imported.
		s := newCrashStats()
		verify(t, v, s, want, nil, 3)
		if s.lost+s.corrupt+s.failedOpen > 0 {
			t.Errorf("%s: lost %d corrupt %d failed to open %d", key, s.lost, s.corrupt, s.failedOpen)
		}
		if ri.code == 5 {
			// A refused import retried later imports everything.
			v.mustImport(dir)
			for k, e := range maybe {
				want[k] = e
			}
		}
	}
	var ks []string
	for k, n := range outcomes {
		ks = append(ks, fmt.Sprintf("%s (x%d)", k, n))
	}
	sort.Strings(ks)
	figures.add("conc-writers", "%d rounds of import (%d files) || rekey; %s; accounts at the end %d, all exported equal", rounds*2, files, strings.Join(ks, "; "), len(want))
}

// TestConcurrentReaders runs CLI readers (list --json, export) while
// another process writes in a loop (imports, one rekey): every answer is
// whole, the account count never goes down, exports are byte-equal.
func TestConcurrentReaders(t *testing.T) {
	writes := envInt("TGVAULT_CONC_WRITES", 12)
	readers := envInt("TGVAULT_CONC_READERS", 2)
	v := newVault(t, "conc-readers")
	d, want := writeSources(t, "cr", 3)
	v.mustImport(d)
	fixed := "cr-0000"
	pass := []string{"TGVAULT_PASSPHRASE_FILE=" + v.pass}
	var mu sync.Mutex
	stats := map[string]int{}
	bump := func(k string) { mu.Lock(); stats[k]++; mu.Unlock() }
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			last := 0
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				if (n+i)%2 == 0 {
					r := v.run(nil, "list", "--json")
					var as []vault.Account
					if r.code != 0 {
						bump(fmt.Sprintf("list exit %d", r.code))
						fail("list exit %d: %s", r.code, firstLine(r.stderr))
						continue
					}
					if err := json.Unmarshal([]byte(r.stdout), &as); err != nil {
						bump("list unparseable")
						fail("list unparseable: %v", err)
						continue
					}
					if len(as) < last {
						bump("list count went down")
						fail("list count %d after %d", len(as), last)
					}
					last = len(as)
					bump("list ok")
				} else {
					got, r := v.export(fixed)
					switch {
					case r.code != 0:
						bump(fmt.Sprintf("export exit %d", r.code))
						fail("export exit %d: %s", r.code, firstLine(r.stderr))
					case got != want[fixed]:
						bump("export differs")
						fail("export differs")
					default:
						bump("export ok")
					}
				}
			}
		})
	}
	var mu2 sync.Mutex
	added := map[string]string{}
	writer := map[string]int{}
	for i := range writes {
		if i == writes/2 {
			r := v.run(pass, "rekey")
			writer[fmt.Sprintf("rekey exit %d", r.code)]++
			continue
		}
		name := fmt.Sprintf("crw-%04d", i)
		s := genSession(t)
		c, o, e := v.command(nil, "import", "--name", name, "-")
		c.Stdin = strings.NewReader(s + "\n")
		t0 := time.Now()
		r := finish([]string{"import", "--name", name, "-"}, c, o, e, c.Run(), t0)
		writer[fmt.Sprintf("import exit %d", r.code)]++
		if r.code == 0 {
			mu2.Lock()
			added[name] = s
			mu2.Unlock()
		}
	}
	close(done)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	// Everything the writer committed exports as imported.
	iv, err := v.inproc()
	if err != nil {
		t.Fatal(err)
	}
	defer iv.Close()
	lost := 0
	for k, e := range added {
		want[k] = e
	}
	for k, e := range want {
		got, err := iv.Export(k, sessionstring.Pyrogram, false)
		if err != nil || got != e {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d accounts lost or different", lost)
	}
	var ks, ws []string
	for k, n := range stats {
		ks = append(ks, fmt.Sprintf("%s=%d", k, n))
	}
	for k, n := range writer {
		ws = append(ws, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(ks)
	sort.Strings(ws)
	figures.add("conc-readers", "%d readers during %d writes [%s]: reads [%s]; accounts lost %d of %d",
		readers, writes, strings.Join(ws, " "), strings.Join(ks, " "), lost, len(want))
}
