package vault

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Per-account ownership. A session must be used by one process at a time,
// so every use of an account that hands its key out or changes who has it
// takes the account's ownership lock (Backend.LockAccounts) first:
//
//   - `tgvault run` takes the lock of each account it serves before it
//     opens and connects it, and holds it until it exits;
//   - export (plain, sealed, --move), rm, rename, reclaim, logout, proxy
//     and import --replace take it for the moment they work, and are
//     refused with a *HeldError while another process holds it (export
//     --force skips it: the user accepts the risk);
//   - rekey and migrate take every account's.
//
// The lock is per account: `run A` leaves `export B` free. After taking
// it, the account's state is read from its file (state.go): an account
// that `export --move` handed off in the instant before is not served.
// So between `export --move` and `run`, exactly one wins.

// Claim is accounts this process owns until it releases them. It is safe
// for concurrent use; a nil *Claim holds nothing.
type Claim struct {
	mu  sync.Mutex
	rel map[string]func() error // by account id
}

// Holds reports whether the claim holds the account with id.
func (c *Claim) Holds(id string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.rel[id]
	return ok
}

// Len is the number of accounts held.
func (c *Claim) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rel)
}

// Release gives up the account with id (a no-op if not held).
func (c *Claim) Release(id string) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	rel, ok := c.rel[id]
	delete(c.rel, id)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return rel()
}

// Merge moves the accounts o holds into c.
func (c *Claim) Merge(o *Claim) {
	if o == nil {
		return
	}
	o.mu.Lock()
	rels := o.rel
	o.rel = map[string]func() error{}
	o.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, rel := range rels {
		c.rel[id] = rel
	}
}

// Close gives up every account held.
func (c *Claim) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	rels := c.rel
	c.rel = map[string]func() error{}
	c.mu.Unlock()
	var errs []error
	for _, rel := range rels {
		if err := rel(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ClaimAccounts takes the ownership locks of accts (entries of List) for
// this process. busy names, by account name, the holder of each account
// another process holds; those are not in the claim.
func (v *Vault) ClaimAccounts(accts []Account) (c *Claim, busy map[string]LockHolder, err error) {
	ids := make([]string, len(accts))
	names := make(map[string]string, len(accts))
	for i, a := range accts {
		ids[i] = a.ID
		names[a.ID] = a.Name
	}
	taken, held, err := v.be.LockAccounts(ids, ThisProcess(v.now()))
	if err != nil {
		return nil, nil, err
	}
	busy = make(map[string]LockHolder, len(held))
	for id, h := range held {
		busy[names[id]] = h
	}
	return &Claim{rel: taken}, busy, nil
}

// lockAccount takes the ownership lock of one account: a *HeldError when
// another process holds it. wait, if not zero, is how long to wait for a
// holder that holds accounts for a moment only (an export, a rekey): one
// that serves them (Serving) is refused at once.
func (v *Vault) lockAccount(id string, wait time.Duration) (release func() error, err error) {
	release, _, err = v.lockAccountWaited(id, wait)
	return release, err
}

// lockAccountWaited is lockAccount, and says whether it had to wait:
// what the caller read before (the index, the key: a rekey may have held
// the account) may be stale then.
func (v *Vault) lockAccountWaited(id string, wait time.Duration) (release func() error, waited bool, err error) {
	deadline := time.Now().Add(wait)
	for {
		taken, busy, err := v.be.LockAccounts([]string{id}, ThisProcess(v.now()))
		if err != nil {
			return nil, waited, err
		}
		h, held := busy[id]
		if !held {
			if rel := taken[id]; rel != nil {
				return rel, waited, nil
			}
			return nil, waited, fmt.Errorf("vault: owner lock: not taken")
		}
		if h.Serving() || !time.Now().Before(deadline) {
			return nil, waited, &HeldError{Holder: h}
		}
		waited = true
		time.Sleep(ownerRetry)
	}
}

// How long a command waits for an account another command holds for a
// moment (OwnerWait), and how often it looks.
const (
	OwnerWait  = 10 * time.Second
	ownerRetry = 50 * time.Millisecond
)

// ownerWait is OwnerWait; the package's tests shorten it (TestMain).
var ownerWait = OwnerWait

// Serving reports whether h holds its accounts for its whole life (a
// `tgvault run`, a fleet worker) rather than for a moment (an export, a
// rekey): its record's command is "<program> run[ ...]".
func (h LockHolder) Serving() bool {
	f := strings.Fields(h.Command)
	return len(f) >= 2 && f[1] == "run"
}

// ClaimAccount takes the ownership lock of the account name for this
// process (logout, proxy: commands that connect or change one account): a
// *HeldError when another process holds it.
func (v *Vault) ClaimAccount(name string) (release func() error, err error) {
	_, _, _, release, err = v.holdAccount(name, true)
	return release, err
}

// holdAccount finds the account name and, when own, takes its ownership
// lock (waiting for a command that holds it for a moment). After a wait
// it unlocks and reads the index again under the lock: the holder may
// have changed the key (rekey), the account or its name meanwhile.
// release is a no-op when !own.
func (v *Vault) holdAccount(name string, own bool) (st *unlocked, x *index, a *Account, release func() error, err error) {
	release = func() error { return nil }
	heldID := ""
	for attempt := 0; ; attempt++ {
		if st, err = v.unlock(); err != nil {
			return nil, nil, nil, nil, err
		}
		if x, err = v.loadIndex(st); err != nil {
			return nil, nil, nil, nil, err
		}
		i := x.find(name)
		if i < 0 {
			_ = release()
			return nil, nil, nil, nil, notFound(name)
		}
		a = &x.Accounts[i]
		switch {
		case !own:
			return st, x, a, release, nil
		case attempt > 0:
			if a.ID == heldID {
				return st, x, a, release, nil
			}
			_ = release() // the name is another account's now
			release = func() error { return nil }
			if attempt > 3 {
				return nil, nil, nil, nil, fmt.Errorf("%w: the account changed while it was waited for", ErrBusy)
			}
		}
		rel, waited, err := v.lockAccountWaited(a.ID, ownerWait)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		release, heldID = rel, a.ID
		if !waited {
			return st, x, a, release, nil
		}
	}
}

// claimAll takes the ownership lock of every account of x (rekey and
// migrate); a *HeldError when a process holds one.
func (v *Vault) claimAll(x *index) (*Claim, error) {
	seen := map[string]bool{}
	var ids []string
	for _, a := range x.Accounts {
		if !seen[a.ID] {
			seen[a.ID] = true
			ids = append(ids, a.ID)
		}
	}
	taken, busy, err := v.be.LockAccounts(ids, ThisProcess(v.now()))
	if err != nil {
		return nil, err
	}
	c := &Claim{rel: taken}
	for _, h := range busy {
		_ = c.Close()
		return nil, &HeldError{Holder: h}
	}
	return c, nil
}

// Holding is one account held by a process, as `tgvault status` shows it.
type Holding struct {
	Name   string     `json:"name"` // "" when the vault is locked (the index is sealed)
	ID     string     `json:"id"`
	Holder LockHolder `json:"holder"`
}

// Holders lists the accounts whose ownership lock a process holds, with
// the holder (a run serving it, a worker's lease, a command using it),
// sorted by name. Names need the index: on a locked vault they are left
// empty.
func (v *Vault) Holders() ([]Holding, error) {
	m, err := v.be.AccountHolders()
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	if len(m) > 0 {
		if st, err := v.unlock(); err == nil {
			if x, err := v.loadIndex(st); err == nil {
				for _, a := range x.Accounts {
					names[a.ID] = a.Name
				}
			}
		}
	}
	out := make([]Holding, 0, len(m))
	for id, h := range m {
		out = append(out, Holding{Name: names[id], ID: id, Holder: h})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// HeldByRun reports whether some process holds an account of the vault
// (a running pool, a worker's lease, a command using one), and the pid of
// one of them (0 if its record cannot be read). It takes no lock.
func (v *Vault) HeldByRun() (pid int, held bool) {
	m, err := v.be.AccountHolders()
	if err != nil {
		return 0, true // fail closed: the caller refuses
	}
	for _, h := range m {
		return h.PID, true
	}
	return 0, false
}
