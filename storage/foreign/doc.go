// Package foreign reads the session files other libraries write: Pyrogram
// v1–v3 (both column orders of v3), PyroFork v4, Kurigram v4–v7 and
// Telethon's SQLiteSession, with their -wal and -journal companions, into
// a File in tgvault's terms (the session with what it lacks, peers under
// Pyrogram's rules, extra usernames, update state). The formats are in
// docs/formats.md; what is read and refused is in docs/design.md §4.
//
// A file is read from its bytes in a private in-memory SQLite database
// (Pyrogram's own v3 file, the commonest, by the hand-written reader of
// storage/internal/sqlitefile when it is plainly well formed: fast.go):
// nothing is ever written beside the source, a hot journal or a crafted
// schema is refused, and the work on one file is bounded in size
// (MaxSize) and time. Errors are *Error (the dialect and the reason,
// never a key) wrapping storage.ErrUnsupported or storage.ErrCorrupt.
//
// Layer rule (docs/ARCHITECTURE.md): foreign imports storage,
// storage/internal/sqlitefile, sessionstring and SQLite
// (modernc.org/sqlite); storage never imports it.
package foreign
