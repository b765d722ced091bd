package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"time"

	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

// Config is what Serve serves and how. Vault is required; the zero value
// of every other field is a valid choice.
type Config struct {
	// Vault is the unlocked vault to serve. Serve does not close it.
	Vault *vault.Vault
	// Log receives run's warnings (Warn) and notes (Info): each message
	// is a whole sentence, and a sentence about one account or one fleet
	// worker also carries its name as the attribute "account" or
	// "worker". No key, session string, passphrase, proxy secret or phone
	// number is ever logged. nil discards them.
	Log *slog.Logger
	// Socket is the path of the local API's unix socket.
	Socket string

	// Names limits a directory vault to these accounts (empty: every
	// active one); a named account that is not active is skipped with a
	// warning, one the index lacks fails with vault.ErrNotFound.
	Names []string
	// Force serves a directory vault that was migrated to PostgreSQL
	// (else Serve fails with a *vault.MigratedError).
	Force bool
	// Worker, when set, makes this process the fleet worker of that
	// name of a PostgreSQL vault (pgvault.NewFleet), with Lease as its
	// lease period (DefaultLease when 0): it serves the accounts its
	// leases give it (Names must be empty). A vault in PostgreSQL is
	// served only by workers, and only such a vault has them (see
	// ErrFleetNeedsWorker, ErrWorkerNeedsFleet).
	Worker string
	Lease  time.Duration

	// Defaults are the server, api_id and proxy of accounts whose files
	// name none (mtproto.LoadOptions).
	Defaults mtproto.Defaults
	// Methods is the local API's method policy (nil: the default
	// refusals).
	Methods *tljson.MethodPolicy
	// NoRelay serves no MTProto relay (package mtproto/relay: `tgvault
	// relay`, `exec --relay`); its local API routes then answer 503,
	// relay_off. A fleet worker serves none either way (its accounts'
	// relay upstreams would carry no dead-man switch).
	NoRelay bool
	// LowerGC lowers the GC target once the accounts are connected
	// (settleMemory); the CLI sets it when GOGC is not set.
	LowerGC bool

	// Serving, when set, is called once the socket listens and the pool
	// runs.
	Serving func(Serving)
	// Stopped, when set, is called after every account was saved, when
	// Serve is about to return nil.
	Stopped func(Stopped)
}

// Serving describes a Serve that has started.
type Serving struct {
	Socket   string
	Accounts int           // accounts in the pool (0 for a worker that just started)
	Worker   string        // the fleet worker's name, "" for a directory vault
	Lease    time.Duration // the fleet's lease period
}

// Stopped describes how Serve saved the accounts when it stopped.
type Stopped struct {
	Changed int           // stores that had unsaved changes
	Took    time.Duration // the save of them all
}

// DefaultLease is the lease period of a fleet worker when none is given.
const DefaultLease = 30 * time.Second

const (
	// flushEvery is how often run saves the peer caches that changed.
	flushEvery = 10 * time.Second
	// idleClose is how long an account's store stays open unused before
	// run saves and closes it (it is reopened on the next use).
	idleClose = 10 * time.Minute
	// shutdownGrace bounds how long run waits for in-flight API calls.
	shutdownGrace = 30 * time.Second
)

// Serve's answers to a Config it cannot serve.
var (
	ErrNoVault = errors.New("daemon: no vault to serve")
	// ErrFleetNeedsWorker: a vault in PostgreSQL is served by named
	// fleet workers only. A Serve without a worker would hold no leases,
	// and the workers could claim the accounts it serves: each account
	// would be used from two places.
	ErrFleetNeedsWorker = errors.New("daemon: a vault in PostgreSQL is served by fleet workers")
	// ErrWorkerNeedsFleet: only a vault in PostgreSQL has a fleet.
	ErrWorkerNeedsFleet = errors.New("daemon: a fleet worker needs a vault in PostgreSQL")
	// ErrFleetNames: a fleet worker serves the accounts its leases give
	// it, not names.
	ErrFleetNames = errors.New("daemon: a fleet worker serves the accounts its leases give it, not names")
)

// Serve serves cfg.Vault until ctx ends: it takes the accounts (their
// ownership locks, or a fleet worker's leases), connects them through one
// pool, serves the local API on cfg.Socket, saves the changed peer caches
// every flushEvery, and, when ctx ends, stops accepting calls, lets those
// in flight finish, stops the pool and saves and closes every account.
// Errors are the vault's and the pool's, classified by type (a
// *vault.HeldError when another process holds every account, a
// *vault.MigratedError, vault.ErrNotFound, ...).
func Serve(ctx context.Context, cfg Config) error {
	if cfg.Vault == nil {
		return ErrNoVault
	}
	d := newDaemon(cfg)
	v := cfg.Vault
	fleet, err := fleetOf(v, cfg.Worker, cfg.Lease)
	if err != nil {
		return err
	}
	if d.fleet = fleet; fleet != nil {
		if len(cfg.Names) > 0 {
			return ErrFleetNames
		}
		if err := syncLeases(v, fleet); err != nil {
			return err
		}
		return d.serve(ctx, nil, nil)
	}
	if to, err := v.MigratedTo(); err != nil {
		return err
	} else if to != "" {
		if !cfg.Force {
			return &vault.MigratedError{To: to}
		}
		v.AllowMigrated()
		d.warnf("this vault was migrated to %s; serving this copy anyway (--force): never while the fleet serves it", to)
	}
	list, err := v.List()
	if err != nil {
		return err
	}
	active, err := d.selectAccounts(list, cfg.Names)
	if err != nil {
		return err
	}
	// Each account is taken (its ownership lock) before it is opened and
	// connected, and held until run exits: nothing exports or moves it
	// meanwhile, and another run skips it.
	claim, err := d.claimAccounts(v, active)
	if err != nil {
		return err
	}
	defer claim.Close()
	active = slices.DeleteFunc(active, func(acct vault.Account) bool { return !claim.Holds(acct.ID) })
	return d.serve(ctx, active, claim)
}

// BadWorkerError is a Config.Worker or Config.Lease that
// pgvault.NewFleet refuses; its text is pgvault's.
type BadWorkerError struct{ Err error }

func (e *BadWorkerError) Error() string { return e.Err.Error() }
func (e *BadWorkerError) Unwrap() error { return e.Err }

// fleetOf is the fleet Serve is a worker of: nil for a directory vault
// served without a worker; a vault in PostgreSQL needs one and a worker
// needs such a vault.
func fleetOf(v *vault.Vault, worker string, lease time.Duration) (*pgvault.Fleet, error) {
	be, fleetVault := v.Backend().(*pgvault.Backend)
	switch {
	case fleetVault && worker == "":
		return nil, ErrFleetNeedsWorker
	case !fleetVault && worker != "":
		return nil, ErrWorkerNeedsFleet
	case !fleetVault:
		return nil, nil // no fleet: a directory vault's accounts are held by their ownership locks
	}
	if lease == 0 {
		lease = DefaultLease
	}
	f, err := pgvault.NewFleet(be, worker, lease)
	if err != nil {
		return nil, &BadWorkerError{Err: err}
	}
	return f, nil
}

// warnf logs a warning: one sentence, as the CLI prints it.
func (d *daemon) warnf(format string, args ...any) {
	d.log.Warn(fmt.Sprintf(format, args...))
}

// logAccount logs a sentence about one account, with the account's name
// as the attribute "account" (the CLI prints the sentence only).
func (d *daemon) logAccount(l slog.Level, name, format string, args ...any) {
	d.log.Log(context.Background(), l, fmt.Sprintf(format, args...), slog.String("account", name))
}

// selectAccounts picks the accounts run serves: the active ones (of the
// names given, if any), warning about a named one that is not active.
func (d *daemon) selectAccounts(list []vault.Account, names []string) ([]vault.Account, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	found := 0
	var active []vault.Account
	for _, acct := range list {
		if len(want) > 0 && !want[acct.Name] {
			continue
		}
		found++
		if acct.Status != vault.StatusActive {
			if len(want) > 0 {
				d.logAccount(slog.LevelWarn, acct.Name, "account %s is %s: not connected", acct.Name, acct.Status)
			}
			continue
		}
		active = append(active, acct)
	}
	if found < len(want) {
		return nil, fmt.Errorf("%w: %d of the accounts named", vault.ErrNotFound, len(want)-found)
	}
	return active, nil
}

// claimAccounts takes the ownership locks of the accounts run is to
// serve. One that another run holds is left out at once with a warning
// naming the process; one that a command holds for a moment (export, rm,
// ...) is waited for, up to claimWait, then left out the same way. When
// every one is held, run refuses (a *vault.HeldError) naming one holder.
// The state of each account is read from its file only after this
// (OpenAccounts), so an account that `export --move` handed off meanwhile
// is not served.
func (d *daemon) claimAccounts(v *vault.Vault, active []vault.Account) (*vault.Claim, error) {
	claim, busy, err := v.ClaimAccounts(active)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]vault.Account, len(active))
	for _, acct := range active {
		byName[acct.Name] = acct
	}
	for deadline := time.Now().Add(claimWait); len(busy) > 0 && time.Now().Before(deadline); {
		var again []vault.Account
		for name, h := range busy {
			if !h.Serving() {
				again = append(again, byName[name])
			}
		}
		if len(again) == 0 {
			break
		}
		time.Sleep(claimRetry)
		more, still, err := v.ClaimAccounts(again)
		if err != nil {
			_ = claim.Close()
			return nil, err
		}
		claim.Merge(more)
		for _, acct := range again {
			if h, held := still[acct.Name]; held {
				busy[acct.Name] = h
			} else {
				delete(busy, acct.Name)
			}
		}
	}
	if len(busy) == 0 {
		return claim, nil
	}
	held := make([]string, 0, len(busy))
	for name := range busy {
		held = append(held, name)
	}
	sort.Strings(held)
	if claim.Len() == 0 {
		_ = claim.Close()
		return nil, fmt.Errorf("another process holds the accounts to serve (%d): %w", len(held), &vault.HeldError{Holder: busy[held[0]]})
	}
	for _, name := range held {
		d.logAccount(slog.LevelWarn, name, "account %s: %v; not connected", name, &vault.HeldError{Holder: busy[name]})
	}
	return claim, nil
}

// Waiting for an account a command holds (claimAccounts); claimWait is a
// variable so that a test of this package can shorten it.
var (
	claimWait  = vault.OwnerWait
	claimRetry = 50 * time.Millisecond
)

// vaultStatusOf maps a final pool state (and its error) to the index
// state that keeps the pool (and the next run) off the account, and "" for
// states that leave the index alone.
func vaultStatusOf(s mtproto.Status, err error) vault.AccountStatus {
	if errors.Is(err, mtproto.ErrIdentityMismatch) {
		// The server says the key is another account's than the vault
		// recorded: never overwritten, never served.
		return vault.StatusMismatch
	}
	switch s {
	case mtproto.StatusKeyLost:
		return vault.StatusKeyLost
	case mtproto.StatusUnauthorized, mtproto.StatusDuplicated:
		return vault.StatusRevoked
	}
	return ""
}

// settleMemory runs once the pool is quiet after accounts connected (at
// start, or after reconnects): a few garbage collections, each of which
// also halves the stacks of goroutines that use less than a quarter of
// theirs (gotd's goroutines, eleven per account, grew while connecting and
// would otherwise keep that memory until collections come by themselves,
// which an idle process hardly needs), then the free memory goes back to
// the OS. It takes a few hundred milliseconds of CPU at 10,000 accounts.
// With lowerGC (GOGC is not set) the heap may then grow by half of what
// it holds between collections instead of all of it: a process holding
// thousands of idle accounts allocates little, so collecting more often
// costs little CPU, and otherwise its RSS drifts up to twice its heap.
func settleMemory(lowerGC bool) {
	if lowerGC {
		debug.SetGCPercent(settledGCPercent)
	}
	for range 3 {
		runtime.GC()
	}
	debug.FreeOSMemory()
}

// settledGCPercent is run's GOGC once its accounts are connected.
const settledGCPercent = 50

// markAccount records a final state (revoked, key lost) of an account run
// serves: in its file, through the store run holds open (a second store
// of the same file would be overwritten by the first's next save), inside
// the group commit, which brings the index along.
func markAccount(v *vault.Vault, w *vaultWriter, set *storeSet, name string, st vault.AccountStatus, reason string) error {
	s := set.get(name)
	if s == nil {
		return fmt.Errorf("%w: run does not serve it", vault.ErrNotFound)
	}
	return s.use(func(f *storage.File) error {
		return w.commit(f, now(func() error { return v.MarkStore(f, st, reason) }))
	})
}

// clientOptions returns an account's client options (mtproto.LoadOptions
// with run's defaults); a stored setting that is unreadable is a corrupt
// account file.
func clientOptions(f *storage.File, d mtproto.Defaults) (mtproto.Options, error) {
	row, err := f.Session()
	if err != nil {
		return mtproto.Options{}, err
	}
	opts, err := mtproto.LoadOptions(f, row, d)
	if errors.Is(err, mtproto.ErrBadSettings) {
		return mtproto.Options{}, fmt.Errorf("%w: %w", vault.ErrCorrupt, err)
	}
	return opts, err
}
