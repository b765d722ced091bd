package pgvault

import (
	"encoding/json"
	"fmt"
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

// cliOwner is this process's owner name in the lease table.
func cliOwner() string {
	host, _ := os.Hostname()
	return "cli " + host + " " + strconv.Itoa(os.Getpid())
}

// LockAccounts claims the lease rows of ids (creating missing rows) for
// this process.
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
	rows, err := b.db.Query(ctx, `
WITH ins AS (INSERT INTO tgvault_leases (account) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING)
UPDATE tgvault_leases SET owner = $2, holder = $3, fence = fence + 1, expires = now() + $4::interval
WHERE account = ANY ($1::text[]) AND (owner IS NULL OR expires <= now())
RETURNING account, fence`, ids, owner, rec, lockTTL.String())
	if err != nil {
		return nil, nil, fmt.Errorf("pgvault: owner lock: %w", safeErr(err))
	}
	type got struct {
		Account string
		Fence   int64
	}
	taken, err := pgx.CollectRows(rows, pgx.RowToStructByPos[got])
	if err != nil {
		return nil, nil, fmt.Errorf("pgvault: owner lock: %w", safeErr(err))
	}
	// A row inserted by this statement is not visible to its UPDATE:
	// claim the new ones in a second statement.
	if len(taken) < len(ids) {
		have := map[string]bool{}
		for _, g := range taken {
			have[g.Account] = true
		}
		var rest []string
		for _, id := range ids {
			if !have[id] {
				rest = append(rest, id)
			}
		}
		rows, err := b.db.Query(ctx, `
UPDATE tgvault_leases SET owner = $2, holder = $3, fence = fence + 1, expires = now() + $4::interval
WHERE account = ANY ($1::text[]) AND (owner IS NULL OR expires <= now())
RETURNING account, fence`, rest, owner, rec, lockTTL.String())
		if err != nil {
			return nil, nil, fmt.Errorf("pgvault: owner lock: %w", safeErr(err))
		}
		more, err := pgx.CollectRows(rows, pgx.RowToStructByPos[got])
		if err != nil {
			return nil, nil, fmt.Errorf("pgvault: owner lock: %w", safeErr(err))
		}
		taken = append(taken, more...)
	}
	out := make(map[string]func() error, len(taken))
	for _, g := range taken {
		out[g.Account] = b.holdLease(g.Account, owner, g.Fence)
	}
	busy := map[string]vault.LockHolder{}
	if len(out) < len(ids) {
		holders, err := b.AccountHolders()
		if err != nil {
			for _, rel := range out {
				_ = rel()
			}
			return nil, nil, err
		}
		for _, id := range ids {
			if _, ok := out[id]; !ok {
				busy[id] = holders[id] // zero if it was freed meanwhile: still not ours
			}
		}
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
