// Package sqlitefile is the SQLite database file format
// (https://www.sqlite.org/fileformat2.html), written and read by hand for
// the session images package storage seals: records and varints, a
// writer that lays out table and index b-trees page by page (a whole tree
// from sorted rows, or streamed leaf by leaf), a reader of table b-trees
// whose every pointer and length is checked (a corrupt or hostile database
// is an *Error, never a panic), a checker of a whole database's pages as
// SQLite's quick_check checks them, and a patcher that changes rows and index
// entries in place in the b-trees of an existing database, as SQLite does.
// It knows SQLite, not Pyrogram: the schema and which rows go where are
// storage's (image.go).
//
// Layer rule (docs/ARCHITECTURE.md): the standard library only; only
// package storage and storage/foreign import it.
package sqlitefile
