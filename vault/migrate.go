package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
)

// MigrateTo copies the vault into dst (another Backend: a PostgreSQL
// database) blob for blob: everything stays sealed, nothing is decrypted
// but the index (and each account file, to mark it). It holds both write
// locks and every account's ownership lock (so it refuses while a pool
// serves an account, or a rekey is pending), and refuses a dst that holds
// another vault. The order:
//
//  1. the passphrase slot, every account file and the index are copied;
//  2. vault.json last, so an interrupted copy leaves a dst that is not a
//     vault (run it again);
//  3. every active account's file here is marked migrated (its state,
//     authenticated, in the file: a rolled-back index cannot undo it),
//     then the index records where the vault went.
//
// From then on this directory refuses run, export and import with a
// *MigratedError naming the database, unless forced: the fleet serves the
// copy, and using both would use each session in two places. Interrupted
// after step 2, running it again finishes step 3. It returns the number of
// accounts copied.
func (v *Vault) MigrateTo(dst Backend) (int, error) {
	t, err := v.begin()
	if err != nil {
		return 0, err
	}
	defer t.end()
	claim, err := v.claimAll(t.idx)
	if err != nil {
		return 0, fmt.Errorf("%w: stop it before a migration", err)
	}
	defer claim.Close()
	loc := dst.Location()
	if t.idx.MigratedTo != "" && t.idx.MigratedTo != loc {
		return 0, &MigratedError{To: t.idx.MigratedTo}
	}
	if err := dst.Prepare(); err != nil {
		return 0, backendErr("migrate", err)
	}
	rel, err := dst.Lock(LockWrite, ThisProcess(v.now()))
	if err != nil {
		return 0, err
	}
	defer rel()
	resume := false
	switch b, err := dst.Read(metaName); {
	case err == nil:
		var m vaultMeta
		if json.Unmarshal(b, &m) != nil || m.VaultID != v.meta.VaultID {
			return 0, fmt.Errorf("%w: %s holds a vault already", ErrExists, loc)
		}
		resume = true // copied before: mark what is not marked yet
	case !errors.Is(err, fs.ErrNotExist):
		return 0, backendErr("migrate", err)
	case t.idx.MigratedTo != "":
		return 0, fmt.Errorf("%w: this vault was migrated to %s, which holds no vault now: restore that database (this copy's accounts are marked migrated)", ErrMigrated, loc)
	}
	if !resume {
		if err := v.copyTo(dst, t); err != nil {
			return 0, err
		}
	}
	// The copy opens with the same identity.
	w := &Vault{be: dst, opts: v.opts, meta: v.meta}
	x, err := w.loadIndex(t.st)
	if err != nil {
		return 0, fmt.Errorf("vault: migrate: the copy does not open: %w", err)
	}
	if err := t.markMigrated(loc); err != nil {
		return 0, fmt.Errorf("vault: migrate: the copy in %s is complete, but marking this vault failed (run migrate again to finish): %w", loc, err)
	}
	return len(x.Accounts), nil
}

// copyTo copies the slot, the account files and the index (as it is, with
// no migration mark) to dst, then vault.json.
func (v *Vault) copyTo(dst Backend, t *tx) error {
	names := []string{slotPath}
	for _, a := range t.idx.Accounts {
		names = append(names, accountBlob(a.ID))
	}
	for _, n := range names {
		b, err := v.be.Read(n)
		if errors.Is(err, fs.ErrNotExist) && n != slotPath {
			continue // a missing account file: Doctor reports it at the source
		}
		if err != nil {
			return backendErr("migrate: read "+n, err)
		}
		if err := dst.Write(n, b); err != nil {
			return backendErr("migrate: write "+n, err)
		}
	}
	w := &Vault{be: dst, opts: v.opts, meta: v.meta}
	x := *t.idx
	x.MigratedTo = ""
	if err := w.saveIndex(t.st, &x); err != nil {
		return fmt.Errorf("vault: migrate: %w", err)
	}
	b, err := v.be.Read(metaName)
	if err != nil {
		return backendErr("migrate: read "+metaName, err)
	}
	if err := dst.Write(metaName, b); err != nil {
		return backendErr("migrate: write "+metaName, err)
	}
	return nil
}

// markMigrated marks every active account's file migrated to loc, then
// the index. The caller holds every account's ownership lock.
func (t *tx) markMigrated(loc string) error {
	reason := "migrated to " + loc
	for i := range t.idx.Accounts {
		a := &t.idx.Accounts[i]
		if a.Status != StatusActive && a.Status != StatusBroken {
			continue
		}
		f, err := t.v.openFile(t.sealer, false, a)
		if err != nil {
			continue // broken: Doctor reports it; the index mark covers it
		}
		op, err := openedOf(f)
		if err == nil && (!op.hasState || op.state.Status == StatusActive) {
			err = setState(f, StatusMigrated, reason, t.v.now())
		}
		if err == nil {
			_, err = t.record(f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	t.idx.MigratedTo = loc
	return t.save()
}

// MigratedTo reports where `tgvault migrate` copied the vault ("" if it
// did not). It reads the index.
func (v *Vault) MigratedTo() (string, error) {
	st, err := v.unlock()
	if err != nil {
		return "", err
	}
	x, err := v.loadIndex(st)
	if err != nil {
		return "", err
	}
	return x.MigratedTo, nil
}
