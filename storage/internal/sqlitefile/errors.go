package sqlitefile

import (
	"errors"
	"fmt"
)

// ErrNoPatch reports that a b-tree cannot be patched in place (a deletion
// that would empty a page, an overflowing cell, anything unexpected): the
// caller builds the whole database instead.
var ErrNoPatch = errors.New("sqlitefile: the tree cannot be patched in place")

// Error is a database the reader cannot read. The caller translates it
// into its own sentinels (package storage: ErrCorrupt, ErrUnsupported),
// keeping Detail.
type Error struct {
	// Unsupported is set for a valid database the reader does not handle
	// (WAL mode); otherwise the database is corrupt.
	Unsupported bool
	// Detail says what is wrong, without any of the database's content.
	Detail string
}

func (e *Error) Error() string {
	if e.Unsupported {
		return "sqlitefile: unsupported database: " + e.Detail
	}
	return "sqlitefile: corrupt database: " + e.Detail
}

func corruptf(format string, args ...any) error {
	return &Error{Detail: fmt.Sprintf(format, args...)}
}

func unsupportedf(format string, args ...any) error {
	return &Error{Unsupported: true, Detail: fmt.Sprintf(format, args...)}
}
