package pgvault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/vault"
)

func newFleet(t testing.TB, b *Backend, worker string, period time.Duration) *Fleet {
	t.Helper()
	f, err := NewFleet(b, worker, period)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

func accountIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", i)
	}
	return ids
}

// TestClaimsNoDuplicates: 8 workers claiming 10,000 leases at once take
// each exactly once, and the counters say one claim each.
func TestClaimsNoDuplicates(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	const n, workers = 10000, 8
	f0 := newFleet(t, b, "w0", time.Minute)
	if err := f0.Sync(ctx, accountIDs(n)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	owner := map[string]string{}
	var dups []string
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		f := newFleet(t, b, fmt.Sprintf("w%d", w), time.Minute)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ls, _, err := f.Claim(ctx, 100)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ls) == 0 {
					return
				}
				mu.Lock()
				for _, l := range ls {
					if o, ok := owner[l.Account]; ok {
						dups = append(dups, l.Account+" by "+o+" and "+f.Worker())
					}
					owner[l.Account] = f.Worker()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d claims by %d workers in %v", n, workers, time.Since(start))
	if len(dups) > 0 || len(owner) != n {
		t.Fatalf("%d accounts claimed, %d twice: %v", len(owner), len(dups), dups[:min(3, len(dups))])
	}
	leases, ws, err := Status(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		if l.Fence != 1 || !l.Live || l.Owner != owner[l.Account] {
			t.Fatalf("lease %+v, want fence 1, live, owner %s", l, owner[l.Account])
		}
	}
	if len(ws) != workers {
		t.Errorf("%d workers, want %d", len(ws), workers)
	}
}

// TestLeaseFencing: a worker whose lease expired and was claimed by
// another cannot write the image any more, cannot renew it, and the new
// owner can.
func TestLeaseFencing(t *testing.T) {
	v, b := newVault(t)
	_ = v
	ctx := context.Background()
	if _, err := v.ImportFile(vectors+"/pyrogram/pyrogram_v3.session", importName("a")); err != nil {
		t.Fatal(err)
	}
	list, _ := v.List()
	id := list[0].ID
	a := newFleet(t, b, "a", 4*time.Second)
	c := newFleet(t, b, "c", 4*time.Second)
	if err := a.Sync(ctx, []string{id}); err != nil {
		t.Fatal(err)
	}
	la, sent, err := a.Claim(ctx, 10)
	if err != nil || len(la) != 1 {
		t.Fatalf("claim = %v, %v", la, err)
	}
	if d := a.Deadline(sent); !d.Before(la[0].Expires) {
		t.Errorf("deadline %v is not before the expiry %v", d, la[0].Expires)
	}
	if la[0].Wait != 0 {
		t.Errorf("a lease never held comes with a wait of %v", la[0].Wait)
	}
	if lc, _, _ := c.Claim(ctx, 10); len(lc) != 0 {
		t.Fatalf("c claimed a held lease: %v", lc)
	}
	files, errs, err := v.OpenAccounts(list, nil)
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs[0])
	}
	files[0].Close()
	// a writes through its lease.
	blobA := a.Blob("accounts/"+id+".age", la[0])
	img, err := blobA.ReadBlob()
	if err != nil {
		t.Fatal(err)
	}
	if err := blobA.WriteBlob(img); err != nil {
		t.Fatalf("owner's write: %v", err)
	}
	// a stalls past the expiry; c takes over.
	if _, err := b.db.Exec(ctx, `UPDATE tgvault_leases SET expires = now() - interval '1 ms'`); err != nil {
		t.Fatal(err)
	}
	lc, _, err := c.Claim(ctx, 10)
	if err != nil || len(lc) != 1 || lc[0].Fence != la[0].Fence+1 {
		t.Fatalf("takeover = %+v, %v; want the lease with the next counter", lc, err)
	}
	// Expired a moment ago in a's hands: c waits out the disconnect delay
	// since a's deadline (a margin before the expiry).
	_, delay := c.DeadMan()
	if want := delay + TransitSlack - c.Margin(); lc[0].Wait > want || lc[0].Wait < want-time.Second {
		t.Errorf("takeover wait %v, want about %v", lc[0].Wait, want)
	}
	if err := blobA.WriteBlob(img); !errors.Is(err, ErrFenced) {
		t.Errorf("stale owner's write = %v, want ErrFenced", err)
	}
	if held, _, err := a.Renew(ctx, la); err != nil || len(held) != 0 {
		t.Errorf("stale owner renewed %v, %v", held, err)
	}
	if err := c.Blob("accounts/"+id+".age", lc[0]).WriteBlob(img); err != nil {
		t.Errorf("new owner's write: %v", err)
	}
	// c gives the lease back before its wait is over (a rebalance): the
	// next claimer inherits the rest of the wait, since a's connections
	// may still be open.
	if err := c.Release(ctx, lc); err != nil {
		t.Fatal(err)
	}
	lc2, _, err := c.Claim(ctx, 10)
	if err != nil || len(lc2) != 1 || lc2[0].Wait <= 0 || lc2[0].Wait > lc[0].Wait {
		t.Fatalf("claim after a release during the wait = %+v, %v; want the rest of %v", lc2, err, lc[0].Wait)
	}
	lc = lc2
	// A release by the stale owner frees nothing of c's.
	if err := a.Release(ctx, la); err != nil {
		t.Fatal(err)
	}
	if held, _, _ := c.Renew(ctx, lc); len(held) != 1 {
		t.Errorf("c holds %d leases after a's release, want 1", len(held))
	}
	if err := c.Leave(ctx, lc); err != nil {
		t.Fatal(err)
	}
	// Given back, the lease is claimable at once; the quiet time of the
	// takeover still runs.
	if la, _, _ := a.Claim(ctx, 10); len(la) != 1 || la[0].Wait <= 0 || la[0].Wait > lc[0].Wait {
		t.Errorf("after c left, a claimed %+v, want 1 lease with the rest of the wait", la)
	}
}

// TestTiming: the dead-man switch, the takeover wait and the worst case
// follow the lease period; a period outside the bounds is refused with a
// message that says why.
func TestTiming(t *testing.T) {
	for _, tc := range []struct {
		period          time.Duration
		interval, delay time.Duration
		wait            time.Duration // TakeoverWait(0)
	}{
		{3 * time.Second, 1500 * time.Millisecond, 3 * time.Second, 3250 * time.Millisecond},
		{5 * time.Second, 1500 * time.Millisecond, 3 * time.Second, 2750 * time.Millisecond},
		{10 * time.Second, 2500 * time.Millisecond, 5 * time.Second, 3500 * time.Millisecond},
		{30 * time.Second, 7500 * time.Millisecond, 15 * time.Second, 8500 * time.Millisecond},
		{7 * time.Second, 2 * time.Second, 4 * time.Second, 3250 * time.Millisecond}, // 3.5 s rounds up
		{10 * time.Minute, 37500 * time.Millisecond, 75 * time.Second, 0},
	} {
		f, err := NewFleet(nil, "w", tc.period)
		if err != nil {
			t.Fatal(err)
		}
		iv, d := f.DeadMan()
		if iv != tc.interval || d != tc.delay {
			t.Errorf("lease %v: ping every %v asking %v, want %v and %v", tc.period, iv, d, tc.interval, tc.delay)
		}
		if w := f.TakeoverWait(0); w != tc.wait {
			t.Errorf("lease %v: takeover wait %v, want %v", tc.period, w, tc.wait)
		}
		// The argument: the new owner connects no earlier than the old
		// owner's deadline plus the delay and the slack.
		if f.Margin()+f.TakeoverWait(0) < d+TransitSlack {
			t.Errorf("lease %v: a takeover connects before the old connections are closed", tc.period)
		}
		if got, want := f.TakeoverWait(time.Hour), time.Duration(0); got != want {
			t.Errorf("lease %v: a lease expired long ago waits %v", tc.period, got)
		}
		if w := f.WorstTakeover(); w != tc.period+tc.period/10+tc.wait {
			t.Errorf("lease %v: worst takeover %v", tc.period, w)
		}
	}
	for _, p := range []time.Duration{0, time.Second, 2999 * time.Millisecond, 2 * time.Hour} {
		_, err := NewFleet(nil, "w", p)
		if err == nil || !strings.Contains(err.Error(), "lease of "+p.String()) {
			t.Errorf("lease %v: %v, want a refusal naming it", p, err)
		}
	}
}

// TestReleaseQuiet: a lease given back may be claimed at once, and
// connected TransitSlack later (the closes reach the server meanwhile).
func TestReleaseQuiet(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	a := newFleet(t, b, "a", time.Minute)
	if err := a.Sync(ctx, accountIDs(1)); err != nil {
		t.Fatal(err)
	}
	la, _, err := a.Claim(ctx, 1)
	if err != nil || len(la) != 1 || la[0].Wait != 0 {
		t.Fatalf("first claim %+v, %v; want no wait", la, err)
	}
	if err := a.Release(ctx, la); err != nil {
		t.Fatal(err)
	}
	la, _, err = a.Claim(ctx, 1)
	if err != nil || len(la) != 1 || la[0].Wait <= 0 || la[0].Wait > TransitSlack {
		t.Fatalf("claim after a release %+v, %v; want a wait of at most %v", la, err, TransitSlack)
	}
}

// TestRetire: a retired lease's row is gone (shares no longer count it),
// and only its holder under its counter can retire it.
func TestRetire(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	a := newFleet(t, b, "a", time.Minute)
	c := newFleet(t, b, "c", time.Minute)
	if err := a.Sync(ctx, accountIDs(4)); err != nil {
		t.Fatal(err)
	}
	la, _, err := a.Claim(ctx, 2)
	if err != nil || len(la) != 2 {
		t.Fatal(la, err)
	}
	if err := c.Retire(ctx, la[:1]); err != nil {
		t.Fatal(err)
	}
	stale := la[1]
	stale.Fence--
	if err := a.Retire(ctx, []Lease{stale}); err != nil {
		t.Fatal(err)
	}
	if share, _, _ := a.Share(ctx); share != 2 {
		t.Fatalf("share %d after retires by another worker and under a stale counter, want 2 (4 leases, 2 workers)", share)
	}
	if err := a.Retire(ctx, la); err != nil {
		t.Fatal(err)
	}
	if share, held, _ := a.Share(ctx); share != 1 || held != 0 {
		t.Errorf("share %d, held %d after retiring 2 of 4; want 1 and 0", share, held)
	}
}

// TestShare: the share is the accounts over the live workers.
func TestShare(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	fs := []*Fleet{newFleet(t, b, "a", time.Minute), newFleet(t, b, "b", time.Minute), newFleet(t, b, "c", time.Minute)}
	if err := fs[0].Sync(ctx, accountIDs(100)); err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		share, _, err := f.Share(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ls, _, err := f.Claim(ctx, share)
		if err != nil || share != 34 || len(ls) != 34 && f.Worker() != "c" {
			t.Fatalf("%s: share %d, claimed %d, %v", f.Worker(), share, len(ls), err)
		}
	}
	// c's heartbeat is old: a and b share the 100.
	if _, err := b.db.Exec(ctx, `UPDATE tgvault_workers SET seen = now() - interval '2 minutes' WHERE name = 'c'`); err != nil {
		t.Fatal(err)
	}
	if share, held, _ := fs[0].Share(ctx); share != 50 || held != 34 {
		t.Errorf("share %d held %d, want 50 and 34", share, held)
	}
	// Sync drops removed accounts once nobody holds them.
	if err := fs[0].Sync(ctx, accountIDs(10)); err != nil {
		t.Fatal(err)
	}
	if leases, _, _ := Status(ctx, b); len(leases) != 100 {
		t.Errorf("%d leases after sync to 10 while all are held, want 100", len(leases))
	}
	if _, err := b.db.Exec(ctx, `UPDATE tgvault_leases SET expires = now() - interval '1 ms'`); err != nil {
		t.Fatal(err)
	}
	if err := fs[0].Sync(ctx, accountIDs(10)); err != nil {
		t.Fatal(err)
	}
	if leases, _, _ := Status(ctx, b); len(leases) != 10 {
		t.Errorf("%d leases after sync to 10", len(leases))
	}
}

// BenchmarkClaim: claims per second, in batches of 100, by one worker.
func BenchmarkClaim(b *testing.B) {
	be, _ := newBackend(b)
	ctx := context.Background()
	f := newFleet(b, be, "w", time.Minute)
	if err := f.Sync(ctx, accountIDs(10000)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	claimed := 0
	for b.Loop() {
		ls, _, err := f.Claim(ctx, 100)
		if err != nil {
			b.Fatal(err)
		}
		if len(ls) == 0 {
			b.StopTimer()
			if _, err := be.db.Exec(ctx, `UPDATE tgvault_leases SET owner = NULL, expires = '-infinity'`); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		claimed += len(ls)
	}
	b.ReportMetric(float64(claimed)/b.Elapsed().Seconds(), "claims/s")
}

// TestWorkerNameInUse: a second process under a live worker's name is
// refused until the first has been silent for a period.
func TestWorkerNameInUse(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	a := newFleet(t, b, "w", time.Minute)
	other := &Fleet{b: b, worker: "w", period: time.Minute, host: "elsewhere"}
	if err := other.Join(ctx); !errors.Is(err, ErrWorkerInUse) {
		t.Fatalf("Join under a live name = %v, want ErrWorkerInUse", err)
	}
	if err := a.Join(ctx); err != nil {
		t.Errorf("the same process joining again: %v", err)
	}
	if _, err := b.db.Exec(ctx, `UPDATE tgvault_workers SET seen = now() - interval '61 seconds'`); err != nil {
		t.Fatal(err)
	}
	if err := other.Join(ctx); err != nil {
		t.Errorf("Join after the name went silent: %v", err)
	}
}

// TestRenewOnlyWhatIsHeld: a lease claimed and not kept is not renewed
// (it expires), a Sync does not delete a held lease, and a process whose
// worker name was taken over renews nothing and hears ErrReplaced.
func TestRenewOnlyWhatIsHeld(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	f := newFleet(t, b, "w", time.Minute)
	if err := f.Sync(ctx, accountIDs(2)); err != nil {
		t.Fatal(err)
	}
	ls, _, err := f.Claim(ctx, 2)
	if err != nil || len(ls) != 2 {
		t.Fatal(ls, err)
	}
	still, _, err := f.Renew(ctx, ls[:1])
	if err != nil || len(still) != 1 || still[0].Account != ls[0].Account {
		t.Fatalf("Renew = %v, %v; want only the kept lease", still, err)
	}
	// Sync to none: the held leases stay until they end.
	if err := f.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if leases, _, _ := Status(ctx, b); len(leases) != 2 {
		t.Errorf("Sync deleted held leases: %d left", len(leases))
	}
	// Another process takes the name over after a silence.
	if _, err := b.db.Exec(ctx, `UPDATE tgvault_workers SET seen = now() - interval '2 minutes'`); err != nil {
		t.Fatal(err)
	}
	other := &Fleet{b: b, worker: "w", period: time.Minute, host: "elsewhere"}
	if err := other.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if held, _, err := f.Renew(ctx, ls); !errors.Is(err, ErrReplaced) || len(held) != 0 {
		t.Errorf("replaced worker's Renew = %v, %v; want ErrReplaced", held, err)
	}
	if err := f.Leave(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, ws, _ := Status(ctx, b); len(ws) != 1 || ws[0].Host != "elsewhere" {
		t.Errorf("the replaced worker's Leave removed its successor: %+v", ws)
	}
}

// TestRenewNotBehindWrites: with every connection of the main pool busy
// (image writes and claims queue there), a renewal still goes through on
// the control pool, and so does the write lock's.
func TestRenewNotBehindWrites(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	f := newFleet(t, b, "w", 5*time.Second)
	if err := f.Sync(ctx, accountIDs(3)); err != nil {
		t.Fatal(err)
	}
	ls, _, err := f.Claim(ctx, 3)
	if err != nil || len(ls) != 3 {
		t.Fatal(ls, err)
	}
	for range b.db.Config().MaxConns {
		c, err := b.db.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	still, _, err := f.Renew(rctx, ls)
	if err != nil || len(still) != 3 {
		t.Fatalf("renewal with the main pool busy: %d leases, %v", len(still), err)
	}
}

// TestFleetStatus: status's fleet section counts the leases, the held
// ones with their owner, and the workers with their share; a directory
// vault has none.
func TestFleetStatus(t *testing.T) {
	v, b := newVault(t)
	ctx := context.Background()
	f := newFleet(t, b, "w", time.Minute)
	if err := f.Sync(ctx, accountIDs(3)); err != nil {
		t.Fatal(err)
	}
	if ls, _, err := f.Claim(ctx, 2); err != nil || len(ls) != 2 {
		t.Fatalf("Claim = %v, %v", ls, err)
	}
	r, isFleet, err := FleetStatus(ctx, v)
	if err != nil || !isFleet {
		t.Fatalf("FleetStatus = %v, %v", isFleet, err)
	}
	if r.Leases != 3 || r.Held != 2 || len(r.Owners) != 2 || len(r.Workers) != 1 || r.Workers[0].Leases != 2 {
		t.Fatalf("report %+v, want 3 leases, 2 held by w's 2", r)
	}
	for _, o := range r.Owners {
		if o.Owner != "w" || !o.Live || o.Fence != 1 {
			t.Errorf("owner %+v, want w's live lease at fence 1", o)
		}
	}

	dv, err := vault.Init(vault.InitOptions{Options: vault.Options{Dir: t.TempDir() + "/v", Passphrase: testPass}, NoKeyring: true}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if r, isFleet, err := FleetStatus(ctx, dv); r != nil || isFleet || err != nil {
		t.Errorf("FleetStatus of a directory vault = %+v, %v, %v; want none", r, isFleet, err)
	}
}
