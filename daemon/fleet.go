package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

// errLeaseTooOld: a claim took so long that its lease is past the
// worker's deadline before the account connected.
var errLeaseTooOld = errors.New("the lease is too close to its expiry to connect")

// storeSet is the stores run serves, by account name: fixed for a
// directory vault, changing with the leases for a fleet worker.
type storeSet struct {
	mu sync.Mutex
	m  map[string]*lazyStore
}

func newStoreSet() *storeSet { return &storeSet{m: map[string]*lazyStore{}} }

func (s *storeSet) add(name string, st *lazyStore) {
	s.mu.Lock()
	s.m[name] = st
	s.mu.Unlock()
}

func (s *storeSet) get(name string) *lazyStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[name]
}

func (s *storeSet) remove(name string) *lazyStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.m[name]
	delete(s.m, name)
	return st
}

func (s *storeSet) all() []*lazyStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*lazyStore, 0, len(s.m))
	for _, st := range s.m {
		out = append(out, st)
	}
	return out
}

// fleetWorker is `run --worker`: it holds the leases of a share of a
// PostgreSQL vault's accounts and keeps exactly those connected.
//
// The rule that keeps one owner per session (docs/fleet.md has the timing
// argument): an account is connected only after its claim, and after the
// takeover wait when the lease expired in another worker's hands; each
// account's connections write nothing past its lease's deadline (a
// mtproto.Fence moved by every renewal), which falls a margin before the
// database lets anyone else claim the lease; and every connection arms
// Telegram's ping_delay_disconnect, so that the server closes the
// connections of a worker that stopped (SIGSTOP, a paused VM) whatever
// became of it.
//
// Three goroutines: the renewer renews the leases every third of the
// period and moves their fences, and never waits for session work; the
// watchdog stops the sessions whose fences passed (and only those); the
// step loop claims, gives back (both in batches), and drops what the other
// two gave up on.
type fleetWorker struct {
	log   *slog.Logger
	v     *vault.Vault
	fleet *pgvault.Fleet
	pool  *mtproto.Pool
	w     *vaultWriter
	set   *storeSet
	opts  func(f *storage.File) (mtproto.Options, error)
	dm    mtproto.DeadMan

	// keep runs the renewer and the watchdog: from Join until leave, so
	// that the leases stay renewed while run stops the pool and saves.
	keep     context.Context
	stopKeep context.CancelFunc
	keepers  sync.WaitGroup

	// replaced is set when the worker record is another process's now
	// (pgvault.ErrReplaced): the worker claims nothing more.
	replaced atomic.Bool

	mu      sync.Mutex
	held    map[string]*heldLease // by account id
	final   []string              // names of accounts that went revoked or key-lost, to retire
	renewed time.Time             // when the last successful renewal was sent
}

// heldLease is a lease the worker holds, and its account's fence.
type heldLease struct {
	name  string
	lease pgvault.Lease
	fence *mtproto.Fence
	// leaving: being given back or retired (still renewed until its
	// session stopped); stopped: its fence passed and the watchdog stopped
	// its session (never renewed again).
	leaving, stopped bool
}

// claimBatch and giveBatch bound the leases one step claims or gives back,
// so that a worker that starts beside busy ones connects its share in
// steps, and one that gives back its surplus stops it in steps.
const (
	claimBatch = 200
	giveBatch  = 200
)

func newFleetWorker(log *slog.Logger, v *vault.Vault, fleet *pgvault.Fleet, pool *mtproto.Pool, w *vaultWriter, set *storeSet, opts func(*storage.File) (mtproto.Options, error)) *fleetWorker {
	interval, delay := fleet.DeadMan()
	fw := &fleetWorker{log: log, v: v, fleet: fleet, pool: pool, w: w, set: set, opts: opts,
		dm: mtproto.DeadMan{Interval: interval, Delay: delay}, held: map[string]*heldLease{}}
	fw.keep, fw.stopKeep = context.WithCancel(context.Background())
	return fw
}

// warnf logs a warning: one sentence, as the CLI prints it, with the
// worker's name as the attribute "worker".
func (fw *fleetWorker) warnf(format string, args ...any) {
	fw.log.Warn(fmt.Sprintf(format, args...), slog.String("worker", fw.fleet.Worker()))
}

// run joins the fleet, starts the renewer and the watchdog, and runs the
// step loop until ctx ends; the caller then stops the pool, saves the
// stores and calls leave.
func (fw *fleetWorker) run(ctx context.Context) {
	period := fw.fleet.Period()
	tick := time.NewTicker(period / 10)
	defer tick.Stop()
	// Join first: while another process runs under this name, wait.
	for warned := false; ; {
		jctx, cancel := context.WithTimeout(ctx, period/4)
		err := fw.fleet.Join(jctx)
		cancel()
		if err == nil {
			break
		}
		if !warned && ctx.Err() == nil {
			fw.warnf("worker %s: %v; waiting (a crashed predecessor frees the name within %v)", fw.fleet.Worker(), err, period)
			warned = true
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	fw.keepers.Add(2)
	go func() { defer fw.keepers.Done(); fw.renewLoop(fw.keep) }()
	go func() { defer fw.keepers.Done(); fw.watchdog(fw.keep) }()
	for round := 1; ; round++ {
		if round%50 == 0 { // accounts imported or removed meanwhile
			if err := syncLeases(fw.v, fw.fleet); err != nil && ctx.Err() == nil {
				fw.warnf("worker %s: syncing the leases: %v", fw.fleet.Worker(), err)
			}
		}
		fw.step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// renewLoop renews the leases every third of the period until ctx ends.
func (fw *fleetWorker) renewLoop(ctx context.Context) {
	tick := time.NewTicker(fw.fleet.Period() / 3)
	defer tick.Stop()
	for {
		fw.renew(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// renew extends the leases held (all but those whose fence passed) and
// moves their fences to the new deadline; a lease missing from the answer
// was lost, and its fence closes at once (the watchdog stops its session).
// It holds the lock only to read and to update the map: a slow session
// stop or image write never delays it.
func (fw *fleetWorker) renew(ctx context.Context) {
	fw.mu.Lock()
	ls := make([]pgvault.Lease, 0, len(fw.held))
	for _, h := range fw.held {
		if !h.stopped && h.fence.Open() {
			ls = append(ls, h.lease)
		}
	}
	fw.mu.Unlock()
	// An answer is of use until the deadline it would set: a slow
	// database delays the renewal, it does not fail it.
	rctx, cancel := context.WithDeadline(ctx, fw.fleet.Deadline(time.Now()))
	still, sent, err := fw.fleet.Renew(rctx, ls)
	cancel()
	switch {
	case errors.Is(err, pgvault.ErrReplaced):
		if fw.replaced.Swap(true) {
			return // said so already
		}
		fw.mu.Lock()
		for _, h := range fw.held {
			h.fence.Close()
		}
		n := len(fw.held)
		fw.mu.Unlock()
		fw.warnf("worker %s: %v: stopping its %d sessions", fw.fleet.Worker(), err, n)
		return
	case err != nil:
		if ctx.Err() == nil {
			fw.warnf("worker %s: renewing the leases: %v", fw.fleet.Worker(), err)
		}
		return
	}
	// The database extended each lease to a period after it ran the
	// statement, which is after sent: the new deadline comes before that
	// whatever happened meanwhile.
	deadline := fw.fleet.Deadline(sent)
	kept := make(map[string]pgvault.Lease, len(still))
	for _, l := range still {
		kept[l.Account] = l
	}
	lost := 0
	fw.mu.Lock()
	fw.renewed = sent
	for _, l := range ls {
		h, ok := fw.held[l.Account]
		if !ok || h.lease.Fence != l.Fence || h.stopped {
			continue // dropped meanwhile, or the watchdog's already
		}
		if k, ok := kept[l.Account]; ok && h.fence.Open() {
			h.fence.Set(deadline)
			h.lease.Expires = k.Expires
			continue
		}
		h.fence.Close()
		lost++
	}
	fw.mu.Unlock()
	if lost > 0 {
		fw.warnf("worker %s: %d leases were lost; stopping their sessions", fw.fleet.Worker(), lost)
	}
}

// watchdog stops the sessions whose fences passed (a lease not renewed in
// time, lost, or the worker replaced), and only those, whatever the step
// loop is doing: a claim or a save can hang on an unreachable database for
// longer than a lease lives. Their connections already write nothing.
func (fw *fleetWorker) watchdog(ctx context.Context) {
	tick := time.NewTicker(fw.fleet.Period() / 40)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var names []string
		fw.mu.Lock()
		for _, h := range fw.held {
			if !h.stopped && !h.fence.Open() {
				h.stopped = true
				names = append(names, h.name)
			}
		}
		renewed := fw.renewed
		fw.mu.Unlock()
		if len(names) == 0 {
			continue
		}
		since := "never renewed"
		if !renewed.IsZero() {
			since = "last renewal sent " + time.Since(renewed).Round(time.Millisecond).String() + " ago"
		}
		fw.warnf("worker %s: %d leases are past their deadline (%s): stopping their sessions", fw.fleet.Worker(), len(names), since)
		rctx, cancel := context.WithTimeout(context.Background(), fw.fleet.Margin()/2)
		if err := fw.pool.RemoveAll(rctx, names); err != nil && rctx.Err() != nil {
			fw.warnf("worker %s: stopping %d sessions took too long (they send nothing): %v", fw.fleet.Worker(), len(names), err)
		}
		cancel()
	}
}

// dropMode says what becomes of a dropped account's lease.
type dropMode int

const (
	dropExpire  dropMode = iota // left to expire: lost, or past its deadline
	dropRelease                 // given back: another worker may claim it at once
	dropRetire                  // its row deleted: the account is no longer served
)

// step is one round: forget what the watchdog stopped, retire what went
// revoked or key-lost, claim up to the share or give back what is over it.
func (fw *fleetWorker) step(ctx context.Context) {
	var stopped, retire []string
	fw.mu.Lock()
	final := map[string]bool{}
	for _, n := range fw.final {
		final[n] = true
	}
	fw.final = nil
	n := 0
	for id, h := range fw.held {
		switch {
		case h.leaving:
		case h.stopped:
			stopped = append(stopped, id)
		case final[h.name]:
			retire = append(retire, id)
		default:
			n++
		}
	}
	fw.mu.Unlock()
	if len(stopped) > 0 {
		fw.drop(stopped, dropExpire)
	}
	if len(retire) > 0 {
		fw.drop(retire, dropRetire)
	}
	if fw.replaced.Load() {
		return
	}
	period := fw.fleet.Period()
	cctx, cancel := context.WithTimeout(ctx, period/4)
	defer cancel()
	share, _, err := fw.fleet.Share(cctx)
	if err != nil {
		if ctx.Err() == nil {
			fw.warnf("worker %s: reading the share: %v", fw.fleet.Worker(), err)
		}
		return
	}
	switch {
	case n < share:
		fw.claim(cctx, min(share-n, claimBatch))
	case n > share+1:
		// Give back the surplus to the worker that has too few, a batch a
		// step: its sessions first, then the leases.
		fw.drop(fw.keptIDs(min(n-share, giveBatch)), dropRelease)
	}
}

// keptIDs returns up to k ids of leases held and not leaving, in order.
func (fw *fleetWorker) keptIDs(k int) []string {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	ids := make([]string, 0, len(fw.held))
	for id, h := range fw.held {
		if !h.leaving && !h.stopped {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids[:min(k, len(ids))]
}

// finalAccount is called (from the account's goroutine) when an account
// went revoked or key-lost: the next step retires its lease.
func (fw *fleetWorker) finalAccount(name string) {
	fw.mu.Lock()
	fw.final = append(fw.final, name)
	fw.mu.Unlock()
}

// claim takes up to max leases and connects their accounts. The leases
// are held (and so renewed) from the moment the claim answered: opening
// a batch of accounts can take longer than a lease lives.
func (fw *fleetWorker) claim(ctx context.Context, max int) {
	leases, sent, err := fw.fleet.Claim(ctx, max)
	if err != nil && ctx.Err() == nil {
		fw.warnf("worker %s: claiming leases: %v", fw.fleet.Worker(), err)
	}
	if err != nil || len(leases) == 0 {
		return
	}
	claimed := time.Now()
	deadline := fw.fleet.Deadline(sent)
	fences := make(map[string]*mtproto.Fence, len(leases))
	fw.mu.Lock()
	if fw.renewed.IsZero() {
		fw.renewed = sent
	}
	for _, l := range leases {
		h := &heldLease{lease: l, fence: mtproto.NewFence()}
		h.fence.Set(deadline)
		fw.held[l.Account] = h
		fences[l.Account] = h.fence
	}
	fw.mu.Unlock()
	fw.connect(leases, fences, claimed)
}

// unhold forgets leases whose accounts were not connected, and gives them
// back (or retires them).
func (fw *fleetWorker) unhold(ls []pgvault.Lease, how dropMode) {
	fw.mu.Lock()
	for _, l := range ls {
		delete(fw.held, l.Account)
	}
	fw.mu.Unlock()
	if how == dropRetire {
		fw.retire(ls)
	} else {
		fw.release(ls)
	}
}

// connect opens and connects the accounts of leases just claimed (at
// claimed, each fenced by fences[its id]); a lease whose account is gone
// or not active is retired, one whose account does not open or connect is
// given back.
func (fw *fleetWorker) connect(leases []pgvault.Lease, fences map[string]*mtproto.Fence, claimed time.Time) {
	list, err := fw.v.List()
	if err != nil {
		fw.warnf("worker %s: reading the index: %v", fw.fleet.Worker(), err)
		fw.unhold(leases, dropRelease)
		return
	}
	byID := map[string]vault.Account{}
	for _, a := range list {
		byID[a.ID] = a
	}
	var accts []vault.Account
	var give, retire []pgvault.Lease
	lease := map[string]pgvault.Lease{}
	for _, l := range leases {
		a, ok := byID[l.Account]
		if !ok || a.Status != vault.StatusActive {
			retire = append(retire, l) // removed meanwhile, or not to be connected
			continue
		}
		accts = append(accts, a)
		lease[a.ID] = l
	}
	fw.unhold(retire, dropRetire)
	blob := func(a vault.Account) storage.Blob {
		return fw.fleet.Blob("accounts/"+a.ID+".age", lease[a.ID])
	}
	files, errs, err := fw.v.OpenAccounts(accts, blob)
	if err != nil {
		fw.warnf("worker %s: opening %d accounts: %v", fw.fleet.Worker(), len(accts), err)
		fw.unhold(leases, dropRelease)
		return
	}
	var firstErr error
	for i, acct := range accts {
		f, err := files[i], errs[i]
		fw.mu.Lock()
		if h, ok := fw.held[acct.ID]; ok {
			h.name = acct.Name
		}
		fw.mu.Unlock()
		if err == nil {
			err = fw.add(acct, f, blob, fences[acct.ID], claimed.Add(lease[acct.ID].Wait))
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("account %s: %w", acct.Name, err)
			}
			give = append(give, lease[acct.ID])
		}
	}
	if len(give) > 0 {
		fw.warnf("worker %s: %d of %d claimed accounts not connected (given back): %v", fw.fleet.Worker(), len(give), len(accts), firstErr)
	}
	fw.unhold(give, dropRelease)
}

// release gives leases back (their sessions never started or stopped),
// with a context of its own: the step's may be spent. A failure leaves
// them to expire: they are not renewed.
func (fw *fleetWorker) release(ls []pgvault.Lease) {
	if len(ls) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), fw.fleet.Period()/4)
	defer cancel()
	if err := fw.fleet.Release(ctx, ls); err != nil {
		fw.warnf("worker %s: giving %d leases back: %v (they expire on their own)", fw.fleet.Worker(), len(ls), err)
	}
}

// retire deletes the rows of leases whose accounts are not to be served
// (their sessions stopped): shares no longer count them. A failure leaves
// them to expire, and the next sync to delete.
func (fw *fleetWorker) retire(ls []pgvault.Lease) {
	if len(ls) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), fw.fleet.Period()/4)
	defer cancel()
	if err := fw.fleet.Retire(ctx, ls); err != nil {
		fw.warnf("worker %s: retiring %d leases: %v", fw.fleet.Worker(), len(ls), err)
	}
}

// leases are the leases held.
func (fw *fleetWorker) leases() []pgvault.Lease {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	ls := make([]pgvault.Lease, 0, len(fw.held))
	for _, h := range fw.held {
		ls = append(ls, h.lease)
	}
	return ls
}

// add puts a claimed account into the pool, its connections fenced by
// its lease's deadline and armed with the dead-man switch, connecting
// not before notBefore (the takeover wait).
func (fw *fleetWorker) add(acct vault.Account, f *storage.File, blob func(vault.Account) storage.Blob, fence *mtproto.Fence, notBefore time.Time) error {
	if !fence.Open() {
		_ = f.Close()
		return errLeaseTooOld
	}
	reopen := func() (*storage.File, error) {
		fs, errs, err := fw.v.OpenAccounts([]vault.Account{acct}, blob)
		if err != nil {
			return nil, err
		}
		return fs[0], errs[0]
	}
	s := newLazyStore(f, reopen, fw.w)
	opts, err := fw.opts(f)
	if err == nil {
		opts.DeadMan = fw.dm
		opts.Fence = fence
		opts.NotBefore = notBefore
		// A duplicate right after a takeover may be the old owner's last
		// connection, which the server closes within the delay.
		opts.DuplicateWait = fw.dm.Delay + pgvault.TransitSlack
		err = fw.pool.AddClient(acct.Name, s, opts)
	}
	if err != nil {
		_ = f.Close()
		return err
	}
	fw.set.add(acct.Name, s)
	return nil
}

// drop disconnects the accounts (waiting until their connections are
// closed, for at most the margin), saves them while their leases still
// allow it, and releases or retires the leases as how says, once their
// connections are closed (a lease whose session did not close in time is
// left to expire).
func (fw *fleetWorker) drop(ids []string, how dropMode) {
	names := make([]string, 0, len(ids))
	leases := make([]pgvault.Lease, 0, len(ids))
	fw.mu.Lock()
	for _, id := range ids {
		if h, ok := fw.held[id]; ok {
			h.leaving = true
			names = append(names, h.name)
			leases = append(leases, h.lease)
		}
	}
	fw.mu.Unlock()
	dctx, cancel := context.WithTimeout(context.Background(), fw.fleet.Margin())
	err := fw.pool.RemoveAll(dctx, names)
	cancel()
	closed := err == nil || errors.Is(err, mtproto.ErrUnknownAccount) // unknown: removed and closed already
	if !closed {
		// Some may still be connected: their leases are not given back
		// (and no longer renewed), so nobody claims them before they
		// expire and the takeover wait passes.
		fw.warnf("worker %s: stopping %d sessions took too long: %v", fw.fleet.Worker(), len(names), err)
	}
	var stores []*lazyStore
	for _, n := range names {
		if s := fw.set.remove(n); s != nil {
			stores = append(stores, s)
		}
	}
	if failed := flushAll(stores); len(failed) > 0 {
		var first error
		for _, err := range failed {
			first = err
			break
		}
		// After a lost lease, the refusal is the fencing at work: the
		// account's peers since the last save are lost, its key is not.
		fw.warnf("worker %s: saving %d of %d dropped accounts failed: %v", fw.fleet.Worker(), len(failed), len(stores), first)
	}
	for _, s := range stores {
		_ = s.shut()
	}
	fw.mu.Lock()
	for _, id := range ids {
		delete(fw.held, id)
	}
	fw.mu.Unlock()
	if !closed {
		return
	}
	switch how {
	case dropRelease:
		fw.release(leases)
	case dropRetire:
		fw.retire(leases)
	}
}

// leave stops the renewer and the watchdog, gives every lease back and
// forgets the worker; the pool must have stopped and the stores been
// saved.
func (fw *fleetWorker) leave() error {
	fw.stopKeep()
	fw.keepers.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), fw.fleet.Period())
	defer cancel()
	if err := fw.fleet.Leave(ctx, fw.leases()); err != nil {
		return fmt.Errorf("worker %s: giving the leases back: %w (they expire on their own)", fw.fleet.Worker(), err)
	}
	return nil
}

// syncLeases gives every active account of the index a lease row, and
// drops the rows of accounts no longer there.
func syncLeases(v *vault.Vault, fleet *pgvault.Fleet) error {
	list, err := v.List()
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(list))
	for _, a := range list {
		if a.Status == vault.StatusActive {
			ids = append(ids, a.ID)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return fleet.Sync(ctx, ids)
}
