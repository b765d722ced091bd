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
//   - `tgvault run` marks its life with AcquireRunLock (exports of its
//     accounts are then refused unless forced) and takes the write lock
//     only for each save, through Commit.
//   - Seals go only to the key derived from the unlocked identity; a
//     recipient added to the plaintext vault.json is never used.
//   - An interrupted Rekey leaves a vault that opens with the old or the new
//     key.
//
// Layer rule (DESIGN.md): vault imports crypto, storage and sessionstring;
// it never imports mtproto, gotd or cmd (deps_test.go enforces it).
package vault
