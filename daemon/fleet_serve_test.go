package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/pgtest"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

// fleetPass unlocks the fleet tests' vaults per process.
var fleetPass = crypto.Passphrase("daemon fleet test")

// openPG opens a backend on the database dsn until the test ends.
func openPG(t *testing.T, dsn string) *pgvault.Backend {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pgvault.OpenConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// readyCount is how many accounts the Serve on sock has ready.
func readyCount(t *testing.T, sock string) int {
	t.Helper()
	accts, err := localapi.NewClient(sock).Accounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range accts {
		if a.Status == "ready" {
			n++
		}
	}
	return n
}

// waitUntil polls ok for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeFleet runs two fleet workers as two Serves in this process on
// one vault in a real PostgreSQL: the first takes every account, the
// second gets its share as the first gives the surplus back, and when the
// first stops the second takes its accounts over; the dev server counts
// no key used from two connections at once throughout.
func TestServeFleet(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	dsn := pgtest.Database(t)
	srv := startDevServer(t)
	const n = 4
	seeds, err := srv.SeedAccounts(n)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := vault.Init(vault.InitOptions{Options: vault.Options{Backend: openPG(t, dsn), Passphrase: fleetPass}, NoKeyring: true}, fleetPass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v1.Close() })
	importSeeds(t, v1, seeds, "a0", "a1", "a2", "a3")
	b2 := openPG(t, dsn)
	v2, err := vault.Open(vault.Options{Backend: b2, Passphrase: fleetPass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v2.Close() })

	const lease = 3 * time.Second
	worker := func(v *vault.Vault, name string) (*started, string) {
		sock := filepath.Join(t.TempDir(), name+".sock")
		s := startServe(t, Config{Vault: v, Socket: sock, Worker: name, Lease: lease, Defaults: devDefaults(srv)})
		if s.serving.Worker != name || s.serving.Lease != lease {
			t.Errorf("Serving: %+v, want worker %s, lease %v", s.serving, name, lease)
		}
		return s, sock
	}
	// A vault in PostgreSQL is served by named workers only, with names
	// and leases pgvault takes, and not for named accounts.
	for _, c := range []struct {
		what string
		cfg  Config
		want error
	}{
		{"names", Config{Worker: "named", Lease: lease, Names: []string{"a0"}}, ErrFleetNames},
		{"no worker", Config{}, ErrFleetNeedsWorker},
		{"a short lease", Config{Worker: "short", Lease: time.Second}, new(BadWorkerError)},
		{"a long name", Config{Worker: strings.Repeat("w", 129)}, new(BadWorkerError)},
	} {
		c.cfg.Vault, c.cfg.Socket = v2, filepath.Join(t.TempDir(), "refused.sock")
		err := Serve(t.Context(), c.cfg)
		if bw, ok := c.want.(*BadWorkerError); ok {
			if !errors.As(err, &bw) || !strings.HasPrefix(err.Error(), "pgvault: ") {
				t.Errorf("a worker with %s: %v, want a *BadWorkerError", c.what, err)
			}
		} else if !errors.Is(err, c.want) {
			t.Errorf("a worker with %s: %v, want %v", c.what, err, c.want)
		}
	}

	w1, sock1 := worker(v1, "w1")
	waitUntil(t, time.Minute, "w1 has not every account ready", func() bool { return readyCount(t, sock1) == n })

	w2, sock2 := worker(v2, "w2")
	waitUntil(t, time.Minute, "the shares did not even out (2 and 2)", func() bool {
		return readyCount(t, sock1) == n/2 && readyCount(t, sock2) == n/2
	})

	w1.stop()
	if err := <-w1.done; err != nil {
		t.Fatalf("w1's Serve: %v", err)
	}
	w1.done <- nil
	waitUntil(t, time.Minute, "w2 did not take over w1's accounts", func() bool { return readyCount(t, sock2) == n })
	if d := srv.Stats().Duplicates; d != 0 {
		t.Errorf("the dev server saw %d keys used from two connections at once, want 0", d)
	}
	w2.stop()
	if err := <-w2.done; err != nil {
		t.Fatalf("w2's Serve: %v", err)
	}
	w2.done <- nil
}
