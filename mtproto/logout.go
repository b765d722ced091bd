package mtproto

import (
	"context"
	"fmt"

	"github.com/tgvault/tgvault/storage"
)

// Logout logs out the account whose session is in store (auth.logOut):
// the server ends the authorization and the stored key is of no use from
// then on. It never creates a key, and leaves the store's key as it is;
// the caller marks or removes the account. A session the server no longer
// accepts fails with ErrUnauthorized.
func Logout(ctx context.Context, store storage.Storage, opts Options) error {
	opts.Session.AllowNewKey = false
	c, err := NewClient(store, opts)
	if err != nil {
		return err
	}
	return c.Run(ctx, func(ctx context.Context) error {
		if _, err := c.API().AuthLogOut(ctx); err != nil {
			return fmt.Errorf("mtproto: log out: %w", sessionErr(err))
		}
		return nil
	})
}
