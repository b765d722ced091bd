package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/relay"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

// daemon is one Serve: the vault, its writer, the stores and the pool.
type daemon struct {
	cfg   Config
	v     *vault.Vault
	log   *slog.Logger
	w     *vaultWriter
	set   *storeSet
	pool  *mtproto.Pool
	reach *reachLog
	// relay is the MTProto relay over the pool (relay.go); nil when off.
	relay *relay.Relay
	// fleet is the fleet this process is a worker of (Config.Worker),
	// nil for a directory vault.
	fleet *pgvault.Fleet
	// fw is the fleet worker, set before any account of a worker runs.
	fw *fleetWorker
	// connects counts the accounts that became ready, for settleMemory.
	connects atomic.Int64
}

func newDaemon(cfg Config) *daemon {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := cfg.Vault
	return &daemon{cfg: cfg, v: v, log: log, w: &vaultWriter{v: v}, set: newStoreSet(), reach: newReachLog()}
}

// serve serves the accounts active, which claim holds (or, for a fleet
// worker, the accounts its leases give it), until ctx ends.
//
// Long: it is run's life in order (the pool, the accounts, the relay, the
// socket, the fleet worker, the loop, then the stop in the reverse order),
// and each step's undo is deferred beside it; split, the order would be
// spread over functions that each hold half of it.
func (d *daemon) serve(ctx context.Context, active []vault.Account, claim *vault.Claim) error {
	if al := d.cfg.Methods.Allowed(); len(al) > 0 {
		d.warnf("the local API and the MTProto relay allow %s (--allow), which they refuse by default: a script, a relayed one too, can change or end the accounts' logins with them", strings.Join(al, ", "))
	}
	defer func() {
		for _, s := range d.set.all() {
			_ = s.shut()
		}
	}()
	// The socket is listened on only once every account is in the pool
	// (below), but a socket that listen would refuse (another run serves
	// there) stops run now, before any account connects to its server.
	if err := localapi.CheckSocket(d.cfg.Socket); err != nil {
		return err
	}
	d.pool = mtproto.NewPool(mtproto.PoolOptions{Methods: d.cfg.Methods, OnStatus: d.onStatus})
	relayKey := d.relayKey()
	// The pool runs before the accounts are added: each one starts
	// connecting as soon as it is open, while the rest are still being
	// decrypted (addAccounts).
	poolCtx, stopPool := context.WithCancel(context.Background())
	poolDone := make(chan struct{})
	go func() {
		defer close(poolDone)
		_ = d.pool.Run(poolCtx)
	}()
	// Whatever returns early, the pool stops before the stores close (the
	// deferred shut above runs after this).
	defer func() {
		stopPool()
		<-poolDone
	}()
	if err := d.addAccounts(active, claim); err != nil {
		return err
	}
	if err := d.startRelay(relayKey); err != nil {
		return err
	}
	defer d.stopRelay()
	// The socket listens once every account is in the pool (connecting or
	// ready): a call for any of them then waits for it to be ready, never
	// answers that run does not serve it.
	ln, err := localapi.ListenUnix(d.cfg.Socket)
	if err != nil {
		return err
	}
	hs, served := d.serveAPI(ln)
	fleetCtx, stopFleet := context.WithCancel(context.Background())
	defer stopFleet()
	fleetDone := make(chan struct{})
	if fleet := d.fleet; fleet != nil {
		d.fw = newFleetWorker(d.log, d.v, fleet, d.pool, d.w, d.set, func(f *storage.File) (mtproto.Options, error) { return clientOptions(f, d.cfg.Defaults) })
		go func() {
			defer close(fleetDone)
			d.fw.run(fleetCtx)
		}()
	} else {
		close(fleetDone)
	}
	if d.cfg.Serving != nil {
		s := Serving{Socket: d.cfg.Socket, Accounts: len(d.pool.Names())}
		if f := d.fleet; f != nil {
			s.Worker, s.Lease = f.Worker(), f.Period()
		}
		d.cfg.Serving(s)
	}

	serveErr, periodic := d.loop(ctx, served)

	// Stop accepting, let the calls in flight finish (they need the pool),
	// then stop the pool and save every account.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
	}
	stopFleet()
	<-fleetDone
	d.stopRelay() // its upstream connections on the accounts' keys end before the pool's
	stopPool()
	<-poolDone
	if periodic != nil {
		<-periodic
	}
	var errs []error
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("local API: %w", serveErr))
	}
	return d.stop(errs)
}

// onStatus is the pool's word on an account's state: it notes servers
// that stop and start answering, and records a final state (revoked, key
// lost, mismatch) in the vault, which keeps the next run off the account.
func (d *daemon) onStatus(name string, s mtproto.Status, err error) {
	if s == mtproto.StatusReady {
		d.connects.Add(1)
	}
	d.reach.note(d, name, s, err)
	if s == mtproto.StatusDuplicateWait && d.fw != nil {
		// A fleet's takeover: the old owner's connection may live until
		// the server's dead-man switch closes it.
		d.logAccount(slog.LevelWarn, name, "account %s: %v; trying again in %v (marked revoked only if it persists)", name, err, d.fw.dm.Delay+pgvault.TransitSlack)
		return
	}
	if s == mtproto.StatusProxyAuth {
		// The account is fine; its proxy URL is not. Not marked in the
		// vault: the next run tries again.
		d.logAccount(slog.LevelWarn, name, "account %s: %v; not retried until run restarts (fix the proxy URL: `tgvault proxy %s -` with the URL on stdin, or TGVAULT_PROXY_FILE)", name, err, name)
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
	d.logAccount(slog.LevelWarn, name, "account %s: %s; marked %s in the vault", name, reason, st)
	if err := markAccount(d.v, d.w, d.set, name, st, reason); err != nil {
		d.logAccount(slog.LevelWarn, name, "account %s: marking it %s: %v", name, st, err)
	}
	if d.fw != nil {
		d.fw.finalAccount(name) // its lease no longer counts in the shares
	}
}

// addAccounts opens the accounts active and adds each to the running pool
// as soon as it is open, so that it connects while the others are still
// decrypted; one that does not open is released from claim and left out
// with a warning.
func (d *daemon) addAccounts(active []vault.Account, claim *vault.Claim) error {
	d.checkOpenFiles(len(active))
	// One unlock and one index read for all of them (OpenAccount per
	// account would read the whole index each time).
	return d.v.OpenAccountsEach(active, nil, func(i int, f *storage.File, err error) {
		name := active[i].Name
		if err != nil {
			d.logAccount(slog.LevelWarn, name, "account %s: %v; not connected", name, err)
			_ = claim.Release(active[i].ID)
			return
		}
		s := newLazyStore(f, func() (*storage.File, error) { return d.v.OpenAccount(name) }, d.w)
		d.set.add(name, s)
		opts, err := clientOptions(f, d.cfg.Defaults)
		if err == nil {
			err = d.pool.AddClient(name, s, opts)
		}
		if err != nil {
			d.logAccount(slog.LevelWarn, name, "account %s: %v; not connected", name, err)
		}
	})
}

// serveAPI serves the local API on ln; served gets Serve's error.
func (d *daemon) serveAPI(ln net.Listener) (hs *http.Server, served <-chan error) {
	hs = &http.Server{Handler: localapi.NewHandler(d.pool, localapi.Options{Relay: d.relay}), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	// Update streams never finish on their own: end them when Shutdown
	// starts, so that it waits only for the calls in flight.
	hs.RegisterOnShutdown(d.pool.CloseStreams)
	ch := make(chan error, 1)
	go func() { ch <- hs.Serve(ln) }()
	return hs, ch
}

// loop runs the periodic work until ctx ends or the local API fails
// (serveErr); periodic, when not nil, is closed when the round still
// running ends.
//
// The periodic work runs beside the loop, one round at a time: a flush of
// thousands of accounts (the first run after an import) takes seconds,
// and a signal meanwhile must stop the pool at once, which gives the
// flush the cores the connects were using.
func (d *daemon) loop(ctx context.Context, served <-chan error) (serveErr error, periodic chan struct{}) {
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	var settled int64 // connects at the last settleMemory
	for {
		select {
		case <-ctx.Done():
			return nil, periodic
		case err := <-served:
			return err, periodic
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
				settled = d.round(settled)
			}()
		}
	}
}

// round is one periodic round: save the changed peer caches, close the
// stores unused for idleClose, and settle the memory when accounts
// connected since the last time (settled: the connects then) and the pool
// is quiet. It returns the connects at the last settleMemory.
func (d *daemon) round(settled int64) int64 {
	if failed := flushAll(d.set.all()); len(failed) > 0 {
		// One line, not one per account: a worker woken past its leases
		// has them all refused at once.
		var first error
		for _, err := range failed {
			first = err
			break
		}
		d.warnf("saving the peers of %d accounts failed: %v", len(failed), first)
	}
	for _, s := range d.set.all() {
		if _, err := s.closeIdle(idleClose); err != nil {
			d.warnf("closing an idle account: %v", err)
		}
	}
	if c := d.connects.Load(); c > settled && d.pool.Connecting() == 0 {
		settled = c
		settleMemory(d.cfg.LowerGC)
	}
	return settled
}

// stop saves and closes every store, gives a worker's leases back, and
// returns errs with what failed; on success it reports the save
// (Config.Stopped).
func (d *daemon) stop(errs []error) error {
	stores := d.set.all()
	changed := 0
	for _, s := range stores {
		if s.dirty.Load() {
			changed++
		}
	}
	saveStart := time.Now()
	errs = append(errs, saveAndClose(stores)...)
	saveTook := time.Since(saveStart)
	d.set = newStoreSet()
	if d.fw != nil {
		if err := d.fw.leave(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if d.cfg.Stopped != nil {
		d.cfg.Stopped(Stopped{Changed: changed, Took: saveTook})
	}
	return nil
}
