package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

// errLeaseTooOld: a claim took so long that its lease is past the
// worker's deadline before the account connected.
var errLeaseTooOld = errors.New("the lease is too close to its expiry to connect")

// DefaultLeasePeriod is run --lease when not given.
const DefaultLeasePeriod = 30 * time.Second

// claimBatch bounds the leases one claim takes, so that a worker that
// starts beside busy ones connects its share in steps.
const claimBatch = 200

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
// The rule that keeps one owner per session: an account is connected only
// after its claim, and disconnected (its connections closed: Pool.Remove
// returns only then) before the worker's deadline, which falls a margin
// before the database lets anyone else claim the lease. A worker that
// cannot renew (its database is gone) drops everything at that deadline.
type fleetWorker struct {
	a     *app
	v     *vault.Vault
	fleet *pgvault.Fleet
	pool  *mtproto.Pool
	w     *vaultWriter
	set   *storeSet
	opts  func(f *storage.File) (mtproto.Options, error)

	held     map[string]fleetAccount // by account id
	deadline time.Time               // stop every held session by then
	renewed  time.Time               // when the last renewal was sent

	// watch is deadline for the watchdog (unix nanoseconds; 0: nothing
	// held), which stops every session at it even while a step hangs on
	// the database.
	watch atomic.Int64
	// tripped is set by the watchdog when it stopped the sessions: the
	// next step forgets them (and their leases, left to expire).
	tripped atomic.Bool
}

// setDeadline moves the deadline (the step's and the watchdog's).
func (fw *fleetWorker) setDeadline(t time.Time) {
	fw.deadline = t
	fw.watch.Store(t.UnixNano())
}

// watchdog stops every session of the pool (a worker's pool holds only
// leased accounts) once the deadline passed, whatever the step loop is
// doing: a claim or a save can hang on an unreachable database for longer
// than a lease lives.
func (fw *fleetWorker) watchdog(ctx context.Context) {
	period := fw.fleet.Period()
	tick := time.NewTicker(period / 40)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		d := fw.watch.Load()
		if d == 0 || time.Now().UnixNano() < d {
			continue
		}
		names := fw.pool.Names()
		if len(names) == 0 {
			continue
		}
		fw.a.warnf("worker %s: the leases were not renewed in time: stopping %d sessions", fw.fleet.Worker(), len(names))
		rctx, cancel := context.WithTimeout(context.Background(), fw.fleet.Margin()/2)
		if err := fw.pool.RemoveAll(rctx, names); err != nil && rctx.Err() != nil {
			fw.a.warnf("worker %s: stopping the sessions took too long: %v", fw.fleet.Worker(), err)
		}
		cancel()
		fw.tripped.Store(true)
	}
}

type fleetAccount struct {
	name  string
	lease pgvault.Lease
}

// run runs the lease loop until ctx ends; the caller then stops the pool,
// saves the stores and calls leave.
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
			fw.a.warnf("worker %s: %v; waiting (a crashed predecessor frees the name within %v)", fw.fleet.Worker(), err, period)
			warned = true
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	go fw.watchdog(ctx)
	for round := 1; ; round++ {
		if round%50 == 0 { // accounts imported or removed meanwhile
			if err := syncLeases(fw.v, fw.fleet); err != nil && ctx.Err() == nil {
				fw.a.warnf("worker %s: syncing the leases: %v", fw.fleet.Worker(), err)
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

// step is one round: renew when due, drop what was lost (or everything at
// the deadline), claim up to the share, give back what is over it.
func (fw *fleetWorker) step(ctx context.Context) {
	period := fw.fleet.Period()
	now := time.Now()
	if fw.tripped.Swap(false) || len(fw.held) > 0 && !now.Before(fw.deadline) {
		fw.a.warnf("worker %s: no renewal since %s: stopping its %d sessions before the leases expire", fw.fleet.Worker(), fw.renewed.Format(time.RFC3339), len(fw.held))
		fw.drop(ctx, fw.heldIDs(), false)
		return
	}
	if now.Sub(fw.renewed) >= period/3 {
		// Bounded by the deadline too: a renewal answered after the
		// watchdog stopped the sessions must not revive them.
		rctx, cancel := context.WithTimeout(ctx, period/4)
		if len(fw.held) > 0 {
			rctx, cancel = context.WithDeadline(ctx, fw.deadline)
		}
		held, sent, err := fw.fleet.Renew(rctx, fw.leases())
		cancel()
		if errors.Is(err, pgvault.ErrReplaced) {
			fw.a.warnf("worker %s: %v: stopping its %d sessions", fw.fleet.Worker(), err, len(fw.held))
			fw.drop(ctx, fw.heldIDs(), false)
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				fw.a.warnf("worker %s: renewing the leases: %v", fw.fleet.Worker(), err)
			}
			return
		}
		if !time.Now().Before(fw.deadline) && len(fw.held) > 0 {
			return // too late: the watchdog's business (next step drops)
		}
		fw.renewed = sent
		fw.setDeadline(fw.fleet.Deadline(sent))
		still := map[string]bool{}
		for _, l := range held {
			still[l.Account] = true
		}
		var lost []string
		for id := range fw.held {
			if !still[id] {
				lost = append(lost, id)
			}
		}
		if len(lost) > 0 {
			fw.a.warnf("worker %s: %d leases were lost; stopping them", fw.fleet.Worker(), len(lost))
			fw.drop(ctx, lost, false)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, period/4)
	defer cancel()
	share, _, err := fw.fleet.Share(cctx)
	if err != nil {
		if ctx.Err() == nil {
			fw.a.warnf("worker %s: reading the share: %v", fw.fleet.Worker(), err)
		}
		return
	}
	switch n := len(fw.held); {
	case n < share:
		fw.claim(cctx, min(share-n, claimBatch))
	case n > share+1:
		// Give back the surplus to the worker that has too few: its
		// sessions first, then the leases.
		ids := fw.heldIDs()
		fw.drop(ctx, ids[:n-share], true)
	}
}

func (fw *fleetWorker) heldIDs() []string {
	ids := make([]string, 0, len(fw.held))
	for id := range fw.held {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// claim takes up to max leases and connects their accounts.
func (fw *fleetWorker) claim(ctx context.Context, max int) {
	leases, sent, err := fw.fleet.Claim(ctx, max)
	if err != nil && ctx.Err() == nil {
		fw.a.warnf("worker %s: claiming leases: %v", fw.fleet.Worker(), err)
	}
	if err != nil || len(leases) == 0 {
		return
	}
	if len(fw.held) == 0 || fw.fleet.Deadline(sent).Before(fw.deadline) {
		fw.setDeadline(fw.fleet.Deadline(sent))
	}
	if fw.renewed.IsZero() {
		fw.renewed = sent
	}
	list, err := fw.v.List()
	if err != nil {
		fw.a.warnf("worker %s: reading the index: %v", fw.fleet.Worker(), err)
		fw.release(leases)
		return
	}
	byID := map[string]vault.Account{}
	for _, a := range list {
		byID[a.ID] = a
	}
	var accts []vault.Account
	var give []pgvault.Lease
	lease := map[string]pgvault.Lease{}
	for _, l := range leases {
		a, ok := byID[l.Account]
		if !ok || a.Status != vault.StatusActive {
			give = append(give, l) // removed meanwhile, or not to be connected
			continue
		}
		accts = append(accts, a)
		lease[a.ID] = l
	}
	blob := func(a vault.Account) storage.Blob {
		return fw.fleet.Blob("accounts/"+a.ID+".age", lease[a.ID])
	}
	files, errs, err := fw.v.OpenAccounts(accts, blob)
	if err != nil {
		fw.release(leases)
		return
	}
	for i, acct := range accts {
		f, err := files[i], errs[i]
		if err == nil {
			err = fw.add(acct, f, blob)
		}
		if err != nil {
			fw.a.warnf("account %s: %v; not connected", acct.Name, err)
			give = append(give, lease[acct.ID])
			continue
		}
		fw.held[acct.ID] = fleetAccount{name: acct.Name, lease: lease[acct.ID]}
	}
	fw.release(give)
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
		fw.a.warnf("worker %s: giving %d leases back: %v (they expire on their own)", fw.fleet.Worker(), len(ls), err)
	}
}

// leases are the leases held.
func (fw *fleetWorker) leases() []pgvault.Lease {
	ls := make([]pgvault.Lease, 0, len(fw.held))
	for _, h := range fw.held {
		ls = append(ls, h.lease)
	}
	return ls
}

// add puts a claimed account into the pool.
func (fw *fleetWorker) add(acct vault.Account, f *storage.File, blob func(vault.Account) storage.Blob) error {
	if !time.Now().Before(fw.deadline) {
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
	s := newLazyStore(f, reopen, fw.w.commit)
	opts, err := fw.opts(f)
	if err == nil {
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
// closed, at most until the deadline), saves them while the leases still
// allow it, and gives the leases back when release is set (a lost lease is
// not ours to release).
func (fw *fleetWorker) drop(ctx context.Context, ids []string, release bool) {
	names := make([]string, 0, len(ids))
	leases := make([]pgvault.Lease, 0, len(ids))
	for _, id := range ids {
		names = append(names, fw.held[id].name)
		leases = append(leases, fw.held[id].lease)
	}
	until := fw.deadline.Add(fw.fleet.Margin() / 2)
	if soon := time.Now().Add(fw.fleet.Margin() / 2); until.Before(soon) {
		until = soon // past the deadline (the watchdog acted): still wait a moment for the close
	}
	dctx, cancel := context.WithDeadline(context.Background(), until)
	err := fw.pool.RemoveAll(dctx, names)
	closed := err == nil || errors.Is(err, mtproto.ErrUnknownAccount) // unknown: removed and closed already
	if !closed {
		// Some may still be connected: their leases are not given back
		// (and no longer renewed), so nobody claims them before they
		// expire.
		fw.a.warnf("worker %s: stopping %d sessions took too long: %v", fw.fleet.Worker(), len(names), err)
	}
	cancel()
	var stores []*lazyStore
	for _, n := range names {
		if s := fw.set.remove(n); s != nil {
			stores = append(stores, s)
		}
	}
	for s, err := range flushAll(stores) {
		_ = s
		fw.a.warnf("worker %s: saving a dropped account: %v", fw.fleet.Worker(), err)
	}
	for _, s := range stores {
		_ = s.shut()
	}
	for _, id := range ids {
		delete(fw.held, id)
	}
	if len(fw.held) == 0 {
		fw.watch.Store(0)
	}
	if release && closed {
		fw.release(leases)
	}
}

// leave gives every lease back and forgets the worker; the pool must have
// stopped and the stores been saved.
func (fw *fleetWorker) leave() error {
	ctx, cancel := context.WithTimeout(context.Background(), fw.fleet.Period())
	defer cancel()
	if err := fw.fleet.Leave(ctx, fw.leases()); err != nil {
		return fmt.Errorf("worker %s: giving the leases back: %w (they expire on their own)", fw.fleet.Worker(), err)
	}
	return nil
}

func leaseIDs(ls []pgvault.Lease) []string {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.Account
	}
	return ids
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

// fleetReport is the fleet section of `tgvault status`.
type fleetReport struct {
	Leases  int                  `json:"leases"`
	Held    int                  `json:"held"`
	Workers []pgvault.WorkerInfo `json:"workers"`
	// Owners maps each held lease's account id to its worker, with the
	// fencing counter and expiry (ids, not names: names are sealed).
	Owners []pgvault.LeaseInfo `json:"owners"`
}

// fleetStatus reads the leases of a PostgreSQL vault; isFleet is false
// for a directory vault.
func fleetStatus(v *vault.Vault) (r *fleetReport, isFleet bool, err error) {
	be, ok := v.Backend().(*pgvault.Backend)
	if !ok {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leases, workers, err := pgvault.Status(ctx, be)
	if err != nil {
		return nil, true, err
	}
	r = &fleetReport{Leases: len(leases), Workers: workers, Owners: []pgvault.LeaseInfo{}}
	for _, l := range leases {
		if l.Live {
			r.Held++
			r.Owners = append(r.Owners, l)
		}
	}
	return r, true, nil
}

func (a *app) migrateCmd() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "migrate --to postgres://...",
		Short: "Copy a directory vault into PostgreSQL, for a fleet of run workers",
		Long: `Copy the vault (--vault, TGVAULT_DIR or the default directory) into the
PostgreSQL database --to, blob for blob: everything stays sealed, the
database never sees a plaintext key or account name. The vault keeps its id,
so the keyring that unlocks it unlocks the copy. It refuses while run serves
the vault and when the database holds a vault already. The directory is left
as it was: once the fleet serves the copy, remove it (or keep it as a
backup, but never run both: a session used from two places is killed).

Keep the password out of the URL: pgx reads PGPASSWORD and ~/.pgpass.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !pgvault.IsURL(to) {
				return usagef("--to needs a postgres:// URL")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			dst, err := pgvault.Open(ctx, to)
			cancel()
			if err != nil {
				return err
			}
			defer dst.Close()
			return a.withVault(perProcess, func(v *vault.Vault) error {
				if _, ok := v.Backend().(vault.DirBackend); !ok {
					return usagef("migrate copies a directory vault; this one is in %s", v.Dir())
				}
				n, err := v.MigrateTo(dst)
				if err != nil {
					return err
				}
				if a.json {
					return a.printJSON(struct {
						To       string `json:"to"`
						Accounts int    `json:"accounts"`
					}{dst.Location(), n})
				}
				a.printf("copied vault %s with %d account(s) to %s\nserve it with: tgvault --vault %s run --worker NAME\n", v.ID(), n, dst.Location(), dst.Location())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the PostgreSQL `URL` to copy the vault into")
	return cmd
}
