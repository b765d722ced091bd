package foreign

import (
	"github.com/tgvault/tgvault/storage/internal/sqlitefile"
)

// This file reads the commonest session file, Pyrogram's own v3 database,
// without the SQLite engine: opening an in-memory SQLite database,
// deserializing the file into it and preparing half a dozen statements
// cost about half a millisecond of CPU per file, most of a bulk import's
// time once the sealing runs on every core. The hand-written reader
// (storage/internal/sqlitefile) walks the file's b-trees instead.
//
// It takes only what it can read exactly as the engine path does: a file
// whose sqlite_master is, entry for entry and byte for byte, Pyrogram's v3
// schema (as created, or migrated from v2); a header it understands (UTF-8,
// no free pages, no auto-vacuum, its page count valid); every page
// accounted for and every b-tree page well formed (sqlitefile's Checker:
// what SQLite's quick_check checks, and the NOT NULL columns); records of
// the table's width, or the migrated sessions row without its api_id.
// Anything else, damaged or merely unusual, goes to the engine, which
// decides; the fast path never fails a file. TestFastMatchesEngine and
// FuzzFastMatchesEngine hold it to the engine's results.

// schemaRow is a row of sqlite_master but its root page: type, name,
// tbl_name, sql.
type schemaRow struct{ typ, name, table, sql string }

// sessionsMigratedSQL is sessions after Pyrogram's migration from v2 to
// v3 (ALTER TABLE ... ADD COLUMN api_id): api_id last.
const sessionsMigratedSQL = "CREATE TABLE sessions\n(\n    dc_id     INTEGER PRIMARY KEY,\n    test_mode INTEGER,\n    auth_key  BLOB,\n    date      INTEGER NOT NULL,\n    user_id   INTEGER,\n    is_bot    INTEGER\n, api_id INTEGER)"

// sessionsSQL is sessions as Pyrogram v3 creates it.
const sessionsSQL = "CREATE TABLE sessions\n(\n    dc_id     INTEGER PRIMARY KEY,\n    api_id    INTEGER,\n    test_mode INTEGER,\n    auth_key  BLOB,\n    date      INTEGER NOT NULL,\n    user_id   INTEGER,\n    is_bot    INTEGER\n)"

// pyrogramV3Schema is a Pyrogram v3 file's sqlite_master, in order.
var pyrogramV3Schema = []schemaRow{
	{"table", "sessions", "sessions", sessionsSQL},
	{"table", "peers", "peers", "CREATE TABLE peers\n(\n    id             INTEGER PRIMARY KEY,\n    access_hash    INTEGER,\n    type           INTEGER NOT NULL,\n    username       TEXT,\n    phone_number   TEXT,\n    last_update_on INTEGER NOT NULL DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER))\n)"},
	{"table", "version", "version", "CREATE TABLE version\n(\n    number INTEGER PRIMARY KEY\n)"},
	{"index", "idx_peers_id", "peers", "CREATE INDEX idx_peers_id ON peers (id)"},
	{"index", "idx_peers_username", "peers", "CREATE INDEX idx_peers_username ON peers (username)"},
	{"index", "idx_peers_phone_number", "peers", "CREATE INDEX idx_peers_phone_number ON peers (phone_number)"},
	{"trigger", "trg_peers_last_update_on", "peers", "CREATE TRIGGER trg_peers_last_update_on\n    AFTER UPDATE\n    ON peers\nBEGIN\n    UPDATE peers\n    SET last_update_on = CAST(STRFTIME('%s', 'now') AS INTEGER)\n    WHERE id = NEW.id;\nEND"},
}

// The session columns the engine path selects, in its order, and where
// each sits in the record of the two sessions layouts (-1: the rowid).
var (
	sessionCols      = []string{"dc_id", "api_id", "test_mode", "auth_key", "date", "user_id", "is_bot"}
	sessionsCreated  = []int{-1, 1, 2, 3, 4, 5, 6}
	sessionsMigrated = []int{-1, 6, 1, 2, 3, 4, 5}
	sessionsNotNull  = 4 // date, in sessionCols
	peersWidth       = 6
	peersNotNull     = []int{2, 5} // type, last_update_on
)

// readFast reads img (a rollback-journal image, any WAL applied) as a
// Pyrogram v3 file; ok is false when it cannot, and then the engine
// must. An error is the engine path's error for the same content (no auth
// key, a bad value), never a structural one.
func readFast(img []byte) (f *File, ok bool, err error) {
	r, err := sqlitefile.NewReader(img)
	if err != nil {
		return nil, false, nil
	}
	roots, migrated, ok := fastSchema(r)
	if !ok {
		return nil, false, nil
	}
	row, ok := fastSession(r, roots["sessions"], migrated)
	if !ok {
		clearAuthKey(row)
		return nil, false, nil
	}
	f = &File{Dialect: DialectPyrogramV3}
	if !fastVersion(r, roots["version"], f) || !fastPeers(r, roots["peers"], f) {
		clearAuthKey(row)
		return nil, false, nil
	}
	// Only now the content's own errors: the file is readable.
	if row == nil {
		return nil, true, &Error{Dialect: f.Dialect, Reason: "the sessions table is empty", Err: ErrNoAuthKey}
	}
	if err := fillPyrogramSession(f, row); err != nil {
		return nil, true, err
	}
	sortPeers(f)
	f.Lacks = lacks(f.Session)
	return f, true, nil
}

// fastSchema checks that r's sqlite_master is Pyrogram v3's and that every
// page of r is well formed and belongs to one of its trees; it returns the
// root pages by name, and whether sessions has the migrated layout.
func fastSchema(r *sqlitefile.Reader) (roots map[string]uint32, migrated, ok bool) {
	schema, err := r.Schema()
	if err != nil || len(schema) != len(pyrogramV3Schema) {
		return nil, false, false
	}
	roots = map[string]uint32{}
	for i, e := range schema {
		want := pyrogramV3Schema[i]
		if i == 0 && e.SQL == sessionsMigratedSQL {
			want.sql, migrated = sessionsMigratedSQL, true
		}
		if e.Type != want.typ || e.Name != want.name || e.Table != want.table || e.SQL != want.sql {
			return nil, false, false
		}
		if want.typ == "trigger" {
			if e.Root != 0 {
				return nil, false, false
			}
			continue
		}
		if e.Root < 2 || e.Root > r.NPages {
			return nil, false, false
		}
		roots[e.Name] = uint32(e.Root)
	}
	c, err := r.NewChecker()
	if err != nil || c.Tree(1, true) != nil {
		return nil, false, false
	}
	for _, e := range pyrogramV3Schema {
		if e.typ != "trigger" && c.Tree(roots[e.name], e.typ == "table") != nil {
			return nil, false, false
		}
	}
	return roots, migrated, c.Done() == nil
}

// clearAuthKey clears the copy of the auth key a row of fastSession holds,
// when the fast path gives the file up to the engine (which reads its own).
func clearAuthKey(row map[string]any) {
	if b, ok := row["auth_key"].([]byte); ok {
		clear(b)
	}
}

// fastSession reads the first sessions row by rowid, as the engine's
// LIMIT 1 does (nil when the table is empty), checking every row as
// quick_check would.
func fastSession(r *sqlitefile.Reader, root uint32, migrated bool) (row map[string]any, ok bool) {
	layout := sessionsCreated
	if migrated {
		layout = sessionsMigrated
	}
	width := len(sessionCols)
	var vals []sqlitefile.Value
	err := r.ScanTable(root, func(rowid int64, rec []byte) error {
		var derr error
		// A row written before the migration lacks api_id: NULL, as the
		// column has no default. Any other width goes to the engine, and
		// so does a rowid alias not NULL in the record, and a NULL date
		// (quick_check fails a NULL in a NOT NULL column).
		vals, derr = sqlitefile.DecodeRecord(rec, vals)
		switch {
		case derr != nil, len(vals) != width && !(migrated && len(vals) == width-1),
			vals[0].Kind() != sqlitefile.KindNull, vals[layout[sessionsNotNull]].Kind() == sqlitefile.KindNull:
			return errStop
		}
		if row == nil {
			row = make(map[string]any, len(sessionCols))
			for i, col := range sessionCols {
				switch {
				case layout[i] < 0:
					row[col] = rowid
				case layout[i] < len(vals):
					row[col] = valueOf(vals[layout[i]])
				default:
					row[col] = nil
				}
			}
		}
		return nil
	})
	return row, err == nil
}

// fastVersion reads the version as the engine's max(number) does: the
// largest rowid (number is its alias), 0 if none or out of range.
func fastVersion(r *sqlitefile.Reader, root uint32, f *File) bool {
	var vals []sqlitefile.Value
	err := r.ScanTable(root, func(rowid int64, rec []byte) error {
		var derr error
		if vals, derr = sqlitefile.DecodeRecord(rec, vals); derr != nil || len(vals) != 1 || vals[0].Kind() != sqlitefile.KindNull {
			return errStop
		}
		f.SchemaVersion = 0
		if rowid >= 0 && rowid <= 1<<31-1 {
			f.SchemaVersion = int(rowid)
		}
		return nil
	})
	return err == nil
}

// fastPeers reads the peers in rowid order, as the engine's SELECT does.
func fastPeers(r *sqlitefile.Reader, root uint32, f *File) bool {
	var vals []sqlitefile.Value
	err := r.ScanTable(root, func(rowid int64, rec []byte) error {
		var derr error
		if vals, derr = sqlitefile.DecodeRecord(rec, vals); derr != nil || len(vals) != peersWidth || vals[0].Kind() != sqlitefile.KindNull {
			return errStop
		}
		for _, i := range peersNotNull {
			if vals[i].Kind() == sqlitefile.KindNull {
				return errStop
			}
		}
		p, ok := pyrogramPeer(rowid, valueOf(vals[1]), valueOf(vals[2]), valueOf(vals[3]), valueOf(vals[4]), valueOf(vals[5]))
		if !ok {
			f.SkippedPeers++
			return nil
		}
		f.Peers = append(f.Peers, p)
		return nil
	})
	return err == nil
}

// errStop ends a scan early.
var errStop = &sqlitefile.Error{Detail: "stop"}

// valueOf is a record value as database/sql gives it from the engine:
// int64, float64, string (text), []byte (blob) or nil.
func valueOf(v sqlitefile.Value) any {
	switch v.Kind() {
	case sqlitefile.KindInt:
		return v.Int64()
	case sqlitefile.KindFloat:
		return v.Float64()
	case sqlitefile.KindText:
		return string(v.Bytes())
	case sqlitefile.KindBlob:
		return append([]byte{}, v.Bytes()...)
	}
	return nil
}
