package vault

import (
	"errors"
	"fmt"
	"io/fs"
)

// MigrateTo copies the vault into dst (another Backend: a PostgreSQL
// database) blob for blob: everything stays sealed, nothing is decrypted
// but the index, which is opened to check the copy. It holds both write
// locks, refuses while a pool serves the vault or a rekey is pending, and
// refuses a dst that holds a vault already. vault.json goes last, so an
// interrupted migration leaves a dst that is not a vault (run it again).
// The source is left as it was: remove it once the copy serves. It
// returns the number of accounts copied.
func (v *Vault) MigrateTo(dst Backend) (int, error) {
	if pid, held := v.HeldByRun(); held {
		return 0, fmt.Errorf("%w (pid %d): stop it before a migration", ErrHeldByRun, pid)
	}
	t, err := v.begin()
	if err != nil {
		return 0, err
	}
	defer t.end()
	if err := dst.Prepare(); err != nil {
		return 0, backendErr("migrate", err)
	}
	rel, err := dst.Lock(LockWrite, ThisProcess(v.now()))
	if err != nil {
		return 0, err
	}
	defer rel()
	if _, err := dst.Read(metaName); err == nil {
		return 0, fmt.Errorf("%w: %s holds a vault already", ErrExists, dst.Location())
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, backendErr("migrate", err)
	}
	names := []string{slotPath}
	for _, a := range t.idx.Accounts {
		names = append(names, accountBlob(a.ID))
	}
	names = append(names, indexName, metaName)
	for _, n := range names {
		b, err := v.be.Read(n)
		if errors.Is(err, fs.ErrNotExist) && n != indexName && n != metaName && n != slotPath {
			continue // a missing account file: Doctor reports it at the source
		}
		if err != nil {
			return 0, backendErr("migrate: read "+n, err)
		}
		if err := dst.Write(n, b); err != nil {
			return 0, backendErr("migrate: write "+n, err)
		}
	}
	// The copy opens with the same identity.
	w := &Vault{be: dst, opts: v.opts, meta: v.meta}
	x, err := w.loadIndex(t.st)
	if err != nil {
		return 0, fmt.Errorf("vault: migrate: the copy does not open: %w", err)
	}
	return len(x.Accounts), nil
}
