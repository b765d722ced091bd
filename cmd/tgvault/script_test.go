package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/pgtest"
	"github.com/tgvault/tgvault/internal/realpart"
	"github.com/tgvault/tgvault/internal/secretservicetest"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/vault"
)

// scryptLogN makes passphrase slots cheap in the end-to-end tests.
const scryptLogN = 10

// nopTB satisfies testhooks.SetScryptWorkFactor inside a command
// re-exec'd by testscript, where testing.Testing() is true but there is
// no *testing.T: the process ends with the command, so there is nothing
// to clean up.
type nopTB struct{}

func (nopTB) Helper()        {}
func (nopTB) Cleanup(func()) {}

func TestMain(m *testing.M) {
	// pgtest.Main stops the PostgreSQL server the fleet tests started.
	testscript.Main(pgMain{m}, map[string]func(){
		"tgvault": func() {
			testhooks.SetScryptWorkFactor(nopTB{}, scryptLogN)
			os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
		"holdlock": holdLockMain,
		"nomlock":  nomlockMain,
	})
}

type pgMain struct{ m *testing.M }

// Run runs the tests, stops the PostgreSQL server and the Secret Service
// they started, and reports the real parts they missed.
func (p pgMain) Run() int {
	return realpart.Main(realpart.RunFunc(func() int {
		return secretservicetest.Main(realpart.RunFunc(func() int { return pgtest.Main(p.m) }))
	}))
}

// holdLockMain is a second process for the scripts: `holdlock KIND DIR
// READY STOP` takes the vault's write lock ("write": DIR/lock, with the
// holder record the vault writes) or the ownership lock of every account
// file, as a `tgvault run` serving them does ("run", through the
// DirBackend), creates READY and holds the locks until STOP exists (at
// most a minute).
func holdLockMain() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: holdlock write|run DIR READY STOP")
		os.Exit(2)
	}
	kind, dir, ready, stop := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	var release func() error
	switch kind {
	case "write":
		r, err := holdWriteLock(filepath.Join(dir, "lock"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "holdlock:", err)
			os.Exit(1)
		}
		release = r
	case "run":
		be := vault.DirBackend(dir)
		names, err := be.List("accounts")
		if err != nil {
			fmt.Fprintln(os.Stderr, "holdlock:", err)
			os.Exit(1)
		}
		var ids []string
		for _, n := range names {
			ids = append(ids, strings.TrimSuffix(filepath.Base(n), ".age"))
		}
		h := vault.LockHolder{PID: os.Getpid(), Command: "tgvault run", Since: time.Now().UTC()}
		taken, busy, err := be.LockAccounts(ids, h)
		if err != nil || len(busy) > 0 {
			fmt.Fprintln(os.Stderr, "holdlock:", err, busy)
			os.Exit(1)
		}
		release = func() error {
			for _, rel := range taken {
				_ = rel()
			}
			return nil
		}
	default:
		os.Exit(2)
	}
	if err := os.WriteFile(ready, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.Exit(1)
	}
	for range 600 {
		if _, err := os.Stat(stop); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = release()
	os.Exit(0)
}

// writeLockRecord is the holder record the vault writes into its lock
// file (vault.LockHolder).
func writeLockRecord(f *os.File) error {
	b, err := json.Marshal(vault.LockHolder{PID: os.Getpid(), Command: "holdlock", Since: time.Now().UTC()})
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.WriteAt(append(b, '\n'), 0)
	return err
}

func TestScript(t *testing.T) {
	vectors, err := filepath.Abs(vector())
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			// The scripts work on copies: --remove-source deletes them.
			if err := copyTree(vectors, filepath.Join(e.WorkDir, "vectors")); err != nil {
				return err
			}
			// Sessions with keys of their own (testdata/variants/README.md).
			if err := copyTree(filepath.Join("testdata", "variants"), filepath.Join(e.WorkDir, "variants")); err != nil {
				return err
			}
			// A home that does not exist, as testscript's /no-home, but
			// this script's own: tgvault keeps sockets and state in a home
			// that exists, and /no-home may exist on a shared machine.
			e.Setenv("HOME", filepath.Join(e.WorkDir, ".no-home"))
			e.Setenv("TGVAULT_DIR", filepath.Join(e.WorkDir, "vault"))
			e.Setenv("TGVAULT_INSECURE_TEST_KEYRING", filepath.Join(e.WorkDir, "keyring"))
			e.Setenv("NO_COLOR", "1")
			e.Setenv("UID", strconv.Itoa(os.Geteuid()))
			// The scripts' own files (passphrases, identities, proxy
			// URLs) are private, as a careful user keeps them; testscript
			// writes them 0666 less the umask.
			if err := privateFiles(e.WorkDir); err != nil {
				return err
			}
			e.Defer(func() { scanSecrets(e) })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":      cmdExitCode,
			"waitfile":      cmdWaitFile,
			"setjson":       cmdSetJSON,
			"mangle":        cmdMangle,
			"snapshot":      cmdSnapshot,
			"cpglob":        cmdCpGlob,
			"genid":         cmdGenIdentity,
			"termrun":       cmdTermRun,
			"statwait":      cmdStatWait,
			"socks5":        cmdSocks5,
			"mtproxy":       cmdMTProxy,
			"vmlck":         cmdVmLck,
			"putfile":       cmdPutFile,
			"waitgone":      cmdWaitGone,
			"mode":          cmdMode,
			"secretservice": cmdSecretService,
			"mkfifo":        cmdMkfifo,
			"waitstate":     cmdWaitState,
		},
		Condition: func(cond string) (bool, error) {
			if cond == "memlock" {
				return memlockCond(), nil
			}
			if cond == "secretservice" {
				return secretServiceCond()
			}
			if cond == "sessionbus" {
				// godbus finds a bus there when DBUS_SESSION_BUS_ADDRESS
				// is unset.
				_, err := os.Stat(fmt.Sprintf("/run/user/%d/bus", os.Geteuid()))
				return err == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

// privateFiles makes the regular files at the top of dir 0600.
func privateFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, d := range ents {
		if d.Type().IsRegular() {
			if err := os.Chmod(filepath.Join(dir, d.Name()), 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

// cmdExitCode runs `exitcode N PROG ARGS...` and fails unless PROG exits
// with status N. Its stdout and stderr are kept for the next commands.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad status %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdPutFile runs `putfile FILE TEXT...`: it writes the TEXT arguments,
// joined by spaces and with $VARs expanded, and a newline to FILE (0600),
// for secrets that must reach tgvault through a file or stdin, never its
// argv.
func cmdPutFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: putfile FILE TEXT...")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Join(args[1:], " ")+"\n"), 0o600))
}

// secretServiceCond is the [secretservice] condition: the test binary's
// real Secret Service (a private gnome-keyring on a private D-Bus,
// internal/secretservicetest) runs, started on first use. Where
// dbus-daemon or gnome-keyring is missing it is false, and noted as a
// missing real part (an error under TGVAULT_REQUIRE_REAL=1). A script
// goes on with `[!secretservice] skip` and then `secretservice`.
func secretServiceCond() (bool, error) {
	_, err := secretservicetest.Get()
	if errors.Is(err, secretservicetest.ErrNotInstalled) {
		const part, hint = "Secret Service", "apt-get install --no-install-recommends gnome-keyring dbus"
		realpart.Record("TestScript ([secretservice])", part, hint)
		if realpart.Required() {
			return false, errors.New(realpart.Message(part, hint) + "; " + realpart.EnvRequire + "=1 makes this a failure")
		}
		return false, nil
	}
	return err == nil, err
}

// cmdSecretService runs `secretservice`: it points the rest of the script
// at the test binary's real Secret Service ([secretservice] first).
func cmdSecretService(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: secretservice")
	}
	svc, err := secretservicetest.Get()
	ts.Check(err)
	ts.Setenv("DBUS_SESSION_BUS_ADDRESS", svc.Addr)
}

// cmdWaitGone waits up to 30 s for a file to be gone.
func cmdWaitGone(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitgone FILE")
	}
	for range 300 {
		if _, err := os.Lstat(ts.MkAbs(args[0])); errors.Is(err, fs.ErrNotExist) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("%s is still there after 30 s", args[0])
}

// cmdMode runs `mode FILE PERM`: it fails unless FILE (not followed if a
// symlink) has the octal permission bits PERM.
func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mode FILE PERM")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fi.Mode().Perm(); uint64(got) != want {
		ts.Fatalf("%s has mode %04o, want %04o", args[0], got, want)
	}
}

// cmdWaitFile waits up to 2 minutes for a file to exist: a file that comes
// at all comes in seconds on a quiet machine, but `demo` and `run` under
// -race on a loaded 2-core CI machine pay real-strength scrypt and every
// login first (seen past 30 s).
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	for range 1200 {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("%s did not appear", args[0])
}

// copyTree copies the vector files (not tdata: it does not import).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
}

// secretNeedles are what must never reach a vault directory or TMPDIR in
// plaintext: every 32-byte window of the vectors' auth key (bytes
// 0..255), the phone number in the vectors' peers, and every passphrase
// the script used (its files named *.pass).
// scriptMTProxyKey is the key of the MTProxy secrets in the scripts (hex,
// after the type byte).
const scriptMTProxyKey = "5ec7e75ec7e75ec7e75ec7e75ec7e7aa"

func scriptMTProxyKeyBytes() []byte {
	b, _ := hex.DecodeString(scriptMTProxyKey)
	return b
}

func secretNeedles(workDir string) (map[string][]byte, error) {
	n := map[string][]byte{"phone": []byte("15551234567"), "MTProxy secret": []byte(scriptMTProxyKey), "MTProxy secret bytes": scriptMTProxyKeyBytes()}
	key := make([]byte, 256)
	for i := range key {
		key[i] = byte(i)
	}
	for i := 0; i+32 <= len(key); i++ {
		n[fmt.Sprintf("auth key bytes %d..%d", i, i+31)] = key[i : i+32]
	}
	passes, err := filepath.Glob(filepath.Join(workDir, "*.pass"))
	if err != nil {
		return nil, err
	}
	for _, p := range passes {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) > 0 {
			n["passphrase in "+filepath.Base(p)] = b
		}
	}
	return n, nil
}

// scanSecrets fails the script if a secret is found in plaintext in any
// vault directory of the script ($WORK/vault*) or in its TMPDIR.
func scanSecrets(e *testscript.Env) {
	needles, err := secretNeedles(e.WorkDir)
	if err != nil {
		e.T().Fatal(err)
	}
	var roots []string
	vaults, _ := filepath.Glob(filepath.Join(e.WorkDir, "vault*"))
	for _, v := range vaults {
		if fi, err := os.Stat(v); err == nil && fi.IsDir() {
			roots = append(roots, v)
		}
	}
	roots = append(roots, e.Getenv("TMPDIR"))
	files, hits := findSecrets(roots, needles)
	for _, h := range hits {
		rel, _ := filepath.Rel(e.WorkDir, h)
		e.T().Fatal(fmt.Sprintf("a secret was found in plaintext in $WORK/%s", filepath.ToSlash(rel)))
	}
	e.T().Log(fmt.Sprintf("secret scan: %d files, %d needles, 0 hits", files, len(needles)))
}

// findSecrets returns how many files under roots it read, and "PATH:
// WHAT" for each needle found in one.
func findSecrets(roots []string, needles map[string][]byte) (files int, hits []string) {
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			files++
			for what, n := range needles {
				if bytes.Contains(b, n) {
					hits = append(hits, p+": "+what)
				}
			}
			return nil
		})
	}
	return files, hits
}

// TestFindSecrets checks that the scan would see a leak.
func TestFindSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.pass"), []byte("s3cret words\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	needles, err := secretNeedles(dir)
	if err != nil {
		t.Fatal(err)
	}
	vault := filepath.Join(dir, "vault")
	if err := os.MkdirAll(vault, 0o700); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 256)
	for i := range key {
		key[i] = byte(i)
	}
	leaks := map[string][]byte{
		"key":   append([]byte("xx"), key[100:140]...),
		"pass":  []byte("...s3cret words..."),
		"phone": []byte(`{"phone":15551234567}`),
	}
	for name, b := range leaks {
		if err := os.WriteFile(filepath.Join(vault, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(vault, "clean"), key[:31], 0o600); err != nil {
		t.Fatal(err)
	}
	files, hits := findSecrets([]string{vault}, needles)
	got := map[string]bool{}
	for _, h := range hits {
		got[strings.SplitN(filepath.Base(h), ":", 2)[0]] = true
	}
	if files != 4 || len(got) != 3 || !got["key"] || !got["pass"] || !got["phone"] || got["clean"] {
		t.Errorf("files %d, hits %v", files, hits)
	}
}

// cmdSetJSON runs `setjson VAR KEY`: it sets VAR to the string field KEY
// of the JSON object the last command printed.
func cmdSetJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setjson VAR KEY")
	}
	var m map[string]any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile("stdout")), &m))
	v, ok := m[args[1]].(string)
	if !ok {
		ts.Fatalf("setjson: no string field %q in stdout", args[1])
	}
	ts.Setenv(args[0], v)
}

// cmdMangle runs `mangle truncate|flip FILE`: it cuts FILE to half its
// length, or flips one bit in its middle.
func cmdMangle(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mangle truncate|flip FILE")
	}
	path := ts.MkAbs(args[1])
	b, err := os.ReadFile(path)
	ts.Check(err)
	switch args[0] {
	case "truncate":
		b = b[:len(b)/2]
	case "flip":
		b[len(b)/2] ^= 0x10
	default:
		ts.Fatalf("mangle: unknown mode %q", args[0])
	}
	ts.Check(os.WriteFile(path, b, 0o600))
}

// cmdSnapshot runs `snapshot DIR FILE`: it writes the names, sizes and
// SHA-256 of every file under DIR (the lock file aside) to FILE, so that
// `cmp` shows whether anything stored changed.
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: snapshot DIR FILE")
	}
	root := ts.MkAbs(args[0])
	var out strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "lock" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&out, "%s %d %x\n", filepath.ToSlash(rel), len(b), sha256.Sum256(b))
		return nil
	})
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out.String()), 0o600))
}

// cmdCpGlob runs `cpglob GLOB DST`: it copies the one file matching GLOB.
func cmdCpGlob(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cpglob GLOB DST")
	}
	m, err := filepath.Glob(ts.MkAbs(args[0]))
	ts.Check(err)
	if len(m) != 1 {
		ts.Fatalf("cpglob: %d files match %s", len(m), args[0])
	}
	b, err := os.ReadFile(m[0])
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o600))
}

// cmdGenIdentity runs `genid FILE`: it writes a new age identity file.
func cmdGenIdentity(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: genid FILE")
	}
	id, err := crypto.GenerateIdentity()
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte("# test identity\n"+id.Reveal()+"\n"), 0o600))
}

// cmdWaitState runs `waitstate NAME STATE`: it waits (30 s at most) until
// the run serving on $TGVAULT_SOCKET shows account NAME in STATE.
func cmdWaitState(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitstate NAME STATE")
	}
	a := &app{getenv: ts.Getenv}
	sock, err := a.socketPath("")
	ts.Check(err)
	var last string
	for range 300 {
		accts, err := a.poolStatus(sock)
		if err == nil {
			for _, p := range accts {
				if p.Name == args[0] {
					last = p.Status
				}
			}
			if last == args[1] {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("account %s is %q, not %s, after 30 s", args[0], last, args[1])
}
