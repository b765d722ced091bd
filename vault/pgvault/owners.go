package pgvault

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tgvault/tgvault/vault"
)

// An account's ownership lock (vault.Backend.LockAccounts) is its lease:
// a command that exports, moves, removes or renames an account claims the
// lease row under an owner of its own ("cli <host> <pid>"), with its
// holder record, so that no worker claims the account meanwhile (Claim
// takes only free or expired rows), and a worker's live lease refuses the
// command. The claim is renewed in the background while held and expires
// lockTTL after its last renewal, so a command that died frees it.
//
// A command that takes an account from a worker's lease that expired (a
// worker stopped, paused or cut off) or that a worker gave back keeps the
// fleet's rule for takeovers: the account's quiet time (docs/fleet.md,
// "The timing") must be over before the key may be used anywhere else,
// since the old holder's connections stay open until the server's
// dead-man switch closes them. LockAccounts records the quiet time on the
// row, as a worker's claim does, and returns only once it is over.

// cliOwner is this process's owner name in the lease table.
func cliOwner() string {
	host, _ := os.Hostname()
	return "cli " + host + " " + strconv.Itoa(os.Getpid())
}

// legacyTakeover is the takeover wait assumed for a lease whose holder
// recorded none (a worker older than the takeover column): the longest
// any lease period has (TestLegacyTakeoverBoundsEveryPeriod).
const legacyTakeover = maxDelay + TransitSlack

// QuietPatience bounds how long LockAccounts waits out a quiet time. By
// the timing no quiet time is longer than legacyTakeover; one beyond this
// (a database clock stepped back, a row written by hand) is refused.
const QuietPatience = 2 * time.Minute

// OnQuiet sets f to be called, before LockAccounts waits out a quiet
// time, with the wait (so that a command can say why it pauses).
func (b *Backend) OnQuiet(f func(wait time.Duration)) { b.onQuiet = f }

// ErrQuiet is returned by LockAccounts when an account's quiet time lasts
// beyond QuietPatience (see *QuietError). It matches vault.ErrBusy.
var ErrQuiet = fmt.Errorf("%w: a fleet worker's connections may still use the account", vault.ErrBusy)

// QuietError reports an account whose quiet time is too long to wait.
type QuietError struct {
	// Wait is what remained of the quiet time, by the database's clock.
	Wait time.Duration
}

func (e *QuietError) Error() string {
	return fmt.Sprintf("%v: the server closes them only after the fleet's takeover wait, %v from now (docs/fleet.md); try again then", ErrQuiet, e.Wait.Round(time.Second))
}

// Unwrap returns ErrQuiet.
func (e *QuietError) Unwrap() error { return ErrQuiet }

// LockAccounts claims the lease rows of ids (creating missing rows) for
// this process; for a row taken from a worker's expired or given-back
// lease, once the quiet time is over (see above).
func (b *Backend) LockAccounts(ids []string, h vault.LockHolder) (map[string]func() error, map[string]vault.LockHolder, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	if err := b.prepare(ctx); err != nil {
		return nil, nil, err
	}
	rec, err := json.Marshal(h)
	if err != nil {
		return nil, nil, err
	}
	owner := cliOwner()
	if _, err := b.db.Exec(ctx, `INSERT INTO tgvault_leases (account) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, ids); err != nil {
		return nil, nil, fmt.Errorf("pgvault: owner lock: %w", safeErr(err))
	}
	// The quiet time of a lease that expired in a worker's hands is its
	// expiry plus the worker's takeover wait, as Fleet.Claim records it;
	// a given-back lease has its quiet time on the row already; a
	// command's lease (owner "cli ...") had no connections to wait for.
	rows, err := b.db.Query(ctx, `
WITH c AS (
	SELECT account, owner AS prev, expires AS prev_expires, takeover AS prev_takeover FROM tgvault_leases
	WHERE account = ANY ($1::text[]) AND (owner IS NULL OR expires <= now())
	FOR UPDATE)
UPDATE tgvault_leases l SET owner = $2, holder = $3, fence = l.fence + 1, expires = now() + $4::interval, takeover = NULL,
	quiet_until = CASE WHEN c.prev IS NULL OR c.prev LIKE 'cli %' THEN l.quiet_until
		ELSE greatest(l.quiet_until, c.prev_expires + coalesce(c.prev_takeover, $5::float8) * interval '1 second') END
FROM c WHERE l.account = c.account
RETURNING l.account, l.fence,
	CASE WHEN l.quiet_until > now() THEN extract(epoch FROM l.quiet_until - now())::float8 ELSE 0 END`,
		ids, owner, rec, lockTTL.String(), legacyTakeover.Seconds())
	if err != nil {
		return nil, nil, fmt.Errorf("pgvault: owner lock: %w", safeErr(err))
	}
	type got struct {
		Account string
		Fence   int64
		Quiet   float64
	}
	taken, err := pgx.CollectRows(rows, pgx.RowToStructByPos[got])
	if err != nil {
		return nil, nil, fmt.Errorf("pgvault: owner lock: %w", safeErr(err))
	}
	out := make(map[string]func() error, len(taken))
	var quiet time.Duration
	for _, g := range taken {
		out[g.Account] = b.holdLease(g.Account, owner, g.Fence)
		quiet = max(quiet, time.Duration(math.Ceil(g.Quiet*1e3))*time.Millisecond)
	}
	releaseAll := func() {
		for _, rel := range out {
			_ = rel()
		}
	}
	if quiet > QuietPatience {
		// The quiet time stays on the rows: whoever takes them next waits.
		releaseAll()
		return nil, nil, &QuietError{Wait: quiet}
	}
	busy := map[string]vault.LockHolder{}
	if len(out) < len(ids) {
		holders, err := b.AccountHolders()
		if err != nil {
			releaseAll()
			return nil, nil, err
		}
		for _, id := range ids {
			if _, ok := out[id]; !ok {
				busy[id] = holders[id] // zero if it was freed meanwhile: still not ours
			}
		}
	}
	if quiet > 0 {
		// Held meanwhile (and renewed): no worker claims the accounts.
		if b.onQuiet != nil {
			b.onQuiet(quiet)
		}
		time.Sleep(quiet)
	}
	return out, busy, nil
}

// holdLease renews a command's lease until released.
func (b *Backend) holdLease(account, owner string, fence int64) func() error {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(lockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx, cancel := b.ctx()
				_, _ = b.db.Exec(ctx, `UPDATE tgvault_leases SET expires = now() + $4::interval WHERE account = $1 AND owner = $2 AND fence = $3 AND expires > now()`,
					account, owner, fence, lockTTL.String())
				cancel()
			}
		}
	}()
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			close(stop)
			<-done
			ctx, cancel := b.ctx()
			defer cancel()
			_, err = b.db.Exec(ctx, `UPDATE tgvault_leases SET owner = NULL, holder = NULL, expires = '-infinity' WHERE account = $1 AND owner = $2 AND fence = $3`, account, owner, fence)
			if err != nil {
				err = fmt.Errorf("pgvault: owner unlock: %w", safeErr(err))
			}
		})
		return err
	}
}

// AccountHolders returns the holder of every live lease: a worker (its
// pid, host and name) or a command (its holder record).
func (b *Backend) AccountHolders() (map[string]vault.LockHolder, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	if err := b.prepare(ctx); err != nil {
		return nil, err
	}
	rows, err := b.db.Query(ctx, `
SELECT l.account, l.owner, l.holder, w.pid, w.host, w.seen
FROM tgvault_leases l LEFT JOIN tgvault_workers w ON w.name = l.owner
WHERE l.owner IS NOT NULL AND l.expires > now()`)
	if err != nil {
		return nil, fmt.Errorf("pgvault: holders: %w", safeErr(err))
	}
	defer rows.Close()
	out := map[string]vault.LockHolder{}
	for rows.Next() {
		var (
			account, owner string
			rec            []byte
			pid            *int
			host           *string
			seen           *time.Time
		)
		if err := rows.Scan(&account, &owner, &rec, &pid, &host, &seen); err != nil {
			return nil, fmt.Errorf("pgvault: holders: %w", safeErr(err))
		}
		var h vault.LockHolder
		switch {
		case rec != nil && strings.HasPrefix(owner, "cli "):
			_ = json.Unmarshal(rec, &h)
		case pid != nil:
			h = vault.LockHolder{PID: *pid, Host: *host, Since: *seen, Command: "tgvault run --worker " + owner}
		default:
			h = vault.LockHolder{Command: "worker " + owner}
		}
		out[account] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgvault: holders: %w", safeErr(err))
	}
	return out, nil
}

var _ vault.Backend = (*Backend)(nil)
