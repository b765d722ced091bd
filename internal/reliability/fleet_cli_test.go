//go:build unix

package reliability

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tgvault/tgvault/internal/pgtest"
	"github.com/tgvault/tgvault/vault/pgvault"
)

// TestFleetStopThenMove: a command that takes an account from a fleet
// worker keeps the fleet's takeover rule (docs/fleet.md). A worker (lease
// 3 s) serves one account of a dev server that counts a key used by two
// open connections at once; then:
//
//   - "stopped": the worker's renewals are held up (the test locks its
//     lease row) and the worker is stopped (SIGSTOP) right before its
//     deadline, still pinging until then, so its connection outlives the
//     lease by up to the disconnect delay. `export --move` as soon as the
//     lease has expired returns only after the takeover wait, when the
//     server has closed the worker's connection (the dev server counts no
//     open connection); the receiving vault imports the string and runs
//     the account at once: no duplicate use, and none once the worker is
//     resumed.
//   - "given back": the worker stops (SIGTERM: its sessions closed, the
//     lease released with a quiet second); `export --move` at once returns
//     only after that quiet second.
func TestFleetStopThenMove(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a fleet worker and a dev server")
	}
	const lease = 3 * time.Second
	f, err := pgvault.NewFleet(nil, "w", lease)
	if err != nil {
		t.Fatal(err)
	}
	wait, margin := f.TakeoverWait(0), f.Margin()

	t.Run("stopped", func(t *testing.T) {
		dev, v, db := fleetOfOne(t)
		name := dev.seedNames()[0]
		w := startWorkerOf(t, v, dev, "w1", lease)
		account := leaseAccount(t, db)
		// The receiving vault first: its init (scrypt) must not eat the
		// quiet time the export below is to wait out.
		recv := newVault(t, "fleet-receiver")
		to := strings.TrimSpace(recv.run(nil, "recipient").stdout)
		// Hold up the renewals: the worker keeps its connection (and
		// pings) until its deadline, a margin before the expiry.
		ctx := context.Background()
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT 1 FROM tgvault_leases WHERE account = $1 FOR UPDATE`, account); err != nil {
			t.Fatal(err)
		}
		left := untilExpiry(t, db, account)
		time.Sleep(left - margin - 150*time.Millisecond)
		if err := w.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = w.cmd.Process.Signal(syscall.SIGCONT) }()
		// Past the expiry, the held-up renewal is cancelled (it would
		// extend the lease from when it arrived: safe, since the worker
		// counts its deadline from when it sent it, but not this test).
		expiry := time.Now().Add(untilExpiry(t, db, account))
		time.Sleep(time.Until(expiry) + 50*time.Millisecond)
		if _, err := tx.Exec(ctx, `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if left := untilExpiry(t, db, account); left > 0 {
			t.Fatalf("the lease was renewed (%v left): the test needs it expired", left)
		}
		if st := dev.fleetStats(); st.Open == 0 {
			t.Fatalf("the stopped worker's connection closed before the lease expired (%+v): the test needs it open", st)
		}

		r := v.run(nil, "export", name, "--to", to, "--move")
		took := time.Since(expiry)
		st := dev.fleetStats()
		if r.code != 0 {
			t.Fatalf("export --move: exit %d: %s", r.code, r.stderr)
		}
		if took < wait-200*time.Millisecond {
			t.Errorf("export --move returned %v after the worker's lease expired, before the takeover wait (%v)", took, wait)
		}
		if st.Open != 0 {
			t.Errorf("export --move returned while the stopped worker's connection was open (%d open, %d ping disconnects)", st.Open, st.PingDisconnects)
		}
		if !strings.Contains(r.stderr, "takeover wait") {
			t.Errorf("export --move did not say why it waited: %s", r.stderr)
		}
		sealed := filepath.Join(root, "src", "moved-"+randHex(4)+".txt")
		if err := os.WriteFile(sealed, []byte(r.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		recv.mustImport(sealed)
		p := recv.startRunArgs(t, dev, sockPath())
		if err := p.waitReady(1, 30*time.Second); err != nil {
			t.Fatalf("the receiving run: %v (dev server %+v)", err, dev.fleetStats())
		}
		if st := dev.fleetStats(); st.Duplicates != 0 {
			t.Fatalf("the moved key was used while the stopped worker's connection was open: %d duplicates", st.Duplicates)
		}
		// The worker wakes past its deadline: it sends nothing stale,
		// and the moved account is not served again.
		_ = w.cmd.Process.Signal(syscall.SIGCONT)
		time.Sleep(2 * lease)
		if st := dev.fleetStats(); st.Duplicates != 0 {
			t.Errorf("after the worker resumed: %d duplicates", st.Duplicates)
		}
		if r := p.stop(); r.code != 0 {
			t.Errorf("receiving run: exit %d", r.code)
		}
		w.stop()
		figures.add("fleet-cli", "lease %v: export --move of a stopped worker's account returned %v after the expiry (takeover wait %v); connection closed first, duplicates 0",
			lease, took.Round(10*time.Millisecond), wait)
	})

	t.Run("given back", func(t *testing.T) {
		dev, v, db := fleetOfOne(t)
		name := dev.seedNames()[0]
		w := startWorkerOf(t, v, dev, "w1", lease)
		account := leaseAccount(t, db)
		if r := w.stop(); r.code != 0 {
			t.Fatalf("worker: SIGTERM: exit %d", r.code)
		}
		r := v.run(nil, "export", name, "--to", recipient(t), "--move")
		if r.code != 0 {
			t.Fatalf("export --move: exit %d: %s", r.code, r.stderr)
		}
		var quiet bool
		if err := db.QueryRow(context.Background(), `SELECT quiet_until > now() FROM tgvault_leases WHERE account = $1`, account).Scan(&quiet); err != nil {
			t.Fatal(err)
		}
		if quiet {
			t.Errorf("export --move returned within the quiet second of the worker's give-back (%v)", r.dur)
		}
		if st := dev.fleetStats(); st.Duplicates != 0 {
			t.Errorf("%d duplicates", st.Duplicates)
		}
	})
}

// fleetOfOne makes a vault in a fresh PostgreSQL database holding the one
// account a dev server (rejecting duplicate keys) seeded, and a connection
// to the database.
func fleetOfOne(t *testing.T) (*devServer, *tv, *pgx.Conn) {
	t.Helper()
	dev := startDevServerArgs(t, 1, "--reject-duplicates")
	dsn := pgtest.Database(t)
	v := &tv{t: t, name: "fleet-cli", dir: pgVaultURL(t, dsn)}
	v.kr = filepath.Join(root, "kr", "fleet-cli-"+randHex(4))
	v.pass, v.passTxt = writePass(t)
	if r := v.run([]string{"TGVAULT_PASSPHRASE_FILE=" + v.pass}, "init", "--json"); r.code != 0 {
		t.Fatalf("init: exit %d: %s", r.code, r.stderr)
	}
	for _, n := range dev.seedNames() {
		dev.seedKey(t, n)
	}
	v.mustImport(dev.seeds)
	db, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	return dev, v, db
}

// startWorkerOf starts a worker and waits until it serves every account.
func startWorkerOf(t *testing.T, v *tv, dev *devServer, name string, lease time.Duration) *runProc {
	t.Helper()
	sock := sockPath()
	p := v.startLong(t, sock, "run", "--worker", name, "--lease", lease.String(), "--mlock", "off",
		"--socket", sock, "--server", dev.addr, "--server-key", dev.pub)
	if err := p.waitReady(len(dev.users), time.Minute); err != nil {
		t.Fatal(err)
	}
	return p
}

// leaseAccount returns the id of the one account in the lease table.
func leaseAccount(t *testing.T, db *pgx.Conn) string {
	t.Helper()
	var id string
	if err := db.QueryRow(context.Background(), `SELECT account FROM tgvault_leases`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// untilExpiry is how long the account's lease has left, by the
// database's clock (its clock_timestamp: now() stands still inside the
// test's transaction).
func untilExpiry(t *testing.T, db *pgx.Conn, account string) time.Duration {
	t.Helper()
	var s float64
	if err := db.QueryRow(context.Background(), `SELECT greatest(0, extract(epoch FROM expires - clock_timestamp()))::float8 FROM tgvault_leases WHERE account = $1`, account).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return time.Duration(s * float64(time.Second))
}
