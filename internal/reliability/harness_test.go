package reliability

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/pgtest"
	"github.com/tgvault/tgvault/internal/realpart"
	"github.com/tgvault/tgvault/internal/secretservicetest"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

// The harness root holds everything the binary touches, so the secrets
// scan at the end covers all of it:
//
//	bin/     the tgvault binary
//	vaults/  every vault directory
//	kr/      the TGVAULT_INSECURE_TEST_KEYRING directories (plaintext identities by design)
//	src/     plaintext inputs: session files, passphrase files, the dev server's state and seeds (by design)
//	tmp/     TMPDIR of every child (and the local API sockets of run)
//	logs/    stdout and stderr of every child (stdout of plain exports excepted: it is the session by design),
//	         streamed there for the long-running ones (run, dev-server)
//	home/    HOME of every child
var (
	bin     string
	root    string
	logSeq  atomic.Int64
	panics  atomic.Int64
	figures = &figureLog{}
)

// envAgentPeer makes the test binary a raw client of the agent socket it
// names (TestAgentRefusesOtherUser runs it as another user).
const envAgentPeer = "TGVAULT_TEST_AGENT_PEER"

func TestMain(m *testing.M) {
	if os.Getenv(envAgentPeer) != "" {
		// A helper run as another user (TestAgentPeerHelper): no
		// harness, no build.
		os.Exit(m.Run())
	}
	var err error
	root, err = os.MkdirTemp("", "tgvault-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, d := range []string{"bin", "vaults", "kr", "src", "tmp", "logs", "home"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	bin = filepath.Join(root, "bin", "tgvault")
	build := exec.Command("go", "build", "-tags", "tgvault_testhooks", "-o", bin, "github.com/tgvault/tgvault/cmd/tgvault")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tgvault:", err)
		os.Exit(1)
	}
	addKey(vectorKey())
	addWord("15551234567") // the vectors' peer phone number
	// pgtest.Main stops the PostgreSQL the fleet harness started, if any.
	code := realpart.Main(realpart.RunFunc(func() int {
		return pgtest.Main(realpart.RunFunc(func() int { return secretservicetest.Main(m) }))
	}))

	// The secrets scan runs over everything the binary wrote in every
	// test that ran.
	hits, files, n := scanTree(filepath.Join(root, "vaults"), filepath.Join(root, "tmp"), filepath.Join(root, "logs"))
	figures.add("secrets", "files scanned %d, bytes %d, keys %d (32-byte windows %d), words %d, hits %d, panics %d",
		files, n, secretCount(), windowCount(), wordCount(), len(hits), panics.Load())
	for _, h := range hits {
		fmt.Fprintln(os.Stderr, "SECRET LEAK:", h)
	}
	if len(hits) > 0 || panics.Load() > 0 {
		code = 1
	}
	figures.print()
	if os.Getenv("TGVAULT_RELIABILITY_KEEP") != "" {
		fmt.Fprintln(os.Stderr, "reliability: kept", root)
	} else {
		_ = os.RemoveAll(root)
	}
	os.Exit(code)
}

// envInt reads a count from the environment, with a default for CI.
func envInt(name string, def int) int {
	if s := os.Getenv(name); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			return n
		}
	}
	return def
}

// figureLog collects the figures every harness reports; TestMain prints
// them at the end (they go into docs/reliability.md).
type figureLog struct {
	mu    sync.Mutex
	lines []string
}

func (f *figureLog) add(name, format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := fmt.Sprintf("FIGURE %-12s %s", name, fmt.Sprintf(format, args...))
	f.lines = append(f.lines, l)
	// At once too, so that an interrupted run keeps what it measured.
	fmt.Println(l)
}

func (f *figureLog) print() {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Println("FIGURE summary:")
	for _, l := range f.lines {
		fmt.Println(l)
	}
	if p := os.Getenv("TGVAULT_RELIABILITY_FIGURES"); p != "" {
		_ = os.WriteFile(p, []byte(strings.Join(f.lines, "\n")+"\n"), 0o600)
	}
}

// ---- secrets ----

// wordPrefix is the length of the prefix words are indexed by: the
// shortest secret word (a phone number) has 11 bytes.
const wordPrefix = 11

var secrets struct {
	sync.Mutex
	keys    int
	windows map[[32]byte]struct{}
	words   map[[wordPrefix]byte][][]byte // by prefix: one lookup per position, not one search per word
	nwords  int
}

func vectorKey() []byte {
	k := make([]byte, 256)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// addKey registers an auth key: every 32-byte window of it is searched for.
func addKey(k []byte) {
	secrets.Lock()
	defer secrets.Unlock()
	if secrets.windows == nil {
		secrets.windows = map[[32]byte]struct{}{}
	}
	secrets.keys++
	for i := 0; i+32 <= len(k); i++ {
		secrets.windows[[32]byte(k[i:i+32])] = struct{}{}
	}
}

// addWord registers a secret searched for as is (passphrases, phone
// numbers, session strings).
func addWord(w string) {
	if len(w) < wordPrefix {
		panic("secret word shorter than the index prefix")
	}
	secrets.Lock()
	defer secrets.Unlock()
	if secrets.words == nil {
		secrets.words = map[[wordPrefix]byte][][]byte{}
	}
	k := [wordPrefix]byte([]byte(w[:wordPrefix]))
	secrets.words[k] = append(secrets.words[k], []byte(w))
	secrets.nwords++
}

func secretCount() int { secrets.Lock(); defer secrets.Unlock(); return secrets.keys }
func windowCount() int { secrets.Lock(); defer secrets.Unlock(); return len(secrets.windows) }
func wordCount() int   { secrets.Lock(); defer secrets.Unlock(); return secrets.nwords }

// scanBytes returns a description of the first secret found in b, or "".
func scanBytes(b []byte) string {
	secrets.Lock()
	defer secrets.Unlock()
	for i := 0; i+wordPrefix <= len(b); i++ {
		if i+32 <= len(b) {
			if _, ok := secrets.windows[[32]byte(b[i:i+32])]; ok {
				return fmt.Sprintf("auth key bytes at offset %d", i)
			}
		}
		for _, w := range secrets.words[[wordPrefix]byte(b[i:i+wordPrefix])] {
			if bytes.HasPrefix(b[i:], w) {
				return fmt.Sprintf("secret word (len %d) at offset %d", len(w), i)
			}
		}
	}
	return ""
}

// scanTree scans every regular file under the roots.
func scanTree(roots ...string) (hits []string, files int, n int64) {
	for _, r := range roots {
		_ = filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			files++
			n += int64(len(b))
			if h := scanBytes(b); h != "" {
				hits = append(hits, p+": "+h)
			}
			return nil
		})
	}
	return hits, files, n
}

// ---- sessions ----

// genSession returns a new Pyrogram v3 session string with a random auth
// key (registered as a secret).
func genSession(t testing.TB) string {
	t.Helper()
	k := make([]byte, 256)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	addKey(k)
	ak, err := sessionstring.NewAuthKey(k)
	if err != nil {
		t.Fatal(err)
	}
	s := sessionstring.Session{
		DCID:     1 + mrand.IntN(5),
		APIID:    sessionstring.Some(int32(10000 + mrand.IntN(90000))),
		TestMode: sessionstring.Some(false),
		AuthKey:  ak,
		UserID:   sessionstring.Some(int64(100000000 + mrand.IntN(900000000))),
		IsBot:    sessionstring.Some(mrand.IntN(4) == 0),
	}
	out, err := sessionstring.Encode(sessionstring.Pyrogram, s)
	if err != nil {
		t.Fatal(err)
	}
	addWord(out)
	return out
}

// writeSources writes n session-string files named prefix-NNNN.txt into a
// new directory under src/ and returns it with the expected export of each
// account (name = file name without .txt).
func writeSources(t testing.TB, prefix string, n int) (string, map[string]string) {
	t.Helper()
	dir, err := os.MkdirTemp(filepath.Join(root, "src"), prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("%s-%04d", prefix, i)
		s := genSession(t)
		if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		want[name] = s
	}
	return dir, want
}

// ---- one vault driven through the binary ----

type tv struct {
	t       testing.TB
	name    string
	dir     string
	kr      string
	pass    string // path of the current passphrase file
	passTxt string
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writePass writes a new random passphrase file and registers it.
func writePass(t testing.TB) (path, text string) {
	t.Helper()
	text = "rel-pass-" + randHex(12)
	addWord(text)
	path = filepath.Join(root, "src", "pass-"+randHex(6))
	if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, text
}

// newVault makes a keyring vault (the test keyring, unlocked) with a
// passphrase slot. Costs one scrypt (2^18) seal.
func newVault(t testing.TB, name string) *tv {
	t.Helper()
	v := &tv{t: t, name: name}
	v.dir = filepath.Join(root, "vaults", name+"-"+randHex(4))
	v.kr = filepath.Join(root, "kr", name+"-"+randHex(4))
	v.pass, v.passTxt = writePass(t)
	r := v.run([]string{"TGVAULT_PASSPHRASE_FILE=" + v.pass}, "init", "--json")
	if r.code != 0 {
		t.Fatalf("init: exit %d: %s", r.code, r.stderr)
	}
	return v
}

// env is the child's environment: nothing of the caller's TGVAULT_*, a
// private HOME and TMPDIR, no D-Bus.
func (v *tv) env(extra ...string) []string {
	var e []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TGVAULT_") || strings.HasPrefix(kv, "DBUS_") || strings.HasPrefix(kv, "HOME=") ||
			strings.HasPrefix(kv, "TMPDIR=") || strings.HasPrefix(kv, "XDG_") {
			continue
		}
		e = append(e, kv)
	}
	e = append(e, "HOME="+filepath.Join(root, "home"), "TMPDIR="+filepath.Join(root, "tmp"), "NO_COLOR=1",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/reliability")
	if v.dir != "" {
		e = append(e, "TGVAULT_DIR="+v.dir)
	}
	if v.kr != "" {
		e = append(e, "TGVAULT_INSECURE_TEST_KEYRING="+v.kr)
	}
	return append(e, extra...)
}

type result struct {
	stdout, stderr string
	code           int
	dur            time.Duration
	killed         bool
}

func (v *tv) command(extra []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	c := exec.Command(bin, args...)
	c.Env = v.env(extra...)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	return c, &o, &e
}

// plainExport reports whether args print a plain session on stdout (not
// logged: the session is the output by design).
func plainExport(args []string) bool {
	if len(args) > 0 && args[0] == "relay" {
		// relay NAME prints a relay session string (its list and revoke
		// print none).
		return len(args) > 1 && args[1] != "list" && args[1] != "revoke"
	}
	if len(args) == 0 || args[0] != "export" {
		return false
	}
	for _, a := range args {
		if a == "--to" || strings.HasPrefix(a, "--to=") || a == "--passphrase" || a == "--plaintext-file" {
			return false
		}
	}
	return true
}

// finish records a finished child: exit code, log, panic check.
func finish(args []string, c *exec.Cmd, o, e *bytes.Buffer, err error, start time.Time) result {
	r := result{stdout: o.String(), stderr: e.String(), dur: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(interface{ Signaled() bool }); ok && ws.Signaled() {
			r.killed = true
			r.code = -1
		}
	default:
		r.code = -2
		r.stderr += "\n(start failed: " + err.Error() + ")"
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		panics.Add(1)
	}
	seq := logSeq.Add(1)
	var lb bytes.Buffer
	fmt.Fprintf(&lb, "$ tgvault %s\nexit %d killed=%v dur=%v\n--- stderr\n%s", strings.Join(args, " "), r.code, r.killed, r.dur, r.stderr)
	if !plainExport(args) {
		fmt.Fprintf(&lb, "--- stdout\n%s", r.stdout)
	}
	_ = os.WriteFile(filepath.Join(root, "logs", fmt.Sprintf("%06d.log", seq)), lb.Bytes(), 0o600)
	return r
}

// run runs tgvault with args and the extra environment.
func (v *tv) run(extra []string, args ...string) result {
	c, o, e := v.command(extra, args...)
	start := time.Now()
	err := c.Run()
	return finish(args, c, o, e, err, start)
}

// runKilled starts tgvault and SIGKILLs it after delay (if it still runs).
func (v *tv) runKilled(delay time.Duration, extra []string, args ...string) result {
	c, o, e := v.command(extra, args...)
	start := time.Now()
	if err := c.Start(); err != nil {
		return finish(args, c, o, e, err, start)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return finish(args, c, o, e, err, start)
	case <-time.After(delay):
		_ = c.Process.Kill()
		err := <-done
		return finish(args, c, o, e, err, start)
	}
}

// list runs `list --json` and returns the accounts.
func (v *tv) list(extra ...string) ([]vault.Account, result) {
	r := v.run(extra, "list", "--json")
	if r.code != 0 {
		return nil, r
	}
	var as []vault.Account
	if err := json.Unmarshal([]byte(r.stdout), &as); err != nil {
		r.code = -3
		r.stderr += "\n(unparseable list --json: " + err.Error() + ")"
	}
	return as, r
}

// export runs `export NAME` (pyrogram) and returns the string without its
// newline.
func (v *tv) export(name string, extra ...string) (string, result) {
	r := v.run(extra, "export", name, "--format", "pyrogram")
	return strings.TrimSuffix(r.stdout, "\n"), r
}

// mustImport imports sources and fails the test on error.
func (v *tv) mustImport(src ...string) {
	v.t.Helper()
	r := v.run(nil, append([]string{"import", "--json"}, src...)...)
	if r.code != 0 {
		v.t.Fatalf("import: exit %d: %s", r.code, r.stderr)
	}
}

// keyringIdentity reads the identity the test keyring holds for the vault.
func (v *tv) keyringIdentity() (*crypto.Identity, error) {
	ents, err := os.ReadDir(v.kr)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(v.kr, e.Name()))
		if err != nil {
			return nil, err
		}
		return crypto.ParseIdentity(strings.TrimSpace(string(b)))
	}
	return nil, errors.New("no identity in the test keyring")
}

// inproc opens the vault in this process with the test keyring's identity
// (no scrypt): for checking hundreds of accounts fast.
func (v *tv) inproc() (*vault.Vault, error) {
	id, err := v.keyringIdentity()
	if err != nil {
		return nil, err
	}
	return vault.Open(vault.Options{Dir: v.dir, Identity: id})
}

// identityFile writes the current keyring identity to a file under src/
// (for --identity) and returns its path.
func (v *tv) identityFile() string {
	v.t.Helper()
	id, err := v.keyringIdentity()
	if err != nil {
		v.t.Fatal(err)
	}
	p := filepath.Join(root, "src", "identity-"+randHex(6))
	if err := os.WriteFile(p, []byte(id.Reveal()+"\n"), 0o600); err != nil {
		v.t.Fatal(err)
	}
	return p
}

// tempFiles lists the `.NAME.tmp-XXXX` files an interrupted write leaves.
func tempFiles(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

const ageMagic = "age-encryption.org/v1\n"

// classifyTemp says what a stray temp file is: "sealed" (an age file, or
// an empty or partial one that holds no plaintext), "public" (vault.json's
// temp: no secret), or "PLAINTEXT" (anything else).
func classifyTemp(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "gone"
	}
	base := filepath.Base(p)
	switch {
	case strings.HasPrefix(base, ".vault.json.tmp-"):
		return "public"
	case len(b) == 0:
		return "empty"
	case bytes.HasPrefix(b, []byte(ageMagic)) || bytes.HasPrefix([]byte(ageMagic), b):
		return "sealed"
	}
	return "PLAINTEXT"
}

// doctor runs `doctor --json` and returns the names of the failed checks.
func (v *tv) doctor(extra ...string) ([]string, result) {
	r := v.run(extra, "doctor", "--json")
	var out struct {
		OK     bool          `json:"ok"`
		Checks []vault.Check `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		return []string{"(unparseable: " + err.Error() + ")"}, r
	}
	var failed []string
	for _, c := range out.Checks {
		if !c.OK {
			failed = append(failed, c.Name)
		}
	}
	return failed, r
}

// copyTree copies the directory src to dst (which must not exist),
// keeping modes.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, fi.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// restoreTree replaces dst with a copy of src.
func restoreTree(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	copyTree(t, src, dst)
}

// firstLine returns the first line of s, for messages in figures.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "INSECURE_TEST_KEYRING") {
			continue
		}
		return l
	}
	return ""
}

// TestScannerFindsPlantedSecrets is the secrets scan's positive control:
// a 32-byte window of a key at an odd offset, a phone number, a
// passphrase and a session string are each found.
func TestScannerFindsPlantedSecrets(t *testing.T) {
	k := vectorKey()
	s := genSession(t)
	_, pass := writePass(t)
	for name, b := range map[string][]byte{
		"key window":     append([]byte("xyz"), k[77:109]...),
		"phone":          []byte("tel: 15551234567."),
		"passphrase":     []byte("p=" + pass),
		"session string": []byte("TGVAULT_SESSION=" + s + "\n"),
	} {
		if scanBytes(b) == "" {
			t.Errorf("the scan misses a planted %s", name)
		}
	}
	if h := scanBytes([]byte(strings.Repeat("harmless text ", 100))); h != "" {
		t.Errorf("false positive: %s", h)
	}
}
