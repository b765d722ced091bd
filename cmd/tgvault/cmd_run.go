package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/internal/privdir"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

const (
	// flushEvery is how often run saves the peer caches that changed.
	flushEvery = 10 * time.Second
	// idleClose is how long an account's store stays open unused before
	// run saves and closes it (it is reopened on the next use).
	idleClose = 10 * time.Minute
	// shutdownGrace bounds how long run waits for in-flight API calls.
	shutdownGrace = 30 * time.Second
	// writeBusyWait bounds how long a write of run waits for another
	// process holding the vault's write lock.
	writeBusyWait = 10 * time.Second
	// callTimeout bounds one `tgvault call` (it waits for the account to
	// connect).
	callTimeout = 60 * time.Second
)

// socketPath returns the local API socket: --socket, else TGVAULT_SOCKET,
// else run.sock in the runtime directory (runtimeDir), which is made when
// missing and refused when it is not the user's own private directory.
func (a *app) socketPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if s := a.getenv("TGVAULT_SOCKET"); s != "" {
		return s, nil
	}
	dir := a.runtimeDir()
	if err := privdir.Ensure(dir); err != nil {
		return "", fmt.Errorf("socket directory: %w", err)
	}
	return filepath.Join(dir, "run.sock"), nil
}

// vaultWriter serializes run's writes to the vault (the write lock is a
// per-open-file flock: two goroutines of one process would refuse each
// other), waits out another process's short writes, and group-commits:
// the account writes that arrive while one batch is being written go
// together into the next vault.CommitAll, so N accounts saving at once
// reseal the index about once per batch instead of N times.
type vaultWriter struct {
	v  *vault.Vault
	mu sync.Mutex // held by the goroutine writing a batch

	qmu     sync.Mutex
	queue   []*commitReq
	batches atomic.Int64 // vault.CommitAll calls, for tests
}

// commitReq is one account write waiting for its batch. fn writes to f;
// it may stage the save in the batch it is given (storage.File.FlushIn),
// which the commit makes durable with the others' before it answers.
type commitReq struct {
	f    *storage.File
	fn   func(*storage.SaveBatch) error
	done chan error
}

// now makes a write that saves at once (SetSession, SetMeta, ...) a
// commit function.
func now(fn func() error) func(*storage.SaveBatch) error {
	return func(*storage.SaveBatch) error { return fn() }
}

// commitBatch bounds one vault.CommitAll, so that other processes get the
// write lock between batches (a batch of 1,024 accounts holds it for about
// half a second here).
const commitBatch = 1024

func (w *vaultWriter) do(f func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return retryBusy(f)
}

// retryBusy runs f until it is not refused with vault.ErrBusy, for at most
// writeBusyWait.
func retryBusy(f func() error) error {
	deadline := time.Now().Add(writeBusyWait)
	for {
		err := f()
		if !errors.Is(err, vault.ErrBusy) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// commit runs fn (writes to f) through vault.CommitAll, batched with the
// writes that queue up meanwhile; it returns when fn's write and its index
// entry are durable, or with the error that prevented it.
func (w *vaultWriter) commit(f *storage.File, fn func(*storage.SaveBatch) error) error {
	r := &commitReq{f: f, fn: fn, done: make(chan error, 1)}
	w.commitAll([]*commitReq{r})
	return <-r.done
}

// commitAll queues reqs and writes batches until they are all done.
func (w *vaultWriter) commitAll(reqs []*commitReq) {
	w.qmu.Lock()
	w.queue = append(w.queue, reqs...)
	w.qmu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	for !allDone(reqs) {
		// A batch names each store once: the next write of a store
		// already in it waits for the next batch.
		w.qmu.Lock()
		var batch, rest []*commitReq
		in := map[*storage.File]bool{}
		for _, r := range w.queue {
			if len(batch) < commitBatch && !in[r.f] {
				in[r.f] = true
				batch = append(batch, r)
			} else {
				rest = append(rest, r)
			}
		}
		w.queue = rest
		w.qmu.Unlock()
		if len(batch) == 0 {
			return // unreachable: our undone requests are queued
		}
		w.write(batch)
	}
}

func allDone(reqs []*commitReq) bool {
	for _, r := range reqs {
		if len(r.done) == 0 {
			return false
		}
	}
	return true
}

// write commits one batch (each store once) and answers each request:
// with its own error, else with the batch's (an index that could not be
// written).
func (w *vaultWriter) write(batch []*commitReq) {
	files := make([]*storage.File, len(batch))
	byFile := make(map[*storage.File]*commitReq, len(batch))
	for i, r := range batch {
		files[i] = r.f
		byFile[r.f] = r
	}
	w.batches.Add(1)
	var errs []error
	err := retryBusy(func() error {
		var err error
		errs, err = w.v.CommitAll(files, func(f *storage.File, sb *storage.SaveBatch) error {
			return byFile[f].fn(sb)
		})
		return err
	})
	for i, r := range batch {
		if i < len(errs) && errs[i] != nil {
			r.done <- errs[i]
		} else {
			r.done <- err
		}
	}
}

// flushAll saves the changed peer caches of every store: their writes are
// queued at once, so that the group commit writes them in full batches
// (each one fsync round and one index write), and the stores that failed
// come back with their errors. Stores with another committer than the
// first's are flushed in a second round.
func flushAll(stores []*lazyStore) map[*lazyStore]error {
	failed := map[*lazyStore]error{}
	for len(stores) > 0 {
		w := stores[0].w
		var reqs []*commitReq
		var held, rest []*lazyStore
		for _, s := range stores {
			if s.w != w {
				rest = append(rest, s)
			} else if r := s.flushRequest(); r != nil {
				reqs = append(reqs, r)
				held = append(held, s)
			}
		}
		w.commitAll(reqs)
		for i, r := range reqs {
			err := <-r.done
			held[i].flushDone(err)
			if err != nil {
				failed[held[i]] = err
			}
		}
		stores = rest
	}
	return failed
}

// saveAndClose saves every store's changes (flushAll: group-committed,
// the files of each batch fsynced together) and closes the stores, as run
// does when it stops; it returns what failed. A store whose flush failed
// is not closed: Close would save it without the vault's write lock.
func saveAndClose(stores []*lazyStore) []error {
	var errs []error
	failed := flushAll(stores)
	for _, s := range stores {
		if err, bad := failed[s]; bad {
			errs = append(errs, err)
		} else if err := s.shut(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

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

func (a *app) runCmd() *cobra.Command {
	var (
		socket string
		sf     serverFlags
		worker string
		lease  time.Duration
		mlock  string
		allow  []string
		deny   []string
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "run [NAME...] [--socket PATH] [--worker NAME [--lease 30s]]",
		Short: "Keep the vault's accounts connected and serve the local API",
		Long: `Keep the vault's active accounts (or the NAMEs given) connected to Telegram
through one MTProto pool, and serve the local API (HTTP+JSON) on a unix socket
(mode 0600, owner only) until SIGINT or SIGTERM; ` + "`tgvault call`" + ` is its client.

Each account connects to the server it logged in on (tgvault login --server);
an imported account to Telegram's DCs for its dc_id and test mode, or to the
--server given here. Handed-off, revoked, key-lost, broken and mismatch
accounts are skipped. A stored key is never replaced: an account whose key the
server lost or revoked is marked key_lost or revoked in the index and left
alone. On an account's first connect run stores what its source lacked (user
id, bot flag, test mode) as the server says it; a known one the server
contradicts is not overwritten: the account is marked mismatch. An
account whose SOCKS5 proxy refuses the username or password is left alone
too (state proxy_auth) until run restarts; the index is not changed.

run holds each account it serves (its ownership lock, taken before the
account is opened, released when run exits or dies): while it runs, export,
export --move, rm, rename, reclaim, logout and proxy of those accounts are
refused (exit 5, naming run's pid; export --force exports anyway), and the
vault's other accounts stay free. An account another run serves is skipped
with a warning (run exits 5 when that is every account); one a command holds
for a moment (an export) is waited for, up to 10 s. An account handed off by
export --move is not served, whatever the index says: its file says so.
On SIGINT or SIGTERM it stops accepting calls, finishes the ones in flight,
saves every account and exits 0.

A directory vault that was migrated to PostgreSQL is refused (exit 5) naming
the database; --force serves it anyway (never while the fleet serves it).

--mlock (TGVAULT_MLOCK) locks run's memory against swap, so that keys are
not swapped out while it serves: auto (the default) locks it where the OS allows,
else says why not and goes on; on refuses to start without it; off skips
it. Linux allows it to a process with CAP_IPC_LOCK (in the initial user
namespace) or an unlimited RLIMIT_MEMLOCK (systemd: LimitMEMLOCK=infinity);
a finite limit is not used, because the Go runtime aborts when it reaches
one. Elsewhere it is not implemented: auto warns, on refuses.

The local API refuses the methods that could export, replace or end an
account's login or change how it logs in (README.md lists them): --allow
METHOD lifts one refusal (not of a wrapper around another query, nor of an
MTProto service function), --deny METHOD adds one; both repeat.

The socket is --socket, else TGVAULT_SOCKET, else
$XDG_RUNTIME_DIR/tgvault/run.sock, else run.sock in a per-user directory
under the temp directory.

A vault in PostgreSQL (--vault postgres://...) is served by a fleet: each
` + "`run --worker NAME`" + ` (a name unique in the fleet) claims leases on its share of
the accounts, connects exactly those, renews the leases every third of
--lease (3s to 1h), and gives surplus ones back when workers join. A worker
that cannot renew stops its sessions before its leases can expire, and
sends nothing past them; every connection asks Telegram to close it when its
pings stop (ping_delay_disconnect, half the lease, 3s to 75s), so that a
worker that dies or is paused has its accounts taken over by the others once
its leases expired and that delay passed. See docs/fleet.md.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, names []string) error {
			// From the start: a signal during start-up stops run cleanly.
			sig, stopSig := a.signalContext()
			defer stopSig()
			conf, confSet, err := a.serverConf(&sf)
			if err != nil {
				return err
			}
			defaultAPIID, err := a.apiID(&sf)
			if err != nil {
				return err
			}
			proxy, err := a.proxyURL(&sf)
			if err != nil {
				return err
			}
			methods, err := tljson.NewMethodPolicy(allow, deny)
			if err != nil {
				return usagef("%v", err)
			}
			path, err := a.socketPath(socket)
			if err != nil {
				return err
			}
			mode, err := a.mlockMode(mlock)
			if err != nil {
				return err
			}
			if worker != "" {
				if err := pgvault.CheckPeriod(lease); err != nil {
					return usagef("--lease: %v", err)
				}
			}
			if err := checkMemlock(mode); err != nil {
				return err
			}
			return a.withVault(perProcess, func(v *vault.Vault) error {
				list, err := v.List() // fails with exit 3 when locked
				if err != nil {
					return err
				}
				// Unlocking by passphrase ran scrypt (256 MiB): give that
				// back to the OS now rather than hold it for run's life.
				debug.FreeOSMemory()
				locked, err := a.lockMemory(mode)
				if err != nil {
					return err
				}
				be, fleetVault := v.Backend().(*pgvault.Backend)
				switch {
				case fleetVault && worker == "":
					// A plain run would hold no leases: workers could
					// claim its accounts while it serves them.
					return usagef("a vault in PostgreSQL is served by workers: run --worker NAME")
				case !fleetVault && worker != "":
					return usagef("--worker needs a vault in PostgreSQL (--vault postgres://...)")
				case fleetVault:
					if len(names) > 0 {
						return usagef("a worker serves the accounts its leases give it, not NAMEs")
					}
					fleet, err := pgvault.NewFleet(be, worker, lease)
					if err != nil {
						return usagef("%v", err)
					}
					if err := syncLeases(v, fleet); err != nil {
						return err
					}
					return a.serve(sig, v, nil, nil, path, conf, confSet, defaultAPIID, proxy, fleet, locked, methods)
				}
				if to, err := v.MigratedTo(); err != nil {
					return err
				} else if to != "" {
					if !force {
						return &vault.MigratedError{To: to}
					}
					v.AllowMigrated()
					a.warnf("this vault was migrated to %s; serving this copy anyway (--force): never while the fleet serves it", to)
				}
				active, err := a.selectAccounts(list, names)
				if err != nil {
					return err
				}
				// Each account is taken (its ownership lock) before it is
				// opened and connected, and held until run exits: nothing
				// exports or moves it meanwhile, and another run skips it.
				claim, err := a.claimAccounts(v, active)
				if err != nil {
					return err
				}
				defer claim.Close()
				active = slices.DeleteFunc(active, func(acct vault.Account) bool { return !claim.Holds(acct.ID) })
				return a.serve(sig, v, active, claim, path, conf, confSet, defaultAPIID, proxy, nil, locked, methods)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&socket, "socket", "", "the local API socket `PATH`")
	f.StringVar(&worker, "worker", "", "join the fleet of a PostgreSQL vault as worker `NAME`")
	f.DurationVar(&lease, "lease", DefaultLeasePeriod, "the lease `PERIOD` of a worker (3s to 1h)")
	f.StringArrayVar(&allow, "allow", nil, "let the local API call `METHOD`, which it refuses by default (repeatable; wrappers and MTProto service functions stay refused)")
	f.StringArrayVar(&deny, "deny", nil, "refuse `METHOD` on the local API as well (repeatable)")
	f.StringVar(&mlock, "mlock", "", "lock run's memory against swap: `MODE` auto (where the OS allows, else warn), on (refuse to start without) or off (default $TGVAULT_MLOCK, else auto)")
	f.BoolVar(&force, "force", false, "serve a directory vault that was migrated to PostgreSQL (never while the fleet serves it)")
	sf.register(f)
	return cmd
}

// selectAccounts picks the accounts run serves: the active ones (of the
// NAMEs given, if any), warning about a named one that is not active.
func (a *app) selectAccounts(list []vault.Account, names []string) ([]vault.Account, error) {
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
				a.warnf("account %s is %s: not connected", acct.Name, acct.Status)
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
// every one is held, run refuses (exit 5) naming one holder. The state of
// each account is read from its file only after this (OpenAccounts), so
// an account that `export --move` handed off meanwhile is not served.
func (a *app) claimAccounts(v *vault.Vault, active []vault.Account) (*vault.Claim, error) {
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
		a.warnf("account %s: %v; not connected", name, &vault.HeldError{Holder: busy[name]})
	}
	return claim, nil
}

// Waiting for an account a command holds (claimAccounts).
const (
	claimWait  = vault.OwnerWait
	claimRetry = 50 * time.Millisecond
)

// serve serves the accounts active, which claim holds (or, for a fleet
// worker, the accounts its leases give it).
func (a *app) serve(sig context.Context, v *vault.Vault, active []vault.Account, claim *vault.Claim, sock string, conf serverConf, confSet bool, apiID int32, proxy string, fleet *pgvault.Fleet, locked bool, methods *tljson.MethodPolicy) error {
	if al := methods.Allowed(); len(al) > 0 {
		a.warnf("the local API allows %s (--allow), which it refuses by default: a script can change or end the accounts' logins with them", strings.Join(al, ", "))
	}
	w := &vaultWriter{v: v}
	set := newStoreSet()
	defer func() {
		for _, s := range set.all() {
			_ = s.shut()
		}
	}()
	var fw *fleetWorker       // set before any account of a worker runs
	var connects atomic.Int64 // accounts that became ready, for settleMemory
	reach := newReachLog()
	pool := mtproto.NewPool(mtproto.PoolOptions{
		Methods: methods,
		OnStatus: func(name string, s mtproto.Status, err error) {
			if s == mtproto.StatusReady {
				connects.Add(1)
			}
			reach.note(a, name, s, err)
			if s == mtproto.StatusDuplicateWait && fw != nil {
				// A fleet's takeover: the old owner's connection may live
				// until the server's dead-man switch closes it.
				a.warnf("account %s: %v; trying again in %v (marked revoked only if it persists)", name, err, fw.dm.Delay+pgvault.TransitSlack)
				return
			}
			if s == mtproto.StatusProxyAuth {
				// The account is fine; its proxy URL is not. Not marked
				// in the vault: the next run tries again.
				a.warnf("account %s: %v; not retried until run restarts (fix the proxy URL: `tgvault proxy %s -` with the URL on stdin, or TGVAULT_PROXY_FILE)", name, err, name)
				return
			}
			st := vaultStatusOf(s, err)
			if st == "" {
				return
			}
			reason := s.String()
			if err != nil {
				reason = err.Error()
			}
			a.warnf("account %s: %s; marked %s in the vault", name, reason, st)
			if err := markAccount(v, w, set, name, st, reason); err != nil {
				a.warnf("account %s: marking it %s: %v", name, st, err)
			}
			if fw != nil {
				fw.finalAccount(name) // its lease no longer counts in the shares
			}
		},
	})
	// One unlock and one index read for all of them (OpenAccount per
	// account would read the whole index each time).
	files, openErrs, err := v.OpenAccounts(active, nil)
	if err != nil {
		return err
	}
	for i, acct := range active {
		f, err := files[i], openErrs[i]
		if err != nil {
			a.warnf("account %s: %v; not connected", acct.Name, err)
			_ = claim.Release(acct.ID)
			continue
		}
		name := acct.Name
		s := newLazyStore(f, func() (*storage.File, error) { return v.OpenAccount(name) }, w)
		set.add(name, s)
		opts, err := clientOptions(f, conf, confSet, apiID, proxy)
		if err == nil {
			err = pool.AddClient(acct.Name, s, opts)
		}
		if err != nil {
			a.warnf("account %s: %v; not connected", acct.Name, err)
		}
	}

	ln, err := localapi.ListenUnix(sock)
	if err != nil {
		return err
	}
	poolCtx, stopPool := context.WithCancel(context.Background())
	defer stopPool()
	poolDone := make(chan struct{})
	go func() {
		defer close(poolDone)
		_ = pool.Run(poolCtx)
	}()
	hs := &http.Server{Handler: localapi.Handler(pool), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	// Update streams never finish on their own: end them when Shutdown
	// starts, so that it waits only for the calls in flight.
	hs.RegisterOnShutdown(pool.CloseStreams)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fleetCtx, stopFleet := context.WithCancel(context.Background())
	defer stopFleet()
	fleetDone := make(chan struct{})
	if fleet != nil {
		fw = newFleetWorker(a, v, fleet, pool, w, set, func(f *storage.File) (mtproto.Options, error) { return clientOptions(f, conf, confSet, apiID, proxy) })
		go func() {
			defer close(fleetDone)
			fw.run(fleetCtx)
		}()
	} else {
		close(fleetDone)
	}

	n := len(pool.Names())
	switch {
	case a.json:
		out := struct {
			Socket   string `json:"socket"`
			Accounts int    `json:"accounts"`
			PID      int    `json:"pid"`
			Worker   string `json:"worker,omitempty"`
			Locked   bool   `json:"memory_locked"`
		}{Socket: sock, Accounts: n, PID: os.Getpid(), Locked: locked}
		if fleet != nil {
			out.Worker = fleet.Worker()
		}
		b, _ := json.Marshal(out)
		fmt.Fprintf(a.stdout, "%s\n", b)
	case fleet != nil:
		a.printf("worker %s serving the accounts its leases give it on %s (pid %d, lease %v%s); stop with Ctrl-C or SIGTERM\n", fleet.Worker(), sock, os.Getpid(), fleet.Period(), lockedNote(locked))
	default:
		a.printf("serving %d account(s) on %s (pid %d%s); stop with Ctrl-C or SIGTERM\n", n, sock, os.Getpid(), lockedNote(locked))
	}

	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	// The periodic work runs beside the loop, one round at a time: a
	// flush of thousands of accounts (the first run after an import) takes
	// seconds, and a signal meanwhile must stop the pool at once, which
	// gives the flush the cores the connects were using.
	var (
		settled  int64         // connects at the last settleMemory
		periodic chan struct{} // closed when the running round ends; nil when none runs
		serveErr error
	)
	round := func() {
		if failed := flushAll(set.all()); len(failed) > 0 {
			// One line, not one per account: a worker woken past its
			// leases has them all refused at once.
			var first error
			for _, err := range failed {
				first = err
				break
			}
			a.warnf("saving the peers of %d accounts failed: %v", len(failed), first)
		}
		for _, s := range set.all() {
			if _, err := s.closeIdle(idleClose); err != nil {
				a.warnf("closing an idle account: %v", err)
			}
		}
		if c := connects.Load(); c > settled && pool.Connecting() == 0 {
			settled = c
			settleMemory(a.getenv("GOGC") == "")
		}
	}
loop:
	for {
		select {
		case <-sig.Done():
			break loop
		case serveErr = <-served:
			break loop
		case <-tick.C:
			if periodic != nil {
				select {
				case <-periodic:
				default:
					continue // the last round still runs
				}
			}
			done := make(chan struct{})
			periodic = done
			go func() {
				defer close(done)
				round()
			}()
		}
	}
	// Stop accepting, let the calls in flight finish (they need the pool),
	// then stop the pool and save every account.
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		_ = hs.Close()
	}
	stopFleet()
	<-fleetDone
	stopPool()
	<-poolDone
	if periodic != nil {
		<-periodic
	}
	var errs []error
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("local API: %w", serveErr))
	}
	stores := set.all()
	changed := 0
	for _, s := range stores {
		if s.dirty.Load() {
			changed++
		}
	}
	saveStart := time.Now()
	errs = append(errs, saveAndClose(stores)...)
	saveTook := time.Since(saveStart)
	set = newStoreSet()
	if fw != nil {
		if err := fw.leave(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !a.json {
		a.notef("stopped; every account saved (%d with changes, in %.2f s)", changed, saveTook.Seconds())
	}
	return nil
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

// settledGCPercent is run's GOGC once its accounts are connected.
const settledGCPercent = 50

// clientOptions returns an account's client options (mtproto.LoadOptions
// with run's --server, --api-id and --proxy as the defaults); a stored
// setting that is unreadable is a corrupt account file.
func clientOptions(f *storage.File, conf serverConf, confSet bool, apiID int32, proxy string) (mtproto.Options, error) {
	row, err := f.Session()
	if err != nil {
		return mtproto.Options{}, err
	}
	opts, err := mtproto.LoadOptions(f, row, mtproto.Defaults{Server: conf, ServerSet: confSet, APIID: apiID, Proxy: proxy})
	if errors.Is(err, mtproto.ErrBadSettings) {
		return mtproto.Options{}, fmt.Errorf("%w: %w", vault.ErrCorrupt, err)
	}
	return opts, err
}

// errNotRunning reports a socket nobody serves.
var errNotRunning = errors.New("tgvault run is not running")

// Errors of `tgvault call NAME METHOD`: the local API would not send the
// call (400, 413), or refuses the method (403).
var (
	errBadCall     = errors.New("bad method call")
	errCallRefused = errors.New("method refused")
)

// apiGet GETs path from the local API and decodes the JSON answer into
// out; an error answer is mapped to our errors (404 not found, 409 the
// account's session is unusable).
func apiGet(ctx context.Context, sock, path string, out any) error {
	return apiDo(ctx, sock, http.MethodGet, path, nil, out)
}

// apiDo makes one request of the local API; see apiGet. An error answer
// is an *apiError (a 404 is vault.ErrNotFound, a 400 or 413
// errBadCall, a 403 errCallRefused, a refused proxy login
// mtproto.ErrProxyAuth).
func apiDo(ctx context.Context, sock, method, path string, body []byte, out any) error {
	err := localapi.NewClient(sock).Do(ctx, method, path, body, out)
	if errors.Is(err, localapi.ErrNoServer) {
		return fmt.Errorf("%w (no answer on %s: start it, or point --socket/TGVAULT_SOCKET at its socket)", errNotRunning, sock)
	}
	if le, ok := errors.AsType[*localapi.Error](err); ok {
		return newAPIError(le)
	}
	return err
}

// apiError is an error answer of the local API: its message, its kind
// (localapi.Kind*) and, for a Telegram error, its code, type and the
// seconds a FLOOD_WAIT asks for. Error keeps the message as the API gave
// it; --json adds the rest (printError).
type apiError struct {
	Status     int
	Kind       string // one of apiKinds, else empty
	Msg        string
	RPCCode    int
	RPCType    string
	RetryAfter int
	sentinel   error // what errors.Is finds: vault.ErrNotFound, errBadCall, ...
}

// apiKinds are the kinds of the local API that `tgvault call` passes on as
// its own --json kind. Others (a newer or foreign server) are not: the
// kinds a script sees stay the ones README lists.
var apiKinds = map[string]bool{
	localapi.KindBodyTimeout: true, localapi.KindUnauthorized: true, localapi.KindKeyLost: true,
	localapi.KindKeyDuplicated: true, localapi.KindNoSession: true, localapi.KindFloodWait: true,
	localapi.KindRPCError: true, localapi.KindFailed: true, localapi.KindTimeout: true, localapi.KindUnreachable: true,
}

func newAPIError(le *localapi.Error) *apiError {
	e, status := le.Body, le.Status
	if e.Error == "" {
		e.Error = le.StatusText
	}
	ae := &apiError{Status: status, Msg: e.Error, RPCCode: e.RPCCode, RPCType: e.RPCType}
	if e.RetryAfter != nil {
		ae.RetryAfter = *e.RetryAfter
	}
	if apiKinds[e.Kind] {
		ae.Kind = e.Kind
	}
	switch {
	case status == http.StatusNotFound:
		ae.sentinel = vault.ErrNotFound
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge:
		ae.sentinel = errBadCall
	case status == http.StatusForbidden:
		ae.sentinel = errCallRefused
	case e.Kind == localapi.KindProxyAuth:
		ae.sentinel = mtproto.ErrProxyAuth
	}
	return ae
}

func (e *apiError) Error() string {
	if e.sentinel != nil && e.sentinel != mtproto.ErrProxyAuth { // the message names that one already
		return e.sentinel.Error() + ": " + e.Msg
	}
	return "local API: " + e.Msg
}

func (e *apiError) Unwrap() error { return e.sentinel }

// callBody makes the body of POST /invoke from METHOD and the JSON object
// of its parameters (which may name the method in "_" too).
func callBody(method string, params []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if len(bytes.TrimSpace(params)) == 0 {
		m = map[string]json.RawMessage{}
	} else if err := json.Unmarshal(params, &m); err != nil || m == nil {
		return nil, usagef("the parameters of %s must be a JSON object (%v)", method, err)
	}
	name, _ := json.Marshal(method)
	if given, ok := m["_"]; ok {
		var g string
		if json.Unmarshal(given, &g) != nil || g != method {
			return nil, usagef("the parameters name method %s, the command line %s", given, method)
		}
	}
	m["_"] = name
	return json.Marshal(m)
}

func (a *app) callCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "call NAME me | call NAME peer QUERY | call NAME METHOD [JSON|-]",
		Short: "Use an account of a running `tgvault run` (the local API's client)",
		Long: `Ask the local API of a running ` + "`tgvault run`" + ` to use an account:

  call NAME me            the logged-in user (user_id, is_bot)
  call NAME peer QUERY    a peer by "me", marked id or username (from the
                          account's peer cache, else resolved on the server)
  call NAME METHOD [JSON] any Telegram method, its parameters a JSON object
                          (from the argument, or stdin for "-"; none for {}),
                          and the result printed as JSON

Methods and objects are in TL JSON: "_" names a constructor, field names
are the schema's, long (int64) values are strings in results (strings or
numbers in parameters), bytes are base64, and an optional field is sent
when present. For example:

  tgvault call alice users.getUsers '{"id":[{"_":"inputUserSelf"}]}'
  tgvault call alice contacts.resolveUsername '{"username":"durov"}'
  echo '{"offset_peer":{"_":"inputPeerEmpty"},"limit":20}' | tgvault call alice messages.getDialogs -

Methods that could export, replace or end the account's login (every
auth.* method, account.resetAuthorization, bots.exportBotToken, wrappers
such as invokeWithLayer, ...) are refused; README.md lists them. Exit
codes: 1 for a bad or refused call or a Telegram error, 4 for an unknown
account; with --json the error's kind says which (bad_call, refused,
rpc_error with rpc_code and rpc_type, flood_wait with retry_after,
unauthorized, key_lost, proxy_auth, timeout, ...).

The local API refuses the methods that could export, replace or end an
account's login or change how it logs in (README.md lists them): --allow
METHOD lifts one refusal (not of a wrapper around another query, nor of an
MTProto service function), --deny METHOD adds one; both repeat.

The socket is --socket, else TGVAULT_SOCKET, else run's default.`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 2 && args[1] == "me":
			case len(args) == 3 && args[1] == "peer":
			case (len(args) == 2 || len(args) == 3) && args[1] != "me" && args[1] != "peer":
				if !tljson.IsMethod(args[1]) {
					return usagef("%q is not a Telegram method (usage: call NAME me | call NAME peer QUERY | call NAME METHOD [JSON|-])", args[1])
				}
			default:
				return usagef("usage: call NAME me | call NAME peer QUERY | call NAME METHOD [JSON|-]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var body []byte
			if args[1] != "me" && args[1] != "peer" {
				var params []byte
				if len(args) == 3 {
					params = []byte(args[2])
					if args[2] == "-" {
						var err error
						params, err = io.ReadAll(io.LimitReader(a.stdin, tljson.MaxInvokeBody+1))
						if err != nil {
							return fmt.Errorf("reading the parameters: %w", err)
						}
					}
				}
				var err error
				if body, err = callBody(args[1], params); err != nil {
					return err
				}
			}
			sock, err := a.socketPath(socket)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			base := "/v1/accounts/" + url.PathEscape(args[0])
			if body != nil {
				var out json.RawMessage
				if err := apiDo(ctx, sock, http.MethodPost, base+"/invoke", body, &out); err != nil {
					return err
				}
				return a.printJSON(out)
			}
			var out map[string]any
			if args[1] == "me" {
				err = apiGet(ctx, sock, base+"/me", &out)
			} else {
				err = apiGet(ctx, sock, base+"/peers/"+url.PathEscape(args[2]), &out)
			}
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(out)
			}
			for _, k := range []string{"user_id", "is_bot", "id", "type", "access_hash", "username"} {
				if v, ok := out[k]; ok {
					if f, isNum := v.(float64); isNum {
						v = strconv.FormatFloat(f, 'f', -1, 64)
					}
					a.printf("%-12s %v\n", k, v)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "the local API socket `PATH`")
	return cmd
}

// poolStatus asks a running `tgvault run` for its accounts.
func (a *app) poolStatus(socket string) ([]localapi.Account, error) {
	sock, err := a.socketPath(socket)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []localapi.Account
	if err := apiGet(ctx, sock, "/v1/accounts", &out); err != nil {
		return nil, err
	}
	return out, nil
}
