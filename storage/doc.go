// Package storage keeps Telegram sessions the way Pyrogram's storage
// engines do: one SQLite session database per account, with Pyrogram's
// exact schema (version 3) and peer cache, so that `age -d` on a sealed
// file gives back a `.session` file Pyrogram itself loads.
//
// It owns the Storage contract (Pyrogram's semantics: the sessions row,
// REPLACE-semantics peer cache with marked ids and lowercase usernames,
// lookups by id, username with the 8-hour TTL, and phone, and the
// InputPeer built from a row), and two engines that satisfy it:
//
//   - Memory: the schema in a private in-memory SQLite database, gone at
//     Close (Pyrogram's MemoryStorage).
//   - File: the sealed file engine. The file is an encrypted SQLite image;
//     opening decrypts it into memory, saving seals the image, writes a
//     temp file, fsyncs it, renames it over the old one and fsyncs the
//     directory. No plaintext database, journal or WAL ever reaches the
//     disk. A binding table (vault id, account id, revision) inside the
//     image makes a swapped or rolled-back file an error.
//
// Both engines serve lookups from a write-back index in memory; SQLite is
// the format in the seal and on the memory engine's side. The images are
// written and read directly in the SQLite file format (the codec is
// storage/internal/sqlitefile; Pyrogram's schema in it is image.go), which
// is much faster than going through SQL for 100,000 rows; tests check
// every image against SQLite itself. A large image is kept between saves
// and patched with the rows that changed, page by page as SQLite changes a
// database (image_keep.go, over the codec's patcher), and many files can
// be saved together with one round of fsyncs (SaveBatch).
//
// It also writes a plain Pyrogram v3 file for an explicit export. Foreign
// session files (Pyrogram v1–v3, PyroFork, Kurigram, Telethon) are read by
// package storage/foreign.
//
// Layer rule (docs/ARCHITECTURE.md): storage imports sessionstring and
// SQLite only. It never imports age (it defines the small Sealer interface
// it needs and is handed an implementation), vault, mtproto, cmd, gotd or
// its own subpackages.
package storage
