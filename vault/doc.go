// Package vault is tgvault's multi-account vault: a directory of sealed
// files that holds any number of Telegram sessions (or the same files as
// rows of another Backend: package pgvault keeps them in PostgreSQL).
//
// It owns the layout (vault.json, slots/passphrase.age, index.age,
// accounts/<random-id>.age, the lock files), the unlock state (the OS
// keyring, behind the Keyring interface, or an identity or passphrase for
// one process), the write lock, import from every format the lower layers
// read, export (plain strings, plain Pyrogram files, sealed hand-offs),
// rekey, and the consistency checks of Doctor.
//
// Guarantees:
//   - Nothing secret is written in plaintext: account names, phone numbers
//     and keys live only inside age-sealed files, named by random ids.
//     Every file is replaced atomically (temp file, fsync, rename), so
//     readers (List, Show, Status, Export) take no lock and see either the
//     old or the new state.
//   - One writer at a time, by an advisory lock on the lock file; a second
//     is refused with a *BusyError naming the holder.
//   - An account's file is written before the index. The index holds each
//     account's revision: a file ahead of it is accepted and the index
//     repaired; a file behind it (rolled back) or bound to another account
//     or vault fails that account alone with an *AccountError.
//   - One owner per account: every account has an ownership lock
//     (Backend.LockAccounts). `tgvault run` takes the lock of each account
//     it serves (ClaimAccounts) before opening it, for its whole life, and
//     takes the write lock only for each save, through Commit; export,
//     export --move, rm, rename, reclaim take it for their moment and are
//     refused with a *HeldError while another process holds it.
//   - An account's state (handed off, revoked, key lost, migrated) is
//     recorded in its own sealed file before the index, which caches it:
//     an older index put back cannot make such an account usable.
//   - One key, one account: the index records every account's auth key id,
//     and an import of a key the vault holds is refused with a
//     *DuplicateKeyError naming the account that has it.
//   - Seals go only to the key derived from the unlocked identity; a
//     recipient added to the plaintext vault.json is never used.
//   - An interrupted Rekey leaves a vault that opens with the old or the new
//     key.
//
// Layer rule (docs/ARCHITECTURE.md): vault imports crypto, storage and sessionstring;
// it never imports mtproto, gotd or cmd (internal/deptest checks the table).
package vault
