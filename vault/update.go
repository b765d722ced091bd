package vault

import (
	"errors"
	"fmt"

	"github.com/tgvault/tgvault/storage"
)

// StopFirst adds "stop it first" to a claim's *HeldError (another process
// holds the account, a run serving it, say): the advice of the commands
// that change one account (UpdateAccount, daemon.Logout). Other errors
// come back as they are.
func StopFirst(err error) error {
	if _, held := errors.AsType[*HeldError](err); held {
		return fmt.Errorf("%w: stop it first", err)
	}
	return err
}

// UpdateAccount changes one account's file for a command (tgvault proxy):
// it takes the account's ownership lock first, so that nothing changes an
// account another process holds (a *HeldError, matching ErrHeldByRun when
// a `tgvault run` serves it: "stop it first"), then runs fn's writes to
// the account's open store as Commit does: under the write lock, the
// file saved sealed and the index updated.
func (v *Vault) UpdateAccount(name string, fn func(f *storage.File) error) error {
	release, err := v.ClaimAccount(name)
	if err != nil {
		return StopFirst(err)
	}
	defer release()
	f, err := v.OpenAccount(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return v.Commit(f, func() error { return fn(f) })
}
