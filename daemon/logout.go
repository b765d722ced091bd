package daemon

import (
	"context"
	"errors"

	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// Logout logs the account name out on its server (auth.logOut, with d as
// Serve's Config.Defaults) and marks it revoked in the vault. It holds
// the account (its ownership lock) throughout: while another process
// holds it (a run serving it), it fails with a *vault.HeldError. already
// reports that the server no longer accepted the session (the account is
// marked revoked all the same).
func Logout(ctx context.Context, v *vault.Vault, name string, d mtproto.Defaults) (already bool, err error) {
	release, err := v.ClaimAccount(name)
	if err != nil {
		return false, vault.StopFirst(err)
	}
	defer release()
	f, err := v.OpenAccount(name)
	if err != nil {
		return false, err
	}
	w := &vaultWriter{v: v}
	// Saved and closed at the end; a store whose save failed stays open
	// (closing would save it outside the lock).
	s := newLazyStore(f, func() (*storage.File, error) { return v.OpenAccount(name) }, w)
	defer func() { _ = s.shut() }()
	opts, err := clientOptions(f, d)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*mtproto.DefaultConnectTimeout)
	defer cancel()
	err = mtproto.Logout(ctx, s, opts)
	already = errors.Is(err, mtproto.ErrUnauthorized)
	if err != nil && !already {
		return false, err
	}
	reason := "logged out (tgvault logout)"
	if already {
		reason = "the server no longer accepted the session at logout"
	}
	if err := w.commit(f, now(func() error { return v.MarkStore(f, vault.StatusRevoked, reason) })); err != nil {
		return false, err
	}
	return already, nil
}
