package pgvault

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// TestOwnershipLeases: on PostgreSQL an account's ownership lock is its
// lease. A worker's lease refuses export, move, rename and remove of that
// account only; a command holding an account keeps workers from claiming
// it; Holders names both; a move hands the account off in its file, so a
// worker that claims it afterwards does not serve it.
func TestOwnershipLeases(t *testing.T) {
	v, b := newVault(t)
	for i, n := range []string{"a", "b", "c"} {
		if _, err := v.Import(variantSession(t, i+1), "", importName(n)); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := v.List()
	id := map[string]string{}
	var ids []string
	for _, a := range list {
		id[a.Name] = a.ID
		ids = append(ids, a.ID)
	}
	ctx := context.Background()
	w := newFleet(t, b, "w1", time.Minute)
	if err := w.Sync(ctx, ids); err != nil {
		t.Fatal(err)
	}
	// A command holds b: the worker claims a and c only.
	release, err := v.ClaimAccount("b")
	if err != nil {
		t.Fatal(err)
	}
	ls, _, err := w.Claim(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Lease{}
	for _, l := range ls {
		got[l.Account] = l
	}
	if len(got) != 2 || got[id["b"]].Account != "" {
		t.Fatalf("the worker claimed %v while a command held b", ls)
	}
	hs, err := v.Holders()
	if err != nil || len(hs) != 3 {
		t.Fatalf("Holders = %+v, %v", hs, err)
	}
	for _, h := range hs {
		switch h.Name {
		case "b":
			if h.Holder.PID != os.Getpid() {
				t.Errorf("b held by %+v, want this process", h.Holder)
			}
		default:
			if !strings.Contains(h.Holder.Command, "--worker w1") {
				t.Errorf("%s held by %+v, want worker w1", h.Name, h.Holder)
			}
		}
	}
	// The worker's accounts are refused; b (ours) is not the worker's.
	var he *vault.HeldError
	if _, err := v.Export("a", sessionstring.Pyrogram, false); !errors.As(err, &he) || !strings.Contains(he.Holder.Command, "w1") {
		t.Errorf("Export of a worker's account: %v", err)
	}
	for what, err := range map[string]error{
		"Rename": v.Rename("a", "z"),
		"Remove": v.Remove("c"),
	} {
		if !errors.Is(err, vault.ErrHeldByRun) {
			t.Errorf("%s of a worker's account: %v", what, err)
		}
	}
	if err := v.Rekey(testPass); !errors.Is(err, vault.ErrHeldByRun) {
		t.Errorf("Rekey with live leases: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	// Free now: export and move b; the worker then claims it, and
	// opening it says handed off.
	if _, err := v.Export("b", sessionstring.Pyrogram, false); err != nil {
		t.Errorf("Export of a free account: %v", err)
	}
	r, _ := crypto.GenerateIdentity()
	if _, err := v.ExportSealed("b", vault.SealedExportOptions{To: []*crypto.Recipient{r.Recipient()}, Move: true}); err != nil {
		t.Fatal(err)
	}
	ls, _, err = w.Claim(ctx, 10)
	if err != nil || len(ls) != 1 || ls[0].Account != id["b"] {
		t.Fatalf("claim after the move: %v, %v", ls, err)
	}
	bAcct := list[1]
	bAcct.Status = vault.StatusActive // as an index rolled back would say
	files, errs, err := v.OpenAccounts([]vault.Account{bAcct}, func(a vault.Account) storage.Blob { return w.Blob("accounts/"+a.ID+".age", ls[0]) })
	if err != nil || files[0] != nil || !errors.Is(errs[0], vault.ErrHandedOff) {
		t.Errorf("a worker opening a moved account: %v, %v", errs[0], err)
	}
	// A dead command's hold expires (lockTTL); a released one is free at
	// once.
	if err := w.Release(ctx, ls); err != nil {
		t.Fatal(err)
	}
	rel2, err := v.ClaimAccount("b")
	if err != nil {
		t.Fatalf("ClaimAccount after release: %v", err)
	}
	_ = rel2()
}

// expireNow makes account's lease expire at the database's now(), as if
// its holder had stopped renewing a period ago.
func expireNow(t *testing.T, b *Backend, account string) time.Time {
	t.Helper()
	var at time.Time
	if err := b.Pool().QueryRow(context.Background(), `UPDATE tgvault_leases SET expires = now() WHERE account = $1 RETURNING expires`, account).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at
}

// lockTimed takes account's ownership lock as a command does, and says
// how long it took and what wait it announced.
func lockTimed(t *testing.T, b *Backend, account string) (rel func() error, took, announced time.Duration) {
	t.Helper()
	b.OnQuiet(func(d time.Duration) { announced = d })
	start := time.Now()
	taken, busy, err := b.LockAccounts([]string{account}, vault.ThisProcess(time.Now()))
	took = time.Since(start)
	if err != nil || len(busy) != 0 || taken[account] == nil {
		t.Fatalf("LockAccounts = %v, %v, %v", taken, busy, err)
	}
	return taken[account], took, announced
}

// TestCommandWaitsOutQuiet: a command that takes an account from a
// worker's lease keeps the fleet's takeover rule (docs/fleet.md): after
// the lease expired in the worker's hands it returns only once the
// worker's takeover wait has passed since the expiry (the server has
// closed the worker's connections by then), after a give-back once the
// release's quiet second has; a command's own expired lock has no wait; a
// quiet time beyond QuietPatience is refused (exit 5) and stays on the row
// for whoever comes next.
func TestCommandWaitsOutQuiet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const slop = 150 * time.Millisecond
	t.Run("expired", func(t *testing.T) {
		t.Parallel()
		b, _ := newBackend(t)
		id := accountIDs(1)[0]
		// A worker with a 10 s lease: its own takeover wait (3.5 s), not
		// the legacy bound or another period's.
		w := newFleet(t, b, "w1", 10*time.Second)
		if err := w.Sync(ctx, []string{id}); err != nil {
			t.Fatal(err)
		}
		if ls, _, err := w.Claim(ctx, 1); err != nil || len(ls) != 1 {
			t.Fatalf("claim: %v, %v", ls, err)
		}
		expireNow(t, b, id)
		want := w.TakeoverWait(0)
		rel, took, announced := lockTimed(t, b, id)
		defer rel()
		if took < want-slop || took > want+2*time.Second {
			t.Errorf("the command had the account %v after the worker's lease expired, want %v (the worker's takeover wait)", took, want)
		}
		if announced < want-slop || announced > want+slop {
			t.Errorf("OnQuiet announced %v, want about %v", announced, want)
		}
	})
	t.Run("released", func(t *testing.T) {
		t.Parallel()
		b, _ := newBackend(t)
		id := accountIDs(1)[0]
		w := newFleet(t, b, "w1", 3*time.Second)
		if err := w.Sync(ctx, []string{id}); err != nil {
			t.Fatal(err)
		}
		ls, _, err := w.Claim(ctx, 1)
		if err != nil || len(ls) != 1 {
			t.Fatalf("claim: %v, %v", ls, err)
		}
		if err := w.Release(ctx, ls); err != nil {
			t.Fatal(err)
		}
		rel, took, _ := lockTimed(t, b, id)
		defer rel()
		if took < TransitSlack-slop || took > TransitSlack+2*time.Second {
			t.Errorf("the command had a given-back account after %v, want %v", took, TransitSlack)
		}
	})
	t.Run("command", func(t *testing.T) {
		t.Parallel()
		b, _ := newBackend(t)
		id := accountIDs(1)[0]
		rel, _, _ := lockTimed(t, b, id)
		_ = rel
		expireNow(t, b, id) // the command died holding it
		rel, took, announced := lockTimed(t, b, id)
		defer rel()
		if announced != 0 || took > 2*time.Second {
			t.Errorf("a dead command's lock: waited %v (announced %v), want no wait", took, announced)
		}
	})
	t.Run("too long", func(t *testing.T) {
		t.Parallel()
		b, _ := newBackend(t)
		id := accountIDs(1)[0]
		if _, err := b.Pool().Exec(ctx, `INSERT INTO tgvault_leases (account, quiet_until) VALUES ($1, now() + interval '10 minutes')`, id); err != nil {
			// The schema is made on first use.
			if err := b.Prepare(); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Pool().Exec(ctx, `INSERT INTO tgvault_leases (account, quiet_until) VALUES ($1, now() + interval '10 minutes')`, id); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		_, _, err := b.LockAccounts([]string{id}, vault.ThisProcess(time.Now()))
		var qe *QuietError
		if !errors.As(err, &qe) || !errors.Is(err, vault.ErrBusy) || qe.Wait < 9*time.Minute || time.Since(start) > 5*time.Second {
			t.Fatalf("LockAccounts with 10 minutes of quiet = %v after %v; want a *QuietError at once", err, time.Since(start))
		}
		if !strings.Contains(err.Error(), "10m0s") {
			t.Errorf("the error does not name the wait: %v", err)
		}
		var owner *string
		var quiet bool
		if err := b.Pool().QueryRow(ctx, `SELECT owner, quiet_until > now() + interval '9 minutes' FROM tgvault_leases WHERE account = $1`, id).Scan(&owner, &quiet); err != nil {
			t.Fatal(err)
		}
		if owner != nil || !quiet {
			t.Errorf("after the refusal: owner %v, quiet time kept %v; want free, kept", owner, quiet)
		}
	})
	t.Run("legacy", func(t *testing.T) {
		// A lease of a worker older than the takeover column: the longest
		// wait any period has (checked here, not waited).
		for p := MinPeriod; p <= MaxPeriod; p += 250 * time.Millisecond {
			f := &Fleet{period: p}
			if w := f.TakeoverWait(0); w > legacyTakeover {
				t.Fatalf("period %v: takeover wait %v over legacyTakeover %v", p, w, legacyTakeover)
			}
		}
		if legacyTakeover >= QuietPatience {
			t.Errorf("legacyTakeover %v is not under QuietPatience %v", legacyTakeover, QuietPatience)
		}
	})
}

// TestClaimUsesHolderTakeover: a worker taking over a lease that expired
// in the hands of a worker with a longer period waits that worker's
// takeover wait, not its own (the old holder's connections ask for the
// old holder's disconnect delay).
func TestClaimUsesHolderTakeover(t *testing.T) {
	t.Parallel()
	b, _ := newBackend(t)
	ctx := context.Background()
	id := accountIDs(1)[0]
	long := newFleet(t, b, "long", 20*time.Second)
	short := newFleet(t, b, "short", 3*time.Second)
	if err := long.Sync(ctx, []string{id}); err != nil {
		t.Fatal(err)
	}
	if ls, _, err := long.Claim(ctx, 1); err != nil || len(ls) != 1 {
		t.Fatalf("claim: %v, %v", ls, err)
	}
	expireNow(t, b, id)
	ls, _, err := short.Claim(ctx, 1)
	if err != nil || len(ls) != 1 {
		t.Fatalf("takeover claim: %v, %v", ls, err)
	}
	want := long.TakeoverWait(0)
	if ls[0].Wait < want-time.Second || ls[0].Wait > want {
		t.Errorf("takeover from a 20 s lease waits %v, want about %v (short's own would be %v)", ls[0].Wait, want, short.TakeoverWait(0))
	}
}
