package pgvault

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// Lease is one account held by a worker: the account id, the fencing
// counter of the claim, and the database's expiry.
type Lease struct {
	Account string
	Fence   int64
	Expires time.Time
	// Wait, in a lease Claim returned, is how long the worker must wait
	// before it connects the account: the lease expired in a worker's
	// hands lately (this claim's or an earlier one's, given back since),
	// and that worker's connections may stay open until the server's
	// dead-man switch closes them (see TakeoverWait). Zero otherwise.
	Wait time.Duration
}

// Fleet is one worker's view of the leases. Make it with NewFleet; a
// worker calls Join, then Claim and Renew on a timer (Renew at least every
// third of the period), and Leave at the end.
//
// Exactly one owner: a claim takes only a free or expired lease and bumps
// its counter; a lease's Blob writes only while the lease is the worker's,
// under that counter, unexpired. A worker must stop using its sessions by
// Deadline (counted from when it sent its last successful renewal, so
// before the database's expiry whatever the clocks say); then no other
// worker can claim them before it stopped.
type Fleet struct {
	b      *Backend
	worker string
	period time.Duration
	host   string
}

// NewFleet makes worker's view; period is the lease period (how long a
// lease lives after a claim or renewal), which CheckPeriod must accept.
func NewFleet(b *Backend, worker string, period time.Duration) (*Fleet, error) {
	if worker == "" || len(worker) > 128 {
		return nil, errors.New("pgvault: a worker needs a name of 1 to 128 bytes")
	}
	if err := CheckPeriod(period); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &Fleet{b: b, worker: worker, period: period, host: host}, nil
}

// Worker returns the worker's name.
func (f *Fleet) Worker() string { return f.worker }

// Period returns the lease period.
func (f *Fleet) Period() time.Duration { return f.period }

func (f *Fleet) interval() string { return f.period.String() }

// ErrWorkerInUse is returned by Join while another process under the same
// worker name was alive within the last lease period.
var ErrWorkerInUse = errors.New("pgvault: another process runs as this worker")

// Join records the worker as alive (every Renew does too). It refuses
// with ErrWorkerInUse while another process (another host or pid) under
// the same name was seen within a period: two processes sharing a name
// would share its leases. A worker restarted at once after a crash waits
// out its predecessor's last period.
func (f *Fleet) Join(ctx context.Context) error {
	if err := f.b.prepare(ctx); err != nil {
		return err
	}
	tag, err := f.b.db.Exec(ctx, `
INSERT INTO tgvault_workers AS w (name, host, pid, seen) VALUES ($1, $2, $3, now())
ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, seen = now()
WHERE w.seen <= now() - $4::interval OR (w.host = excluded.host AND w.pid = excluded.pid)`, f.worker, f.host, os.Getpid(), f.interval())
	if err != nil {
		return fmt.Errorf("pgvault: join: %w", safeErr(err))
	}
	if tag.RowsAffected() == 0 {
		return ErrWorkerInUse
	}
	return nil
}

// Leave gives back the leases held (the worker must have stopped their
// sessions first) and forgets the worker, if the record is still this
// process's: a worker that was partitioned away and replaced under its
// name must not free its successor's leases.
func (f *Fleet) Leave(ctx context.Context, held []Lease) error {
	if err := f.Release(ctx, held); err != nil {
		return err
	}
	_, err := f.b.db.Exec(ctx, `DELETE FROM tgvault_workers WHERE name = $1 AND host = $2 AND pid = $3`, f.worker, f.host, os.Getpid())
	if err != nil {
		return fmt.Errorf("pgvault: leave: %w", safeErr(err))
	}
	return nil
}

// Sync makes the lease table match the accounts (ids) the fleet serves:
// a row for each new one, none for one no longer there once nobody holds
// it (a held row stays until its lease ends: deleted and inserted again
// meanwhile, it could be claimed while its holder is still connected).
func (f *Fleet) Sync(ctx context.Context, ids []string) error {
	_, err := f.b.db.Exec(ctx, `
WITH want AS (SELECT unnest($1::text[]) AS account),
ins AS (INSERT INTO tgvault_leases (account) SELECT account FROM want ON CONFLICT DO NOTHING)
DELETE FROM tgvault_leases WHERE account <> ALL ($1::text[]) AND (owner IS NULL OR expires <= now())`, ids)
	if err != nil {
		return fmt.Errorf("pgvault: sync leases: %w", safeErr(err))
	}
	return nil
}

// Share is how many leases this worker should hold: the accounts divided
// by the live workers (seen within a period), rounded up.
func (f *Fleet) Share(ctx context.Context) (share, held int, err error) {
	var accounts, workers int
	err = f.b.db.QueryRow(ctx, `
SELECT (SELECT count(*) FROM tgvault_leases),
       (SELECT count(*) FROM tgvault_workers WHERE seen > now() - $2::interval OR name = $1),
       (SELECT count(*) FROM tgvault_leases WHERE owner = $1 AND expires > now())`, f.worker, f.interval()).Scan(&accounts, &workers, &held)
	if err != nil {
		return 0, 0, fmt.Errorf("pgvault: share: %w", safeErr(err))
	}
	if workers == 0 {
		workers = 1
	}
	return (accounts + workers - 1) / workers, held, nil
}

// Claim takes up to max free or expired leases, skipping rows another
// worker is claiming at the same moment (FOR UPDATE SKIP LOCKED), and
// returns them with their new counters and the wait before each may be
// connected (Lease.Wait). sent is when the statement left: the leases'
// Deadline.
//
// A lease that expired in its holder's hands gets a quiet time: the
// expiry plus the holder's takeover wait (its TakeoverWait, recorded on
// the row by its claim: workers may run with different periods), by the
// database's clock, before which nobody may connect the account. The row
// keeps it through releases: a worker that takes over a lease and gives
// it back before the wait is over passes the wait on.
func (f *Fleet) Claim(ctx context.Context, max int) (leases []Lease, sent time.Time, err error) {
	if max <= 0 {
		return nil, time.Now(), nil
	}
	sent = time.Now()
	rows, err := f.b.db.Query(ctx, `
WITH c AS (
	SELECT account, owner AS prev, expires AS prev_expires, takeover AS prev_takeover FROM tgvault_leases
	WHERE owner IS NULL OR expires <= now()
	ORDER BY random()
	LIMIT $2
	FOR UPDATE SKIP LOCKED)
UPDATE tgvault_leases l SET owner = $1, fence = l.fence + 1, expires = now() + $3::interval, takeover = $4,
	quiet_until = CASE WHEN c.prev IS NULL THEN l.quiet_until
		ELSE greatest(l.quiet_until, c.prev_expires + coalesce(c.prev_takeover, $4::float8) * interval '1 second') END
FROM c WHERE l.account = c.account
RETURNING l.account, l.fence, l.expires,
	CASE WHEN l.quiet_until > now() THEN extract(epoch FROM l.quiet_until - now())::float8 ELSE 0 END`,
		f.worker, max, f.interval(), f.TakeoverWait(0).Seconds())
	if err != nil {
		return nil, sent, fmt.Errorf("pgvault: claim: %w", safeErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var l Lease
		var wait float64
		if err := rows.Scan(&l.Account, &l.Fence, &l.Expires, &wait); err != nil {
			return nil, sent, fmt.Errorf("pgvault: claim: %w", safeErr(err))
		}
		// Counted from when the answer arrived, after the statement ran:
		// the account connects no earlier than the quiet time.
		l.Wait = time.Duration(math.Ceil(wait*1e3)) * time.Millisecond
		leases = append(leases, l)
	}
	if err := rows.Err(); err != nil {
		return nil, sent, fmt.Errorf("pgvault: claim: %w", safeErr(err))
	}
	return leases, sent, nil
}

// ErrReplaced is returned by Renew when the worker's record is no longer
// this process's: another process joined under the name after this one
// was silent for a period. Every session must stop at once.
var ErrReplaced = errors.New("pgvault: another process took over this worker's name")

// Renew extends, by a period, the leases held (each still this worker's
// under its counter and unexpired) and marks the worker alive. It returns
// the leases still held: one missing from it was lost and must be stopped
// at once. A lease the worker claimed and did not keep is not renewed and
// expires on its own. sent is when the statement left: Deadline(sent) is
// the worker's deadline for what it holds.
func (f *Fleet) Renew(ctx context.Context, held []Lease) (still []Lease, sent time.Time, err error) {
	ids, fences := leaseArrays(held)
	sent = time.Now()
	var alive bool
	rows, err := f.b.ctl.Query(ctx, `
WITH w AS (UPDATE tgvault_workers SET seen = now() WHERE name = $1 AND host = $3 AND pid = $4 RETURNING 1),
r AS (
	UPDATE tgvault_leases l SET expires = now() + $2::interval
	FROM unnest($5::text[], $6::bigint[]) AS h(account, fence)
	WHERE l.account = h.account AND l.fence = h.fence AND l.owner = $1 AND l.expires > now()
	  AND EXISTS (SELECT 1 FROM w)
	RETURNING l.account, l.fence, l.expires)
SELECT EXISTS (SELECT 1 FROM w), r.account, r.fence, r.expires FROM (SELECT 1) one LEFT JOIN r ON true`,
		f.worker, f.interval(), f.host, os.Getpid(), ids, fences)
	if err != nil {
		return nil, sent, fmt.Errorf("pgvault: renew: %w", safeErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var acct *string
		var fence *int64
		var exp *time.Time
		if err := rows.Scan(&alive, &acct, &fence, &exp); err != nil {
			return nil, sent, fmt.Errorf("pgvault: renew: %w", safeErr(err))
		}
		if acct != nil {
			still = append(still, Lease{Account: *acct, Fence: *fence, Expires: *exp})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, sent, fmt.Errorf("pgvault: renew: %w", safeErr(err))
	}
	if !alive {
		return nil, sent, ErrReplaced
	}
	return still, sent, nil
}

func leaseArrays(ls []Lease) ([]string, []int64) {
	ids, fences := make([]string, len(ls)), make([]int64, len(ls))
	for i, l := range ls {
		ids[i], fences[i] = l.Account, l.Fence
	}
	return ids, fences
}

// Deadline is when a worker must have stopped the sessions of leases
// claimed or renewed by a statement sent at sent: a period later, less a
// margin for stopping them (a quarter of the period). The database's
// expiry is a period after it ran the statement, which is after sent.
func (f *Fleet) Deadline(sent time.Time) time.Time {
	return sent.Add(f.period - f.Margin())
}

// Margin is the time a worker keeps for stopping its sessions before the
// leases expire.
func (f *Fleet) Margin() time.Duration { return f.period / 4 }

// Retire deletes the rows of leases the worker holds whose accounts are no
// longer to be served (marked revoked or key-lost, or removed): their
// sessions must have stopped. Shares count the rows, so a retired account
// no longer counts; Sync inserts rows for active accounts only.
func (f *Fleet) Retire(ctx context.Context, leases []Lease) error {
	if len(leases) == 0 {
		return nil
	}
	ids, fences := leaseArrays(leases)
	_, err := f.b.db.Exec(ctx, `
DELETE FROM tgvault_leases l USING unnest($2::text[], $3::bigint[]) AS h(account, fence)
WHERE l.account = h.account AND l.fence = h.fence AND l.owner = $1`, f.worker, ids, fences)
	if err != nil {
		return fmt.Errorf("pgvault: retire: %w", safeErr(err))
	}
	return nil
}

// Release frees the worker's leases (whose sessions it has stopped), each
// only under the counter it was claimed with, so that another worker can
// claim them at once and connect them TransitSlack later (the time for the
// closes to reach the server), or at the end of a takeover's quiet time.
func (f *Fleet) Release(ctx context.Context, leases []Lease) error {
	if len(leases) == 0 {
		return nil
	}
	ids, fences := leaseArrays(leases)
	// A quiet time of TransitSlack: the worker closed the sessions, and
	// the server learns it when the close reaches it.
	_, err := f.b.db.Exec(ctx, `
UPDATE tgvault_leases l SET owner = NULL, expires = '-infinity',
	quiet_until = greatest(l.quiet_until, now() + $4::float8 * interval '1 second')
FROM unnest($2::text[], $3::bigint[]) AS h(account, fence)
WHERE l.account = h.account AND l.fence = h.fence AND l.owner = $1`, f.worker, ids, fences, TransitSlack.Seconds())
	if err != nil {
		return fmt.Errorf("pgvault: release: %w", safeErr(err))
	}
	return nil
}

// Blob is the image of a leased account: it reads the vault's blob, and
// writes it only while l is still this worker's lease under l.Fence and
// unexpired; otherwise the database refuses the write (ErrFenced).
func (f *Fleet) Blob(name string, l Lease) storage.Blob {
	return leasedBlob{f: f, name: name, lease: l}
}

type leasedBlob struct {
	f     *Fleet
	name  string
	lease Lease
}

func (l leasedBlob) Name() string              { return l.name }
func (l leasedBlob) ReadBlob() ([]byte, error) { return l.f.b.Read(l.name) }

func (l leasedBlob) WriteBlob(sealed []byte) error {
	ctx, cancel := l.f.b.ctx()
	defer cancel()
	tag, err := l.f.b.db.Exec(ctx, `
WITH l AS (SELECT 1 FROM tgvault_leases WHERE account = $3 AND owner = $4 AND fence = $5 AND expires > now() FOR SHARE)
UPDATE tgvault_blobs SET data = $2, updated = now() WHERE name = $1 AND EXISTS (SELECT 1 FROM l)`,
		l.name, sealed, l.lease.Account, l.f.worker, l.lease.Fence)
	if err != nil {
		return fmt.Errorf("pgvault: write %s: %w", l.name, safeErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgvault: write %s: %w", l.name, ErrFenced)
	}
	return nil
}

// LeaseInfo is one lease as `tgvault status` shows it.
type LeaseInfo struct {
	Account string    `json:"account"`
	Owner   string    `json:"owner"` // "" when free
	Fence   int64     `json:"fence"`
	Expires time.Time `json:"expires"`
	Live    bool      `json:"live"` // held and unexpired
}

// WorkerInfo is one worker as `tgvault status` shows it.
type WorkerInfo struct {
	Name   string    `json:"name"`
	Host   string    `json:"host"`
	PID    int       `json:"pid"`
	Seen   time.Time `json:"seen"`
	Leases int       `json:"leases"` // unexpired
}

// Status lists the leases and the workers.
func Status(ctx context.Context, b *Backend) ([]LeaseInfo, []WorkerInfo, error) {
	rows, err := b.db.Query(ctx, `
SELECT account, coalesce(owner, ''), fence, CASE WHEN expires = '-infinity' THEN 'epoch'::timestamptz ELSE expires END,
       owner IS NOT NULL AND expires > now()
FROM tgvault_leases ORDER BY account`)
	if err != nil {
		return nil, nil, fmt.Errorf("pgvault: status: %w", safeErr(err))
	}
	leases, err := pgx.CollectRows(rows, pgx.RowToStructByPos[LeaseInfo])
	if err != nil {
		return nil, nil, fmt.Errorf("pgvault: status: %w", safeErr(err))
	}
	rows, err = b.db.Query(ctx, `
SELECT w.name, w.host, w.pid, w.seen,
       (SELECT count(*) FROM tgvault_leases l WHERE l.owner = w.name AND l.expires > now())::int
FROM tgvault_workers w ORDER BY w.name`)
	if err != nil {
		return nil, nil, fmt.Errorf("pgvault: status: %w", safeErr(err))
	}
	workers, err := pgx.CollectRows(rows, pgx.RowToStructByPos[WorkerInfo])
	if err != nil {
		return nil, nil, fmt.Errorf("pgvault: status: %w", safeErr(err))
	}
	return leases, workers, nil
}

// FleetReport is the fleet section of `tgvault status`.
type FleetReport struct {
	Leases  int          `json:"leases"`
	Held    int          `json:"held"`
	Workers []WorkerInfo `json:"workers"`
	// Owners maps each held lease's account id to its worker, with the
	// fencing counter and expiry (ids, not names: names are sealed).
	Owners []LeaseInfo `json:"owners"`
}

// FleetStatus reads the leases and workers of a vault in PostgreSQL
// (Status) within OpenTimeout: how many leases, how many held (live),
// and each held lease's owner. isFleet is false for a vault elsewhere (a
// directory), which has no fleet.
func FleetStatus(ctx context.Context, v *vault.Vault) (r *FleetReport, isFleet bool, err error) {
	be, ok := v.Backend().(*Backend)
	if !ok {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	leases, workers, err := Status(ctx, be)
	if err != nil {
		return nil, true, err
	}
	r = &FleetReport{Leases: len(leases), Workers: workers, Owners: []LeaseInfo{}}
	for _, l := range leases {
		if l.Live {
			r.Held++
			r.Owners = append(r.Owners, l)
		}
	}
	return r, true, nil
}
