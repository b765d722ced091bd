package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tgvault/tgvault/storage"
)

// metaState is the meta key, inside the sealed account file, that holds
// the account's state: active, handed off (export --move), revoked, key
// lost, mismatch (the server knows the key as another user) or migrated. The file is the authority, the index's status a cache
// of it (docs/design.md §7.1): a file behind the index is refused as rolled
// back, and a file ahead of it wins, so restoring an older index.age (a
// sync tool, a backup) cannot make an account the file says is gone
// active again. A file written before the state moved here has no record;
// the index's status stands for it until the next write of the account.
const metaState = "tgvault.state"

// fileState is the value of metaState.
type fileState struct {
	Status AccountStatus `json:"status"`
	Reason string        `json:"reason,omitempty"`
	Since  time.Time     `json:"since"`
}

// stateOf reads the state a store records; ok is false for a file that
// records none.
func stateOf(f *storage.File) (s fileState, ok bool, err error) {
	b, ok, err := f.Meta(metaState)
	if err != nil || !ok {
		return fileState{}, false, err
	}
	if err := json.Unmarshal(b, &s); err != nil || !s.Status.valid() {
		return fileState{}, false, fmt.Errorf("%w: the account's state record is unreadable", ErrCorrupt)
	}
	return s, true, nil
}

// valid reports whether s is a state a file may record.
func (s AccountStatus) valid() bool {
	switch s {
	case StatusActive, StatusHandedOff, StatusKeyLost, StatusRevoked, StatusMigrated, StatusMismatch:
		return true
	}
	return false
}

// setState records s in the store and saves it at once (the binding
// revision goes up by one). The caller holds the account (its ownership
// lock, or it is the pool serving it) and the write lock, and brings the
// index up to date afterwards (tx.record does).
func setState(f *storage.File, s AccountStatus, reason string, now time.Time) error {
	if !s.valid() {
		return fmt.Errorf("vault: %q is not a state an account file records", s)
	}
	b, err := json.Marshal(fileState{Status: s, Reason: reason, Since: now.UTC()})
	if err != nil {
		return err
	}
	return f.SetMeta(metaState, b)
}

// MarkStore records an account's state in a store the caller holds open
// and owns (the pool marks a revoked or key-lost session through the
// store it serves). It saves the file at once; call it inside Commit (or
// CommitAll), which brings the index's status along.
func (v *Vault) MarkStore(f *storage.File, s AccountStatus, reason string) error {
	return setState(f, s, reason, v.now())
}

// effectiveState is an account's state: the file's record when it has
// one, else the index's status.
func effectiveState(a *Account, fs fileState, ok bool) (AccountStatus, string) {
	if ok {
		return fs.Status, fs.Reason
	}
	return a.Status, a.Reason
}

// usePolicy says which states an operation accepts.
type usePolicy int

const (
	// useExport: everything but handed-off (and migrated, unless forced).
	useExport usePolicy = iota
	// useServe: active only (migrated too, when forced).
	useServe
)

// stateError refuses the use of an account in state s under policy p, or
// returns nil. force lets a migrated account be used.
func stateError(s AccountStatus, reason string, p usePolicy, force bool, migratedTo string) error {
	switch {
	case s == StatusHandedOff:
		return fmt.Errorf("%w: run `tgvault reclaim` first if it is no longer used elsewhere", ErrHandedOff)
	case s == StatusMigrated && !force:
		if migratedTo == "" {
			migratedTo = "PostgreSQL"
		}
		return &MigratedError{To: migratedTo}
	case s == StatusMigrated:
		return nil
	case p == useServe && s != StatusActive:
		if reason == "" {
			return fmt.Errorf("%w: the account is %s", errNotActive, s)
		}
		return fmt.Errorf("%w: the account is %s (%s)", errNotActive, s, reason)
	}
	return nil
}

// errNotActive refuses to serve a revoked or key-lost account.
var errNotActive = errors.New("vault: not served")
