// Package pgvault keeps a tgvault vault in PostgreSQL, for a fleet of
// `tgvault run --worker` processes on many machines, and gives each
// account exactly one owner at a time through leases.
//
// It owns the schema (tables tgvault_blobs, tgvault_locks, tgvault_leases,
// tgvault_workers in the connection's search_path), the vault.Backend over
// it, the fenced vault write lock, and the account leases:
//
//   - Blobs are the vault's sealed files, byte for byte (vault.json, the
//     slots, index.age, accounts/<id>.age): the database never sees a
//     plaintext key, account name or phone number. Leases are keyed by the
//     random account id.
//   - The write lock is a row with a holder, an expiry (renewed while it is
//     held) and a fencing counter bumped on every take; every write under
//     it names the counter and is refused by the database once the lock
//     moved on (ErrFenced).
//   - A lease is a row per account with its owner, expiry and a fencing
//     counter bumped on every claim. Claims take free or expired rows with
//     FOR UPDATE SKIP LOCKED, so that workers never wait on each other;
//     an account image written through a lease's Blob is refused by the
//     database unless the lease is still the writer's, under the same
//     counter, and unexpired.
//   - The database's clock decides expiry; a worker counts its own
//     deadline from the moment it sent the renewal, so its deadline falls
//     before the database's whatever the clocks say (see Fleet.Deadline).
//
// No advisory locks are used: one per account runs out of shared memory
// near 12,000–14,000 per session.
//
// Layer rule (docs/ARCHITECTURE.md): pgvault imports vault, storage and pgx; it never
// imports mtproto, gotd or cmd (internal/deptest checks the table).
package pgvault
