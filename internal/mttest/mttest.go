package mttest

import (
	"bufio"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/realpart"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// The api_id and api_hash the tests log in and seed sessions with (the dev
// server takes any; the api_id is the one its seeded sessions carry).
const (
	APIID   = devserver.SeedAPIID
	APIHash = "344583e45741c457fe1862106095a5eb"
)

// StartServer opens a dev server with opts (in a new temp dir when Dir is
// empty) and serves it until the test ends; a Serve error fails the test.
func StartServer(t testing.TB, opts devserver.Options) *devserver.Server {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	srv, err := devserver.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev server: %v", err)
		}
	})
	return srv
}

// ConnectTimeout leaves room for key exchanges on a loaded machine (tests
// run in parallel, and the race detector slows the exchange down a lot).
func ConnectTimeout() time.Duration {
	if raceEnabled {
		return 5 * time.Minute
	}
	return time.Minute
}

// NewMemory is a memory store closed when the test ends.
func NewMemory(t testing.TB) *storage.Memory {
	t.Helper()
	m, err := storage.NewMemory(nil, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// RandomKey is a new random auth key.
func RandomKey(t testing.TB) sessionstring.AuthKey {
	t.Helper()
	b := make([]byte, sessionstring.AuthKeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	k, err := sessionstring.NewAuthKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// SeedStore writes an authorized user's session row, as an import would.
func SeedStore(t testing.TB, s storage.Storage, key sessionstring.AuthKey, dc int, userID int64) {
	t.Helper()
	err := s.SetSession(storage.SessionRow{
		DCID:     dc,
		APIID:    sessionstring.Some[int32](APIID),
		TestMode: sessionstring.Some(false),
		AuthKey:  key,
		UserID:   sessionstring.Some(userID),
		IsBot:    sessionstring.Some(false),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TelethonPython returns a python3 that imports telethon, or skips (fails
// under TGVAULT_REQUIRE_REAL=1).
func TelethonPython(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import telethon").Run() == nil {
			return p
		}
	}
	realpart.Missing(t, "python3-telethon", "apt-get install python3-telethon")
	return ""
}

// NodeModules returns the directory (TGVAULT_NODE_MODULES) whose
// node_modules holds the npm packages pkgs (.ci/run installs them there),
// or skips (fails under TGVAULT_REQUIRE_REAL=1).
func NodeModules(t testing.TB, pkgs ...string) string {
	t.Helper()
	const hint = "npm install telegram@2.26.22 @mtcute/node@0.29.7 in a directory and set TGVAULT_NODE_MODULES to it (.ci/run does)"
	dir := os.Getenv("TGVAULT_NODE_MODULES")
	if dir == "" {
		realpart.Missing(t, "npm packages "+strings.Join(pkgs, ", "), hint)
	}
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			realpart.Missing(t, "npm package "+pkg, hint)
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		realpart.Missing(t, "node", "apt-get install nodejs npm")
	}
	return dir
}

// ParseMetrics reads a Prometheus text exposition into "name{labels}" →
// value, failing the test on a sample without a TYPE line before it, a
// sample given twice, or a line it cannot read.
func ParseMetrics(t testing.TB, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	typed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			typed[f[2]] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad sample line %q", line)
		}
		name, _, _ := strings.Cut(key, "{")
		if !typed[name] {
			t.Errorf("sample %s without a TYPE line", name)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("bad value in %q", line)
		}
		if _, dup := out[key]; dup {
			t.Errorf("sample %s twice", key)
		}
		out[key] = v
	}
	return out
}
