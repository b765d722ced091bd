// Package daemon is `tgvault run` as a library: Serve(ctx, Config) keeps
// a vault's accounts connected through one MTProto pool and serves the
// local API on a unix socket until ctx ends, then saves every account.
// It owns the rules of a long-lived process over a vault: which accounts
// it takes (ownership locks, or a fleet worker's leases), the lazy
// per-account stores (opened on use, saved and closed when idle), the
// group-commit writer (every save under the vault's write lock, many
// accounts' saves in one index write), the final states it records
// (revoked, key lost, mismatch), and the fleet worker's rule that stops
// the sessions before a lease can expire (docs/fleet.md). It runs the
// MTProto relay over the pool (relay.go, package mtproto/relay) unless
// Config.NoRelay: scripts use an account with a relay session, never its
// key.
//
// Layer rule (docs/ARCHITECTURE.md): daemon is the only package besides
// cmd/tgvault (and daemon/demo, built on it) that imports both vault and
// mtproto. It reads no flags,
// environment or terminal and prints nothing: it logs through the
// *slog.Logger in its Config and reports its start and its final save
// through Config's callbacks; cmd/tgvault turns flags into a Config and
// the outcome into output and an exit code. Nothing below it imports it.
// internal/deptest's TestLayers checks all of this against the imports.
//
// Where to look: daemon.go (Config, Serve, which accounts are taken, the
// states recorded), serve.go (the pool, the socket, the periodic round,
// the stop), groupcommit.go (vaultWriter), lazystore.go, fleet.go (the
// worker's claim/renew/watchdog), relay.go, logout.go, login.go (Login:
// a new account, its name checked before the server sees anything).
package daemon
