package pgvault

import (
	"context"
	"time"

	"github.com/tgvault/tgvault/vault"
)

// OpenTimeout bounds connecting to a vault's database (Location, and
// migrate's target).
const OpenTimeout = 30 * time.Second

// Location is where a vault lives, given a location such as --vault or
// TGVAULT_DIR holds: a postgres:// (or postgresql://) URL is a vault in
// that PostgreSQL database, connected here within OpenTimeout, with
// onQuiet (when not nil) as its Backend's OnQuiet; anything else is a
// directory. close releases the database's connections (nothing for a
// directory); it is never nil, also on error.
func Location(ctx context.Context, loc string, onQuiet func(wait time.Duration)) (opts vault.Options, close func(), err error) {
	if !IsURL(loc) {
		return vault.Options{Dir: loc}, func() {}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	be, err := Open(ctx, loc)
	if err != nil {
		return vault.Options{}, func() {}, err
	}
	if onQuiet != nil {
		be.OnQuiet(onQuiet)
	}
	return vault.Options{Backend: be}, be.Close, nil
}
