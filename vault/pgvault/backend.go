package pgvault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// ErrFenced is returned for a write the database refused because the lock
// or lease it was made under has moved on (expired, or taken by another
// process). Nothing was written.
var ErrFenced = errors.New("pgvault: refused: the lock or lease moved on")

// ErrNotPostgres is returned by Open for a location that is not a
// postgres:// or postgresql:// URL.
var ErrNotPostgres = errors.New("pgvault: not a PostgreSQL URL")

// Timing of the vault write lock.
const (
	// lockTTL is how long a taken write lock lives without renewal; a
	// holder that died frees it after this.
	lockTTL = 30 * time.Second
	// lockWait is how long Lock waits for a busy lock before it gives a
	// *vault.BusyError: writers of a shared database are many.
	lockWait = 10 * time.Second
	// opTimeout bounds one statement.
	opTimeout = 30 * time.Second
)

const schema = `
CREATE TABLE IF NOT EXISTS tgvault_blobs (
	name    text PRIMARY KEY,
	data    bytea NOT NULL,
	updated timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS tgvault_locks (
	name    text PRIMARY KEY,
	holder  jsonb,
	fence   bigint NOT NULL DEFAULT 0,
	expires timestamptz NOT NULL DEFAULT '-infinity'
);
CREATE TABLE IF NOT EXISTS tgvault_leases (
	account text PRIMARY KEY,
	owner   text,
	fence   bigint NOT NULL DEFAULT 0,
	expires timestamptz NOT NULL DEFAULT '-infinity'
);
ALTER TABLE tgvault_leases ADD COLUMN IF NOT EXISTS holder jsonb;
-- quiet_until: no worker may connect the account before it (a takeover
-- waits for the old owner's connections to be closed by the server); a
-- release keeps it.
ALTER TABLE tgvault_leases ADD COLUMN IF NOT EXISTS quiet_until timestamptz NOT NULL DEFAULT '-infinity';
-- takeover: the holder's takeover wait in seconds (Fleet.TakeoverWait of
-- its lease period): once its lease expires, nobody connects the account
-- before expires + takeover. NULL for a command's lock, and for a lease of
-- a worker older than the column (then the longest wait any period has).
ALTER TABLE tgvault_leases ADD COLUMN IF NOT EXISTS takeover float8;
CREATE INDEX IF NOT EXISTS tgvault_leases_owner ON tgvault_leases (owner);
CREATE TABLE IF NOT EXISTS tgvault_workers (
	name  text PRIMARY KEY,
	host  text NOT NULL,
	pid   integer NOT NULL,
	seen  timestamptz NOT NULL
);
INSERT INTO tgvault_locks (name) VALUES ('lock'), ('run.lock') ON CONFLICT DO NOTHING;
`

// IsURL reports whether loc names a PostgreSQL database.
func IsURL(loc string) bool {
	return strings.HasPrefix(loc, "postgres://") || strings.HasPrefix(loc, "postgresql://")
}

// Backend is a vault.Backend in a PostgreSQL database. Open makes one;
// Close releases its connections. It is safe for concurrent use.
type Backend struct {
	db *pgxpool.Pool
	// ctl is a pool of its own (two connections) for the statements that
	// keep ownership alive: lease renewals and the write lock's renewals.
	// Image writes and claims queue on db; a renewal never waits for a
	// connection behind them.
	ctl      *pgxpool.Pool
	loc      string        // redacted
	lockWait time.Duration // Lock's patience (lockWait; tests shorten it)
	onQuiet  func(wait time.Duration)

	mu    sync.Mutex
	held  map[string]*heldLock // the locks this process holds, by name
	ready bool                 // the schema exists
}

type heldLock struct {
	fence    int64
	stop     chan struct{} // ends the renewal
	stopOnce sync.Once
	done     chan struct{}
}

func (h *heldLock) end() {
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.done
}

var _ vault.Backend = (*Backend)(nil)

// Open connects to the database at loc (a postgres:// URL; pgx's
// parameters apply). It does not create the schema: Prepare (vault.Init)
// or the first use does.
func Open(ctx context.Context, loc string) (*Backend, error) {
	if !IsURL(loc) {
		return nil, ErrNotPostgres
	}
	cfg, err := pgxpool.ParseConfig(loc)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, fmt.Errorf("pgvault: the database URL %s is not valid", Redact(loc))
	}
	return open(ctx, cfg, Redact(loc))
}

// OpenConfig is Open with a parsed configuration (tests, proxies).
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*Backend, error) {
	return open(ctx, cfg, "postgres://"+cfg.ConnConfig.Host+"/"+cfg.ConnConfig.Database)
}

func open(ctx context.Context, cfg *pgxpool.Config, loc string) (*Backend, error) {
	if cfg.MaxConns < 4 {
		cfg.MaxConns = 4
	}
	ctlCfg := cfg.Copy()
	ctlCfg.MaxConns, ctlCfg.MinConns = 2, 0
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgvault: connect to %s: %w", loc, err)
	}
	ctl, err := pgxpool.NewWithConfig(ctx, ctlCfg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("pgvault: connect to %s: %w", loc, err)
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := db.Ping(cctx); err != nil {
		db.Close()
		ctl.Close()
		return nil, fmt.Errorf("pgvault: connect to %s: %w", loc, safeErr(err))
	}
	return &Backend{db: db, ctl: ctl, loc: loc, lockWait: lockWait, held: map[string]*heldLock{}}, nil
}

// safeErr keeps PostgreSQL's error but drops what may quote connection
// parameters.
func safeErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return errors.New("cannot connect to the server")
	}
	return err
}

// Close ends the renewals of held locks and closes the connections.
func (b *Backend) Close() {
	b.mu.Lock()
	for _, h := range b.held {
		h.end()
	}
	b.held = map[string]*heldLock{}
	b.mu.Unlock()
	b.db.Close()
	b.ctl.Close()
}

// Pool is the connection pool (for Fleet and tests).
func (b *Backend) Pool() *pgxpool.Pool { return b.db }

// Location returns the URL without its password.
func (b *Backend) Location() string { return b.loc }

// Prepare creates the schema.
func (b *Backend) Prepare() error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return b.prepare(ctx)
}

func (b *Backend) prepare(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ready {
		return nil
	}
	if _, err := b.db.Exec(ctx, schema); err != nil {
		return fmt.Errorf("pgvault: create the schema: %w", safeErr(err))
	}
	b.ready = true
	return nil
}

// ctx is the context of one statement.
func (b *Backend) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// Read returns a blob.
func (b *Backend) Read(name string) ([]byte, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	var data []byte
	err := b.db.QueryRow(ctx, `SELECT data FROM tgvault_blobs WHERE name = $1`, name).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgvault: %s: %w", name, fs.ErrNotExist)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // no such table: an empty database
		return nil, fmt.Errorf("pgvault: %s: %w", name, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("pgvault: read %s: %w", name, safeErr(err))
	}
	return data, nil
}

// fence returns the counter of the write lock this process holds.
func (b *Backend) fence() (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.held[vault.LockWrite]
	if !ok {
		return 0, false
	}
	return h.fence, true
}

// Write replaces a blob, under the write lock this process holds: the
// database refuses it (ErrFenced) once the lock expired or moved on.
func (b *Backend) Write(name string, data []byte) error {
	f, ok := b.fence()
	if !ok {
		return fmt.Errorf("pgvault: write %s without the vault's write lock: %w", name, ErrFenced)
	}
	ctx, cancel := b.ctx()
	defer cancel()
	tag, err := b.db.Exec(ctx, `
WITH l AS (SELECT 1 FROM tgvault_locks WHERE name = 'lock' AND fence = $3 AND expires > now() FOR SHARE)
INSERT INTO tgvault_blobs (name, data) SELECT $1, $2 FROM l
ON CONFLICT (name) DO UPDATE SET data = excluded.data, updated = now()`, name, data, f)
	if err != nil {
		return fmt.Errorf("pgvault: write %s: %w", name, safeErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgvault: write %s: %w", name, ErrFenced)
	}
	return nil
}

// Remove deletes a blob, under the write lock as Write.
func (b *Backend) Remove(name string) error {
	f, ok := b.fence()
	if !ok {
		return fmt.Errorf("pgvault: remove %s without the vault's write lock: %w", name, ErrFenced)
	}
	ctx, cancel := b.ctx()
	defer cancel()
	var fenced bool
	err := b.db.QueryRow(ctx, `
WITH l AS (SELECT 1 FROM tgvault_locks WHERE name = 'lock' AND fence = $2 AND expires > now() FOR SHARE),
d AS (DELETE FROM tgvault_blobs WHERE name = $1 AND EXISTS (SELECT 1 FROM l) RETURNING 1)
SELECT NOT EXISTS (SELECT 1 FROM l)`, name, f).Scan(&fenced)
	if err != nil {
		return fmt.Errorf("pgvault: remove %s: %w", name, safeErr(err))
	}
	if fenced {
		return fmt.Errorf("pgvault: remove %s: %w", name, ErrFenced)
	}
	return nil
}

// List returns the blob names under dir.
func (b *Backend) List(dir string) ([]string, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	rows, err := b.db.Query(ctx, `SELECT name FROM tgvault_blobs WHERE starts_with(name, $1)`, dir+"/")
	if err != nil {
		return nil, fmt.Errorf("pgvault: list %s: %w", dir, safeErr(err))
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgvault: list %s: %w", dir, safeErr(err))
	}
	return names, nil
}

// Blob is an account image written under the vault's write lock.
func (b *Backend) Blob(name string) storage.Blob { return lockedBlob{b, name} }

type lockedBlob struct {
	b    *Backend
	name string
}

func (l lockedBlob) Name() string                  { return l.name }
func (l lockedBlob) ReadBlob() ([]byte, error)     { return l.b.Read(l.name) }
func (l lockedBlob) WriteBlob(sealed []byte) error { return l.b.Write(l.name, sealed) }

// Lock takes lock for h, waiting up to lockWait for a holder to finish;
// then it gives a *vault.BusyError naming the holder. The lock expires
// lockTTL after its last renewal, which runs in the background while it is
// held, so that a holder that died frees it.
func (b *Backend) Lock(lock string, h vault.LockHolder) (func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.lockWait+opTimeout)
	defer cancel()
	if err := b.prepare(ctx); err != nil {
		return nil, err
	}
	rec, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(b.lockWait)
	if lock == vault.LockRun {
		deadline = time.Now() // a second pool is refused at once
	}
	wait := 10 * time.Millisecond
	for {
		b.mu.Lock()
		_, mine := b.held[lock]
		b.mu.Unlock()
		if !mine {
			var fence int64
			err := b.db.QueryRow(ctx, `
UPDATE tgvault_locks SET holder = $2, fence = fence + 1, expires = now() + $3::interval
WHERE name = $1 AND (holder IS NULL OR expires <= now()) RETURNING fence`, lock, rec, lockTTL.String()).Scan(&fence)
			switch {
			case err == nil:
				return b.hold(lock, fence), nil
			case !errors.Is(err, pgx.ErrNoRows):
				return nil, fmt.Errorf("pgvault: lock: %w", safeErr(err))
			}
		}
		if !time.Now().Before(deadline) {
			holder, _ := b.Probe(lock)
			return nil, &vault.BusyError{Holder: holder}
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// hold records a taken lock and renews it until released.
func (b *Backend) hold(lock string, fence int64) func() error {
	h := &heldLock{fence: fence, stop: make(chan struct{}), done: make(chan struct{})}
	b.mu.Lock()
	b.held[lock] = h
	b.mu.Unlock()
	go func() {
		defer close(h.done)
		t := time.NewTicker(lockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				ctx, cancel := b.ctx()
				_, _ = b.ctl.Exec(ctx, `UPDATE tgvault_locks SET expires = now() + $3::interval WHERE name = $1 AND fence = $2 AND expires > now()`,
					lock, fence, lockTTL.String())
				cancel()
			}
		}
	}()
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			b.mu.Lock()
			if b.held[lock] == h {
				delete(b.held, lock)
			}
			b.mu.Unlock()
			h.end()
			ctx, cancel := b.ctx()
			defer cancel()
			_, err = b.db.Exec(ctx, `UPDATE tgvault_locks SET holder = NULL, expires = '-infinity' WHERE name = $1 AND fence = $2`, lock, fence)
			if err != nil {
				err = fmt.Errorf("pgvault: unlock: %w", safeErr(err))
			}
		})
		return err
	}
}

// Probe reports the holder of an unexpired lock. The run lock is also
// held while any worker holds a live lease: export and rekey then know
// that the sessions are in use.
func (b *Backend) Probe(lock string) (vault.LockHolder, bool) {
	ctx, cancel := b.ctx()
	defer cancel()
	if lock == vault.LockRun {
		var h vault.LockHolder
		var worker string
		err := b.db.QueryRow(ctx, `
SELECT w.pid, w.host, w.name, w.seen FROM tgvault_leases l JOIN tgvault_workers w ON w.name = l.owner
WHERE l.expires > now() LIMIT 1`).Scan(&h.PID, &h.Host, &worker, &h.Since)
		switch {
		case err == nil:
			h.Command = "tgvault run --worker " + worker
			return h, true
		case !errors.Is(err, pgx.ErrNoRows):
			// Fail closed: an unreadable lease table may hide a worker.
			return vault.LockHolder{Command: "unknown: the lease table is unreadable (" + safeErr(err).Error() + ")"}, true
		}
	}
	var rec []byte
	err := b.db.QueryRow(ctx, `SELECT holder FROM tgvault_locks WHERE name = $1 AND holder IS NOT NULL AND expires > now()`, lock).Scan(&rec)
	if err != nil {
		return vault.LockHolder{}, false
	}
	var h vault.LockHolder
	_ = json.Unmarshal(rec, &h)
	return h, true
}
