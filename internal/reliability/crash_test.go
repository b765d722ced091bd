package reliability

import (
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

// crashStats are the figures of one crash loop.
type crashStats struct {
	kills        int // SIGKILLs delivered while the command ran
	finished     int // the command ended before its kill moment
	failedOpen   int // the vault did not open after a kill (target 0)
	lost         int // accounts committed before a kill that were missing or different (target 0)
	corrupt      int // accounts listed that did not export as expected (target 0)
	temps        int // stray temp files found after kills
	tempsSealed  int // of which sealed (or empty, or vault.json's public temp)
	tempsPlain   int // of which plaintext (target 0)
	orphans      int // account files not in the index (doctor), after the last kill
	doctorOther  map[string]int
	maxDur       time.Duration
	measured     time.Duration
	notes        []string
	killedLanded map[string]int // where the kills landed, by mode-specific bucket
}

func newCrashStats() *crashStats {
	return &crashStats{doctorOther: map[string]int{}, killedLanded: map[string]int{}}
}

func (s *crashStats) note(format string, args ...any) {
	if len(s.notes) < 20 {
		s.notes = append(s.notes, fmt.Sprintf(format, args...))
	}
}

func (s *crashStats) String() string {
	var dk []string
	for k, n := range s.doctorOther {
		dk = append(dk, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(dk)
	var lk []string
	for k, n := range s.killedLanded {
		lk = append(lk, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(lk)
	return fmt.Sprintf("kills %d (finished before the kill %d), vaults failed to open %d, accounts lost %d, corrupt %d, stray temp files %d (sealed/empty/public %d, plaintext %d), orphans %d, doctor other failures [%s], landed [%s], measured duration %v",
		s.kills, s.finished, s.failedOpen, s.lost, s.corrupt, s.temps, s.tempsSealed, s.tempsPlain, s.orphans,
		strings.Join(dk, " "), strings.Join(lk, " "), s.measured.Round(time.Millisecond))
}

// killDelay spreads kill moments over 1.2x the command's measured duration
// (process start included), so that some land before the first write, many
// mid-write, a few after the end.
func killDelay(measured time.Duration) time.Duration {
	return time.Duration(mrand.Int64N(int64(measured)*12/10 + 1))
}

// checkTemps counts the stray temp files, classifies them, scans them for
// secrets and removes them (as doctor advises).
func checkTemps(t *testing.T, v *tv, s *crashStats) {
	for _, p := range tempFiles(v.dir) {
		s.temps++
		switch c := classifyTemp(p); c {
		case "PLAINTEXT":
			s.tempsPlain++
			t.Errorf("plaintext temp file %s", p)
		default:
			s.tempsSealed++
		}
		if b, err := os.ReadFile(p); err == nil {
			if h := scanBytes(b); h != "" {
				t.Errorf("temp file %s holds a secret: %s", p, h)
			}
		}
		_ = os.Remove(p)
	}
}

// verify checks the vault after a kill: it opens (CLI list --json), every
// account of want exports as want says (in-process for all, CLI for a
// sample), and the accounts of maybe that the kill let through export as
// maybe says (they then join want). Handed-off accounts are checked
// after reclaim when reclaim is true.
func verify(t *testing.T, v *tv, s *crashStats, want, maybe map[string]string, sample int, extra ...string) bool {
	t.Helper()
	accts, r := v.list(extra...)
	if r.code != 0 {
		s.failedOpen++
		t.Errorf("%s: list after a kill: exit %d: %s", v.name, r.code, firstLine(r.stderr))
		return false
	}
	listed := map[string]vault.Account{}
	for _, a := range accts {
		listed[a.Name] = a
	}
	for name, a := range listed {
		if _, ok := want[name]; ok {
			continue
		}
		if exp, ok := maybe[name]; ok {
			want[name] = exp
			continue
		}
		s.corrupt++
		t.Errorf("%s: unexpected account %q (%s) after a kill", v.name, name, a.Status)
	}
	iv, err := v.inproc()
	if err != nil {
		s.failedOpen++
		t.Errorf("%s: in-process open: %v", v.name, err)
		return false
	}
	defer iv.Close()
	var names []string
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		exp := want[name]
		a, ok := listed[name]
		if !ok {
			s.lost++
			t.Errorf("%s: account %q committed before the kill is not listed", v.name, name)
			continue
		}
		if a.Status == vault.StatusHandedOff {
			continue // the caller checks these after reclaim
		}
		got, err := iv.Export(name, sessionstring.Pyrogram, false)
		if err != nil || got != exp {
			s.lost++
			t.Errorf("%s: account %q: export differs or fails (%v)", v.name, name, err)
		}
	}
	// The CLI on a sample.
	mrand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for _, name := range names[:min(sample, len(names))] {
		if listed[name].Status == vault.StatusHandedOff {
			continue
		}
		got, r := v.export(name, extra...)
		if r.code != 0 || got != want[name] {
			s.lost++
			t.Errorf("%s: CLI export %q: exit %d %s", v.name, name, r.code, firstLine(r.stderr))
		}
	}
	return true
}

// doctorAfter runs doctor and counts what it reports beyond the expected
// leftovers of a kill.
func doctorAfter(v *tv, s *crashStats, expected ...string) {
	failed, _ := v.doctor()
	for _, f := range failed {
		ok := false
		for _, e := range expected {
			if f == e {
				ok = true
			}
		}
		if f == "orphans" {
			ok = true
		}
		if !ok {
			s.doctorOther[f]++
		}
	}
}

func countOrphans(t *testing.T, v *tv) int {
	iv, err := v.inproc()
	if err != nil {
		return -1
	}
	defer iv.Close()
	accts, err := iv.List()
	if err != nil {
		return -1
	}
	known := map[string]bool{}
	for _, a := range accts {
		known[a.ID+".age"] = true
	}
	ents, _ := os.ReadDir(filepath.Join(v.dir, "accounts"))
	n := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") && !known[e.Name()] {
			n++
		}
	}
	return n
}

// crashKills is the total number of kills, shared by the four loops:
// a third each to import and export --move (cheap), a sixth each to
// rekey and passwd (each costs scrypt at 2^18: the binary honours no
// test hook to lower it). TGVAULT_CRASH_KILLS_<MODE> overrides one loop.
func crashKills() int { return envInt("TGVAULT_CRASH_KILLS", 30) }

func perMode(mode string) int {
	n := crashKills()
	def := max(1, n/3)
	if mode == "REKEY" || mode == "PASSWD" {
		def = max(1, n/6)
	}
	return envInt("TGVAULT_CRASH_KILLS_"+mode, def)
}

// TestCrashImport SIGKILLs bulk directory imports.
func TestCrashImport(t *testing.T) {
	n := perMode("IMPORT")
	files := envInt("TGVAULT_CRASH_IMPORT_FILES", 40)
	v := newVault(t, "crash-import")
	s := newCrashStats()
	want := map[string]string{}
	// Calibrate: one uncut import of the same size.
	dir, exp := writeSources(t, "cal", files)
	r := v.run(nil, "import", dir)
	if r.code != 0 {
		t.Fatalf("calibration import: exit %d: %s", r.code, r.stderr)
	}
	for k, e := range exp {
		want[k] = e
	}
	s.measured = r.dur
	for i := range n {
		dir, maybe := writeSources(t, fmt.Sprintf("k%03d", i), files)
		before := len(want)
		r := v.runKilled(killDelay(s.measured), nil, "import", dir)
		if r.killed {
			s.kills++
		} else {
			s.finished++
			if r.code != 0 {
				t.Errorf("import ended with exit %d: %s", r.code, firstLine(r.stderr))
			}
		}
		checkTemps(t, v, s)
		verify(t, v, s, want, maybe, 3)
		switch got := len(want) - before; {
		case got == 0:
			s.killedLanded["none-imported"]++
		case got == files:
			s.killedLanded["all-imported"]++
		default:
			s.killedLanded["partial"]++
		}
		doctorAfter(v, s, "temp files")
	}
	s.orphans = countOrphans(t, v)
	figures.add("crash-import", "%d files per import; %s; accounts at the end %d", files, s, len(want))
}

// TestCrashExportMove SIGKILLs `export NAME --to R --move`.
func TestCrashExportMove(t *testing.T) {
	n := perMode("MOVE")
	v := newVault(t, "crash-move")
	dir, want := writeSources(t, "mv", 12)
	v.mustImport(dir)
	other, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	rcpt := other.Recipient().String()
	s := newCrashStats()
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	sort.Strings(names)
	// Calibrate on one account, then reclaim it.
	r := v.run(nil, "export", names[0], "--to", rcpt, "--move")
	if r.code != 0 {
		t.Fatalf("calibration export --move: exit %d: %s", r.code, r.stderr)
	}
	s.measured = r.dur
	if r := v.run(nil, "reclaim", names[0]); r.code != 0 {
		t.Fatalf("reclaim: %s", r.stderr)
	}
	withheld := 0
	for i := range n {
		name := names[i%len(names)]
		r := v.runKilled(killDelay(s.measured), nil, "export", name, "--to", rcpt, "--move")
		if r.killed {
			s.kills++
		} else {
			s.finished++
		}
		checkTemps(t, v, s)
		// The account's file says whether it was handed off; the index
		// caches it. A kill between the two writes leaves the index
		// behind until an open reads the file, as this export does.
		indexSaid := vault.AccountStatus("?")
		if accts, _ := v.list(); accts != nil {
			for _, a := range accts {
				if a.Name == name {
					indexSaid = a.Status
				}
			}
		}
		if _, r := v.export(name); r.code == 5 && strings.Contains(r.stderr, "handed off") && indexSaid == vault.StatusActive {
			s.killedLanded["marked in the file, not yet the index"]++
		}
		verify(t, v, s, want, nil, 2)
		accts, _ := v.list()
		status := vault.AccountStatus("?")
		for _, a := range accts {
			if a.Name == name {
				status = a.Status
			}
		}
		s.killedLanded[string(status)]++
		// A sealed string on stdout means the account was marked
		// handed off first.
		printed := strings.HasSuffix(r.stdout, "\n") && strings.TrimSpace(r.stdout) != ""
		if printed {
			s.killedLanded["string-printed"]++
		}
		if printed && status != vault.StatusHandedOff {
			t.Errorf("export --move printed the sealed string but %q is %s", name, status)
		}
		if !printed && status == vault.StatusHandedOff {
			withheld++ // marked, string never printed: the user reclaims
		}
		if status == vault.StatusHandedOff {
			if r := v.run(nil, "reclaim", name); r.code != 0 {
				t.Errorf("reclaim %q after a kill: exit %d: %s", name, r.code, firstLine(r.stderr))
			}
			got, r := v.export(name)
			if r.code != 0 || got != want[name] {
				s.lost++
				t.Errorf("%q after reclaim: exit %d", name, r.code)
			}
		}
		doctorAfter(v, s, "temp files")
	}
	s.orphans = countOrphans(t, v)
	figures.add("crash-move", "%s; marked handed off with the string never printed %d", s, withheld)
}

// TestCrashRekey SIGKILLs `rekey`; after each kill the vault must open with
// the keyring (old or new key, whichever it holds) and with the
// passphrase; the next rekey finishes an interrupted one.
func TestCrashRekey(t *testing.T) {
	n := perMode("REKEY")
	v := newVault(t, "crash-rekey")
	dir, want := writeSources(t, "rk", 12)
	v.mustImport(dir)
	v.mustImport("../../testdata/vectors/pyrogram/pyrogram_v3.session")
	vec, _ := v.export("pyrogram_v3")
	want["pyrogram_v3"] = vec
	pass := []string{"TGVAULT_PASSPHRASE_FILE=" + v.pass}
	s := newCrashStats()
	r := v.run(pass, "rekey")
	if r.code != 0 {
		t.Fatalf("calibration rekey: exit %d: %s", r.code, r.stderr)
	}
	s.measured = r.dur
	oldOpens, pending, refused := 0, 0, 0
	for range n {
		oldID := v.identityFile()
		r := v.runKilled(killDelay(s.measured), pass, "rekey")
		if r.killed {
			s.kills++
		} else {
			s.finished++
			if r.code != 0 {
				t.Errorf("rekey ended with exit %d: %s", r.code, firstLine(r.stderr))
			}
		}
		checkTemps(t, v, s)
		// Keyring (in-process with the keyring's identity, and the CLI).
		verify(t, v, s, want, nil, 2)
		// Passphrase.
		if _, r := v.list(pass...); r.code != 0 {
			s.failedOpen++
			t.Errorf("list with the passphrase after a rekey kill: exit %d: %s", r.code, firstLine(r.stderr))
		}
		// The old key, as an identity file: opens until phase 4 ends.
		if _, r := v.list("TGVAULT_IDENTITY=" + oldID); r.code == 0 {
			oldOpens++
		}
		if _, err := os.Stat(filepath.Join(v.dir, "slots", "rekey.age")); err == nil {
			pending++
			s.killedLanded["rekey-pending"]++
			// Writes are refused until the rekey is finished.
			d, _ := writeSources(t, "rkw", 1)
			if r := v.run(nil, "import", d); r.code == 0 {
				t.Errorf("import during a pending rekey succeeded")
			} else {
				refused++
				if !strings.Contains(r.stderr, "rekey") {
					t.Errorf("refused import does not say to finish the rekey: %s", firstLine(r.stderr))
				}
			}
		} else {
			s.killedLanded["no-rekey-pending"]++
		}
		doctorAfter(v, s, "temp files", "rekey")
	}
	// Finish, then everything must be whole with the new key only.
	if r := v.run(pass, "rekey"); r.code != 0 {
		t.Fatalf("final rekey: exit %d: %s", r.code, r.stderr)
	}
	verify(t, v, s, want, nil, len(want))
	if failed, _ := v.doctor(); len(failed) > 0 {
		t.Errorf("doctor after the final rekey: %v", failed)
	}
	figures.add("crash-rekey", "%d accounts; %s; old key still opened after the kill %d; rekey pending after the kill %d (imports refused %d)",
		len(want), s, oldOpens, pending, refused)
}

// TestCrashPasswd SIGKILLs `passwd`: afterwards exactly one of the old and
// the new passphrase opens the slot, and the keyring still opens the vault.
func TestCrashPasswd(t *testing.T) {
	n := perMode("PASSWD")
	v := newVault(t, "crash-passwd")
	dir, want := writeSources(t, "pw", 4)
	v.mustImport(dir)
	s := newCrashStats()
	newPass, _ := writePass(t)
	r := v.run([]string{"TGVAULT_PASSPHRASE_FILE=" + v.pass, "TGVAULT_NEW_PASSPHRASE_FILE=" + newPass}, "passwd")
	if r.code != 0 {
		t.Fatalf("calibration passwd: exit %d: %s", r.code, r.stderr)
	}
	s.measured = r.dur
	cur := newPass
	for range n {
		next, _ := writePass(t)
		r := v.runKilled(killDelay(s.measured), []string{"TGVAULT_PASSPHRASE_FILE=" + cur, "TGVAULT_NEW_PASSPHRASE_FILE=" + next}, "passwd")
		if r.killed {
			s.kills++
		} else {
			s.finished++
		}
		checkTemps(t, v, s)
		verify(t, v, s, want, nil, 1)
		_, ro := v.list("TGVAULT_PASSPHRASE_FILE=" + cur)
		_, rn := v.list("TGVAULT_PASSPHRASE_FILE=" + next)
		switch {
		case ro.code == 0 && rn.code != 0:
			s.killedLanded["old-opens"]++
			if rn.code != 6 {
				t.Errorf("the other passphrase: exit %d, want 6 (wrong passphrase): %s", rn.code, firstLine(rn.stderr))
			}
		case rn.code == 0 && ro.code != 0:
			s.killedLanded["new-opens"]++
			if ro.code != 6 {
				t.Errorf("the other passphrase: exit %d, want 6 (wrong passphrase): %s", ro.code, firstLine(ro.stderr))
			}
			cur = next
		default:
			s.failedOpen++
			t.Errorf("after a passwd kill: old passphrase exit %d, new exit %d", ro.code, rn.code)
		}
		doctorAfter(v, s, "temp files")
	}
	figures.add("crash-passwd", "%s", s)
}
