package foreign

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// Dialect names the library and schema that wrote a foreign session file.
// It is found from the tables and columns, never from the version table
// alone, because the Pyrogram forks reuse version numbers for different
// schemas (PyroFork v4 and Kurigram v4 differ).
type Dialect string

// The dialects Read recognises.
const (
	// DialectPyrogramV1 and DialectPyrogramV2 have the same schema (no
	// sessions.api_id); only the version row tells them apart.
	DialectPyrogramV1 Dialect = "pyrogram-v1"
	DialectPyrogramV2 Dialect = "pyrogram-v2"
	// DialectPyrogramV3 is Pyrogram's current schema, new (api_id second) or
	// migrated from v2 (api_id last).
	DialectPyrogramV3 Dialect = "pyrogram-v3"
	// DialectPyroForkV4 has update_state and, once a peer with several
	// usernames was seen, usernames(id TEXT username, peer_id).
	DialectPyroForkV4 Dialect = "pyrofork-v4"
	// Kurigram: usernames(id INTEGER peer id, username) from v4,
	// update_state from v5, idx_usernames_id from v6, sessions.server_address
	// and port from v7.
	DialectKurigramV4 Dialect = "kurigram-v4"
	DialectKurigramV5 Dialect = "kurigram-v5"
	DialectKurigramV6 Dialect = "kurigram-v6"
	DialectKurigramV7 Dialect = "kurigram-v7"
	// DialectTelethonV7 is Telethon v1's SQLiteSession, schema 7
	// (sessions.takeout_id and entities.date).
	DialectTelethonV7 Dialect = "telethon-v7"
	// DialectTelethonOld is a Telethon SQLiteSession of schema 1 to 6 (no
	// entities.date). It is read the same way; SchemaVersion says which.
	DialectTelethonOld Dialect = "telethon-v1-v6"
)

// MaxSize caps the database file, its WAL and the database rebuilt
// from both. Session files are kilobytes to a few megabytes.
const MaxSize = 256 << 20

// readTimeout bounds the SQL work on one file, so that a crafted schema
// cannot keep the reader busy.
const readTimeout = 60 * time.Second

// Fields that File.Lacks may name.
const (
	LackAPIID    = "api_id"
	LackUserID   = "user_id"
	LackIsBot    = "is_bot"
	LackTestMode = "test_mode"
)

// File is what a foreign SQLite session file holds, in tgvault's terms.
type File struct {
	Dialect Dialect
	// SchemaVersion is the number in the version table, as stored (0 if the
	// table is missing or empty).
	SchemaVersion int
	// Session holds dc, api_id, test_mode, key, user_id and is_bot, and
	// host/port where the file has them (Kurigram v7, Telethon). A field the
	// file does not carry, or holds as NULL, is unknown.
	Session sessionstring.Session
	// Date is sessions.date (Pyrogram family), 0 where there is none.
	Date int64
	// Peers are Pyrogram rows with marked ids, sorted by id, carried over
	// as the file wrote them: access_hash (a group's too), username and
	// phone as stored (Telethon's INTEGER phone as its decimal text), so
	// that exporting the account gives back the same rows. Only the type
	// is read loosely ('USER' is user). Telethon's self row (id 0) is not
	// a peer.
	Peers []storage.Peer
	// Usernames lists, for each peer (marked id) with more than one
	// username, all of them as written, the one in storage.Peer.Username first.
	// Only PyroFork's and Kurigram's usernames tables carry more than one.
	Usernames map[int64][]string
	// UpdateState holds update_state rows with marked ids (Telethon's raw
	// channel ids are converted), the account row (id 0) first.
	UpdateState []storage.UpdateState
	// Lacks names the fields of Session the file does not carry (or holds
	// as NULL), among api_id, user_id, is_bot and test_mode: the caller must
	// supply them to export to Pyrogram.
	Lacks []string
	// SkippedPeers counts peer rows that could not be read as a peer (no
	// integer id, no type) and were left out.
	SkippedPeers int
}

// ErrNoAuthKey reports a session file without an auth key (NULL, empty or
// all zero): a client that never logged in. It wraps storage.ErrUnsupported.
var ErrNoAuthKey = fmt.Errorf("%w: the session has no auth key (never logged in)", storage.ErrUnsupported)

// ErrNoSessions reports an SQLite database without a sessions table: no
// session file at all (a bulk import skips it). It wraps storage.ErrUnsupported.
var ErrNoSessions = fmt.Errorf("%w: no sessions table", storage.ErrUnsupported)

// Error says why a foreign session file cannot be read. Its text
// never holds anything from the file (no usernames, phones or keys), only a
// fixed reason and, where known, the dialect.
type Error struct {
	Dialect Dialect // "" if not identified yet
	Reason  string
	Err     error // storage.ErrCorrupt, storage.ErrUnsupported, ErrNoSessions or ErrNoAuthKey
}

func (e *Error) Error() string {
	s := "storage: foreign session"
	if e.Dialect != "" {
		s += " (" + string(e.Dialect) + ")"
	}
	return s + ": " + e.Reason
}

// Unwrap returns storage.ErrCorrupt, storage.ErrUnsupported, ErrNoSessions or ErrNoAuthKey.
func (e *Error) Unwrap() error { return e.Err }

func newError(d Dialect, kind error, reason string) error {
	return &Error{Dialect: d, Reason: reason, Err: kind}
}

// ReadFile reads the session file at path and, if it exists and is
// not empty, its write-ahead log path+"-wal". Nothing is written to disk:
// the files are opened read-only and loaded into a private in-memory
// database; the "-shm" index is not needed and not read.
//
// A hot rollback journal beside the file (path+"-journal" with a live
// header: the client crashed, or is running, in the middle of a
// transaction) is refused with storage.ErrUnsupported rather than rolled back in
// memory. The files are read one after the other, so the client should be
// stopped first: a client writing meanwhile can leave the copy inconsistent
// (which then fails SQLite's integrity check or misses recent rows).
func ReadFile(path string) (*File, error) {
	db, err := readCapped(path)
	if err != nil {
		return nil, err
	}
	return ReadFileBytes(path, db)
}

// ReadFileBytes is ReadFile for a caller that has read the file at path
// already (db, not modified or kept): the -wal and -journal beside it are
// read and checked as ReadFile does. A bulk import reads each file once.
func ReadFileBytes(path string, db []byte) (*File, error) {
	if len(db) > MaxSize {
		return nil, newError("", storage.ErrUnsupported, "the file is larger than the size limit")
	}
	wal, err := readCapped(path + "-wal")
	if errors.Is(err, os.ErrNotExist) {
		wal = nil
	} else if err != nil {
		return nil, err
	}
	if hot, err := hotJournal(path + "-journal"); err != nil {
		return nil, err
	} else if hot {
		return nil, newError("", storage.ErrUnsupported, "a rollback journal of an unfinished transaction lies beside the file (the client crashed or is running): open the session with its client once, or stop the client, then try again")
	}
	return Read(db, wal)
}

// journalMagic starts a rollback journal's header.
const journalMagic = "\xd9\xd5\x05\xf9\x20\xa1\x63\xd7"

// hotJournal reports whether a rollback journal with a live header lies
// at path: a transaction was interrupted (or is running), and the database
// file may hold pages that SQLite would roll back before reading. An empty
// journal or one with a zeroed header (journal_mode TRUNCATE or PERSIST)
// is not hot.
func hotJournal(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: foreign session: %w", err)
	}
	defer f.Close()
	var hdr [8]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return false, nil // shorter than a header: nothing to roll back
	}
	return string(hdr[:]) == journalMagic, nil
}

func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("storage: foreign session: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("storage: foreign session: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, newError("", storage.ErrUnsupported, "not a regular file")
	}
	if st.Size() > MaxSize {
		return nil, newError("", storage.ErrUnsupported, "the file is larger than the size limit")
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("storage: foreign session: %w", err)
	}
	if len(b) > MaxSize {
		return nil, newError("", storage.ErrUnsupported, "the file is larger than the size limit")
	}
	return b, nil
}

// Read reads a foreign SQLite session file (Pyrogram, PyroFork,
// Kurigram or Telethon) from its bytes. wal is the content of its "-wal"
// file, or nil: the frames of its committed transactions are applied in
// memory (none if db is empty: SQLite itself discards the WAL of an empty
// database file). Neither slice is modified or kept. The rebuilt database
// must pass SQLite's quick_check.
//
// Errors are *Error wrapping storage.ErrUnsupported (not an SQLite file, an
// unknown schema, too large), storage.ErrCorrupt (a damaged file, impossible
// values) or ErrNoAuthKey (no key: nothing to import).
func Read(db []byte, wal []byte) (*File, error) { return read(db, wal, true) }

// read is Read, with the fast path for Pyrogram v3 files (fast.go) or
// with the SQLite engine only.
func read(db []byte, wal []byte, fast bool) (*File, error) {
	if len(db) > MaxSize || len(wal) > MaxSize {
		return nil, newError("", storage.ErrUnsupported, "the file is larger than the size limit")
	}
	if len(db) == 0 {
		// SQLite ignores (deletes) the WAL of an empty database file.
		return nil, newError("", storage.ErrUnsupported, "the file is empty")
	}
	if len(db) < sqliteHeaderSize || string(db[:16]) != sqliteMagic {
		return nil, newError("", storage.ErrUnsupported, "not an SQLite database")
	}
	if _, ok := headerPageSize(db); !ok {
		return nil, newError("", storage.ErrCorrupt, "the SQLite header has an invalid page size")
	}
	img, copied, err := applyWAL(db, wal)
	if err != nil {
		return nil, err
	}
	if len(img) < sqliteHeaderSize || string(img[:16]) != sqliteMagic {
		return nil, newError("", storage.ErrUnsupported, "not an SQLite database")
	}
	if _, ok := headerPageSize(img); !ok {
		return nil, newError("", storage.ErrCorrupt, "the SQLite header has an invalid page size")
	}
	// A WAL-mode database (read/write versions 2) cannot be opened from
	// memory; with the WAL applied it is an ordinary rollback-journal image.
	if img[18] == 2 || img[19] == 2 {
		if !copied {
			img = slices.Clone(img)
			copied = true
		}
		img[18], img[19] = 1, 1
	}
	if copied {
		defer clear(img) // it holds the auth key
	}

	if fast {
		if f, ok, err := readFast(img); ok {
			return f, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	r, err := openImage(ctx, img)
	if err != nil {
		return nil, err
	}
	defer r.close()
	return r.read()
}

// reader reads one deserialized database.
type reader struct {
	ctx     context.Context
	db      *sql.DB
	conn    *sql.Conn
	tables  map[string]tableInfo // by lowercase name; tables only
	views   map[string]bool      // lowercase names of views
	indexes map[string]bool      // lowercase names of indexes
}

type tableInfo struct {
	sql  string
	cols map[string]bool // lowercase column names; nil until loaded
}

func openImage(ctx context.Context, img []byte) (*reader, error) {
	db, err := sql.Open("sqlite", ":memory:?_defensive=1")
	if err != nil {
		return nil, sqliteErr("", err)
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, sqliteErr("", err)
	}
	r := &reader{ctx: ctx, db: db, conn: conn}
	// Connection flags for an untrusted database: no functions with side
	// effects from the schema, checked cells, no writes, no temp files.
	for _, p := range []string{
		"PRAGMA trusted_schema=OFF",
		"PRAGMA cell_size_check=ON",
		"PRAGMA temp_store=MEMORY",
		"PRAGMA mmap_size=0",
	} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			r.close()
			return nil, sqliteErr("", err)
		}
	}
	err = conn.Raw(func(dc any) error {
		d, ok := dc.(interface{ Deserialize([]byte) error })
		if !ok {
			return errors.New("the sqlite driver cannot deserialize")
		}
		return d.Deserialize(img)
	})
	if err != nil {
		r.close()
		return nil, sqliteErr("", err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA query_only=ON"); err != nil {
		r.close()
		return nil, sqliteErr("", err)
	}
	return r, nil
}

func (r *reader) close() {
	if r.conn != nil {
		r.conn.Close()
	}
	r.db.Close()
}

// sqliteErr maps an SQLite error to a Error without its message,
// which may quote the file's schema.
func sqliteErr(d Dialect, err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return newError(d, storage.ErrUnsupported, "reading the database took too long")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 26: // SQLITE_NOTADB
			return newError(d, storage.ErrUnsupported, "not an SQLite database")
		case 11: // SQLITE_CORRUPT
			return newError(d, storage.ErrCorrupt, "the database is malformed")
		case 9: // SQLITE_INTERRUPT
			return newError(d, storage.ErrUnsupported, "reading the database took too long")
		case 7: // SQLITE_NOMEM
			return newError(d, storage.ErrUnsupported, "reading the database ran out of memory")
		}
		return newError(d, storage.ErrCorrupt, "SQLite cannot read the database (error code "+strconv.Itoa(se.Code())+")")
	}
	return newError(d, storage.ErrCorrupt, "the database cannot be read")
}

func (r *reader) read() (*File, error) {
	var check string
	if err := r.conn.QueryRowContext(r.ctx, "PRAGMA quick_check(1)").Scan(&check); err != nil {
		return nil, sqliteErr("", err)
	}
	if check != "ok" {
		return nil, newError("", storage.ErrCorrupt, "the database fails SQLite's integrity check")
	}
	if err := r.loadTables(); err != nil {
		return nil, err
	}
	d, err := r.dialect()
	if err != nil {
		return nil, err
	}
	f := &File{Dialect: d}
	if f.SchemaVersion, err = r.schemaVersion(); err != nil {
		return nil, err
	}
	if d == DialectPyrogramV2 && f.SchemaVersion == 1 {
		f.Dialect = DialectPyrogramV1
	}
	if isTelethon(d) {
		err = r.readTelethon(f)
	} else {
		err = r.readPyrogram(f)
	}
	if err != nil {
		return nil, err
	}
	f.Lacks = lacks(f.Session)
	return f, nil
}

func isTelethon(d Dialect) bool { return d == DialectTelethonV7 || d == DialectTelethonOld }

func (r *reader) loadTables() error {
	rows, err := r.conn.QueryContext(r.ctx, "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table','view','index')")
	if err != nil {
		return sqliteErr("", err)
	}
	defer rows.Close()
	r.tables = map[string]tableInfo{}
	r.views = map[string]bool{}
	r.indexes = map[string]bool{}
	for rows.Next() {
		var typ, name, stmt sql.NullString
		if err := rows.Scan(&typ, &name, &stmt); err != nil {
			return sqliteErr("", err)
		}
		n := strings.ToLower(name.String)
		switch typ.String {
		case "table":
			r.tables[n] = tableInfo{sql: stmt.String}
		case "view":
			r.views[n] = true
		case "index":
			r.indexes[n] = true
		}
	}
	if err := rows.Err(); err != nil {
		return sqliteErr("", err)
	}
	return nil
}

func (r *reader) hasIndex(name string) bool {
	return r.indexes[name]
}

func (r *reader) hasTable(name string) bool {
	_, ok := r.tables[name]
	return ok
}

// columns returns the lowercase column names of a table, or nil if there is
// no such table. Virtual tables and generated columns are refused: reading
// them would run code the file chose.
func (r *reader) columns(table string) (map[string]bool, error) {
	t, ok := r.tables[table]
	if !ok {
		if r.views[table] {
			return nil, newError("", storage.ErrUnsupported, "a session table is a view")
		}
		return nil, nil
	}
	if t.cols != nil {
		return t.cols, nil
	}
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(t.sql)), "CREATE VIRTUAL") {
		return nil, newError("", storage.ErrUnsupported, "a session table is a virtual table")
	}
	rows, err := r.conn.QueryContext(r.ctx, "SELECT name, hidden FROM pragma_table_xinfo(?)", table)
	if err != nil {
		return nil, sqliteErr("", err)
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var name sql.NullString
		var hidden sql.NullInt64
		if err := rows.Scan(&name, &hidden); err != nil {
			return nil, sqliteErr("", err)
		}
		if hidden.Int64 == 1 || hidden.Int64 == 2 { // hidden or computed on read
			return nil, newError("", storage.ErrUnsupported, "a session table has generated columns")
		}
		cols[strings.ToLower(name.String)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, sqliteErr("", err)
	}
	t.cols = cols
	r.tables[table] = t
	return cols, nil
}

func hasAll(cols map[string]bool, names ...string) bool {
	for _, n := range names {
		if !cols[n] {
			return false
		}
	}
	return true
}

// dialect identifies the schema from its tables and columns.
func (r *reader) dialect() (Dialect, error) {
	sess, err := r.columns("sessions")
	if err != nil {
		return "", err
	}
	if sess == nil {
		return "", newError("", ErrNoSessions, "no sessions table: not a Pyrogram or Telethon session file")
	}
	if !hasAll(sess, "dc_id", "auth_key") {
		return "", newError("", storage.ErrUnsupported, "the sessions table has an unknown layout")
	}
	// Telethon: sessions(dc_id, server_address, port, auth_key[, takeout_id])
	// and entities; no Pyrogram columns.
	if !sess["user_id"] && !sess["test_mode"] && !sess["api_id"] && hasAll(sess, "server_address", "port") {
		ent, err := r.columns("entities")
		if err != nil {
			return "", err
		}
		if ent != nil && !hasAll(ent, "id", "hash") {
			return "", newError("", storage.ErrUnsupported, "the entities table has an unknown layout")
		}
		if ent["date"] && sess["takeout_id"] {
			return DialectTelethonV7, nil
		}
		return DialectTelethonOld, nil
	}
	if !hasAll(sess, "test_mode", "user_id", "is_bot") {
		return "", newError("", storage.ErrUnsupported, "the sessions table has an unknown layout")
	}
	peers, err := r.columns("peers")
	if err != nil {
		return "", err
	}
	if peers == nil || !hasAll(peers, "id", "access_hash", "type") {
		return "", newError("", storage.ErrUnsupported, "no peers table of a known layout")
	}
	if _, err := r.columns("update_state"); err != nil {
		return "", err
	}
	un, err := r.columns("usernames")
	if err != nil {
		return "", err
	}
	switch {
	case un != nil && hasAll(un, "id", "peer_id"):
		return DialectPyroForkV4, nil
	case un != nil && hasAll(un, "id", "username"):
		switch {
		case sess["server_address"]:
			return DialectKurigramV7, nil
		case r.hasIndex("idx_usernames_id"):
			return DialectKurigramV6, nil
		case r.hasTable("update_state"):
			return DialectKurigramV5, nil
		}
		return DialectKurigramV4, nil
	case un != nil:
		return "", newError("", storage.ErrUnsupported, "the usernames table has an unknown layout")
	case sess["server_address"]:
		// Kurigram creates usernames from v4 on; be lenient if it was dropped.
		return DialectKurigramV7, nil
	case r.hasTable("update_state"):
		// A Pyrogram file migrated by PyroFork: usernames comes later.
		return DialectPyroForkV4, nil
	case sess["api_id"]:
		return DialectPyrogramV3, nil
	}
	if !peers["username"] {
		return "", newError("", storage.ErrUnsupported, "the peers table has an unknown layout")
	}
	return DialectPyrogramV2, nil // or v1: told apart by the version row
}

// schemaVersion reads version.number (Pyrogram) or version.version
// (Telethon): the largest value, 0 if there is none.
func (r *reader) schemaVersion() (int, error) {
	cols, err := r.columns("version")
	if err != nil || cols == nil {
		return 0, err
	}
	col := "number"
	if !cols[col] {
		col = "version"
		if !cols[col] {
			return 0, nil
		}
	}
	var v any
	err = r.conn.QueryRowContext(r.ctx, `SELECT max("`+col+`") FROM version`).Scan(&v)
	if err != nil {
		return 0, sqliteErr("", err)
	}
	n, ok := asInt(v)
	if !ok || n < 0 || n > math.MaxInt32 {
		return 0, nil
	}
	return int(n), nil
}

// selectCols builds a SELECT of the wanted columns of table, with NULL for
// those the table lacks, so that rows scan by name whatever the order.
func selectCols(cols map[string]bool, table string, want ...string) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, w := range want {
		if i > 0 {
			b.WriteString(", ")
		}
		if cols[w] {
			b.WriteString(`"` + w + `"`)
		} else {
			b.WriteString("NULL")
		}
	}
	b.WriteString(` FROM "` + table + `"`)
	return b.String()
}

// sessionRow reads the first row of sessions (the row Pyrogram's and
// Telethon's accessors read) as loosely typed values by column name.
func (r *reader) sessionRow(d Dialect, want ...string) (map[string]any, error) {
	cols, err := r.columns("sessions")
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(want))
	ptrs := make([]any, len(want))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err = r.conn.QueryRowContext(r.ctx, selectCols(cols, "sessions", want...)+" LIMIT 1").Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &Error{Dialect: d, Reason: "the sessions table is empty", Err: ErrNoAuthKey}
	}
	if err != nil {
		return nil, sqliteErr(d, err)
	}
	m := make(map[string]any, len(want))
	for i, w := range want {
		m[w] = vals[i]
	}
	return m, nil
}

// authKey checks and copies the auth_key value; the scanned copy is wiped.
func authKey(d Dialect, v any) (sessionstring.AuthKey, error) {
	var b []byte
	switch x := v.(type) {
	case nil:
	case []byte:
		b = x
	case string:
		b = []byte(x)
	default:
		return sessionstring.AuthKey{}, newError(d, storage.ErrCorrupt, "the auth key is not a blob")
	}
	defer clear(b)
	if len(b) == 0 {
		return sessionstring.AuthKey{}, &Error{Dialect: d, Reason: "the auth key is missing", Err: ErrNoAuthKey}
	}
	if len(b) != sessionstring.AuthKeySize {
		return sessionstring.AuthKey{}, newError(d, storage.ErrCorrupt, fmt.Sprintf("the auth key is %d bytes, want %d", len(b), sessionstring.AuthKeySize))
	}
	k, err := sessionstring.NewAuthKey(b)
	if err != nil {
		// The size is right, so the key is all zero: Telethon's "no key".
		return sessionstring.AuthKey{}, &Error{Dialect: d, Reason: "the auth key is all zero", Err: ErrNoAuthKey}
	}
	return k, nil
}

func dcID(d Dialect, v any) (int, error) {
	n, ok := asInt(v)
	if !ok {
		return 0, newError(d, storage.ErrCorrupt, "dc_id is not an integer")
	}
	if n < 1 || n > 255 {
		return 0, newError(d, storage.ErrCorrupt, "dc_id is out of range")
	}
	return int(n), nil
}

// hostPort reads server_address/port. They are only hints (the DC id
// decides), so unusable values become unknown rather than errors.
func hostPort(s *sessionstring.Session, host, port any) {
	if h, ok := asText(host); ok && saneHost(strings.TrimSpace(h)) {
		s.Host = sessionstring.Some(strings.TrimSpace(h))
	}
	if p, ok := asInt(port); ok && p > 0 && p <= 65535 {
		s.Port = sessionstring.Some(int(p))
	}
}

// saneHost accepts an IP literal or a host name: 1 to 253 letters,
// digits, '.', '-', ':' or '_', so that nothing else reaches a terminal.
func saneHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '_') {
			return false
		}
	}
	return true
}

func (r *reader) readPyrogram(f *File) error {
	row, err := r.sessionRow(f.Dialect, "dc_id", "api_id", "test_mode", "auth_key", "date", "user_id", "is_bot", "server_address", "port")
	if err != nil {
		return err
	}
	if err := fillPyrogramSession(f, row); err != nil {
		return err
	}
	if err := r.readPyrogramPeers(f); err != nil {
		return err
	}
	if err := r.readUsernames(f); err != nil {
		return err
	}
	return r.readUpdateState(f, false)
}

// fillPyrogramSession reads a Pyrogram-family sessions row (loosely typed
// values by column name; absent columns are nil) into f.
func fillPyrogramSession(f *File, row map[string]any) error {
	d := f.Dialect
	s := &f.Session
	var err error
	if s.AuthKey, err = authKey(d, row["auth_key"]); err != nil {
		return err
	}
	if s.DCID, err = dcID(d, row["dc_id"]); err != nil {
		return err
	}
	if v := row["api_id"]; v != nil {
		n, ok := asInt(v)
		if !ok || n < 0 || n > math.MaxInt32 {
			return newError(d, storage.ErrCorrupt, "api_id is not a valid integer")
		}
		s.APIID = sessionstring.Some(int32(n))
	}
	if s.TestMode, err = optBool(d, "test_mode", row["test_mode"]); err != nil {
		return err
	}
	if s.IsBot, err = optBool(d, "is_bot", row["is_bot"]); err != nil {
		return err
	}
	if v := row["user_id"]; v != nil {
		n, ok := asInt(v)
		if !ok {
			return newError(d, storage.ErrCorrupt, "user_id is not an integer")
		}
		s.UserID = sessionstring.Some(n)
	}
	if n, ok := asInt(row["date"]); ok {
		f.Date = n
	}
	hostPort(s, row["server_address"], row["port"])
	return nil
}

func optBool(d Dialect, name string, v any) (sessionstring.Opt[bool], error) {
	if v == nil {
		return sessionstring.None[bool](), nil
	}
	n, ok := asInt(v)
	if !ok {
		if s, isText := asText(v); isText {
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "true":
				return sessionstring.Some(true), nil
			case "false":
				return sessionstring.Some(false), nil
			}
		}
		return sessionstring.Opt[bool]{}, newError(d, storage.ErrCorrupt, name+" is not a boolean")
	}
	return sessionstring.Some(n != 0), nil
}

func (r *reader) readPyrogramPeers(f *File) error {
	cols, err := r.columns("peers")
	if err != nil {
		return err
	}
	q := selectCols(cols, "peers", "id", "access_hash", "type", "username", "phone_number", "last_update_on")
	rows, err := r.conn.QueryContext(r.ctx, q)
	if err != nil {
		return sqliteErr(f.Dialect, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, hash, typ, user, phone, upd any
		if err := rows.Scan(&id, &hash, &typ, &user, &phone, &upd); err != nil {
			return sqliteErr(f.Dialect, err)
		}
		p, ok := pyrogramPeer(id, hash, typ, user, phone, upd)
		if !ok {
			f.SkippedPeers++
			continue
		}
		f.Peers = append(f.Peers, p)
	}
	if err := rows.Err(); err != nil {
		return sqliteErr(f.Dialect, err)
	}
	sortPeers(f)
	return nil
}

func pyrogramPeer(id, hash, typ, user, phone, upd any) (storage.Peer, bool) {
	var p storage.Peer
	var ok bool
	if p.ID, ok = asInt(id); !ok {
		return storage.Peer{}, false
	}
	t, ok := asText(typ)
	t = strings.ToLower(strings.TrimSpace(t))
	if !ok || t == "" {
		return storage.Peer{}, false
	}
	p.Type = storage.PeerType(t)
	if hash != nil {
		if p.AccessHash, ok = asInt(hash); !ok {
			return storage.Peer{}, false
		}
	}
	// The rest as written: a group's access_hash (Pyrogram writes 0 and
	// ignores it, another tool may not), the username's and phone's text.
	p.Username = text(user)
	p.Phone = text(phone)
	p.LastUpdateOn, _ = asInt(upd)
	return p, true
}

func sortPeers(f *File) {
	slices.SortStableFunc(f.Peers, func(a, b storage.Peer) int { return cmp.Compare(a.ID, b.ID) })
	// Primary keys make ids unique; a file without them keeps the first row.
	f.Peers = slices.CompactFunc(f.Peers, func(a, b storage.Peer) bool { return a.ID == b.ID })
}

// readUsernames reads PyroFork's usernames(id TEXT username, peer_id) or
// Kurigram's usernames(id INTEGER peer, username) into Usernames, and for
// Kurigram fills storage.Peer.Username from it.
//
// Kurigram: a peer's first username is its usernames row with the lowest
// rowid. Kurigram inserts a peer's usernames in the order Telegram lists
// them (the first is the main one, as Pyrogram's usernames[0]), so this is
// that order. If a peer has no rows there, peers.username is used where the
// column exists (a Pyrogram file migrated by Kurigram keeps it, and the
// usernames table starts empty).
func (r *reader) readUsernames(f *File) error {
	cols, err := r.columns("usernames")
	if err != nil || cols == nil {
		return err
	}
	pyrofork := f.Dialect == DialectPyroForkV4
	var q string
	if pyrofork {
		q = selectCols(cols, "usernames", "peer_id", "id")
	} else {
		q = selectCols(cols, "usernames", "id", "username")
	}
	if !strings.Contains(strings.ToUpper(r.tables["usernames"].sql), "WITHOUT ROWID") {
		q += " ORDER BY rowid"
	}
	rows, err := r.conn.QueryContext(r.ctx, q)
	if err != nil {
		return sqliteErr(f.Dialect, err)
	}
	defer rows.Close()
	byPeer := map[int64][]string{}
	for rows.Next() {
		var pid, name any
		if err := rows.Scan(&pid, &name); err != nil {
			return sqliteErr(f.Dialect, err)
		}
		id, ok := asInt(pid)
		u := text(name)
		if !ok || u == "" || slices.Contains(byPeer[id], u) {
			continue
		}
		byPeer[id] = append(byPeer[id], u)
	}
	if err := rows.Err(); err != nil {
		return sqliteErr(f.Dialect, err)
	}
	for i := range f.Peers {
		p := &f.Peers[i]
		names := byPeer[p.ID]
		if len(names) == 0 {
			continue
		}
		if p.Username == "" || !pyrofork {
			// Kurigram's table is authoritative; PyroFork's only adds.
			if !pyrofork && p.Username != "" && !slices.Contains(names, p.Username) {
				names = append(names, p.Username)
			}
			p.Username = names[0]
		}
		all := []string{p.Username}
		for _, n := range names {
			if !slices.Contains(all, n) {
				all = append(all, n)
			}
		}
		if len(all) > 1 {
			if f.Usernames == nil {
				f.Usernames = map[int64][]string{}
			}
			f.Usernames[p.ID] = all
		}
	}
	return nil
}

// readUpdateState reads update_state; telethon converts raw channel ids to
// marked ones.
func (r *reader) readUpdateState(f *File, telethon bool) error {
	cols, err := r.columns("update_state")
	if err != nil || cols == nil {
		return err
	}
	if !cols["id"] {
		return newError(f.Dialect, storage.ErrUnsupported, "the update_state table has an unknown layout")
	}
	rows, err := r.conn.QueryContext(r.ctx, selectCols(cols, "update_state", "id", "pts", "qts", "date", "seq"))
	if err != nil {
		return sqliteErr(f.Dialect, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, pts, qts, date, seq any
		if err := rows.Scan(&id, &pts, &qts, &date, &seq); err != nil {
			return sqliteErr(f.Dialect, err)
		}
		n, ok := asInt(id)
		if !ok {
			continue
		}
		if telethon && n > 0 {
			if n > math.MaxInt64-storage.ChannelOffset {
				continue
			}
			n = -(storage.ChannelOffset + n)
		}
		f.UpdateState = append(f.UpdateState, storage.UpdateState{ID: n, Pts: optInt(pts), Qts: optInt(qts), Date: optInt(date), Seq: optInt(seq)})
	}
	if err := rows.Err(); err != nil {
		return sqliteErr(f.Dialect, err)
	}
	slices.SortStableFunc(f.UpdateState, func(a, b storage.UpdateState) int {
		switch {
		case a.ID == b.ID:
			return 0
		case a.ID == 0:
			return -1
		case b.ID == 0:
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return nil
}

func optInt(v any) sessionstring.Opt[int64] {
	if n, ok := asInt(v); ok {
		return sessionstring.Some(n)
	}
	return sessionstring.None[int64]()
}

// readTelethon reads a Telethon SQLiteSession.
//
// Entities become Pyrogram-style peers: id > 0 is a user (Telethon does not
// store whether it is a bot), -10^12 < id < 0 a basic group, and the
// "-100..." ids are typed channel: Telethon does not store broadcast vs
// megagroup, and both types build the same InputPeerChannel. The row id 0
// is Telethon's self row: its hash is the account's user id.
func (r *reader) readTelethon(f *File) error {
	d := f.Dialect
	row, err := r.sessionRow(d, "dc_id", "server_address", "port", "auth_key")
	if err != nil {
		return err
	}
	s := &f.Session
	if s.AuthKey, err = authKey(d, row["auth_key"]); err != nil {
		return err
	}
	if s.DCID, err = dcID(d, row["dc_id"]); err != nil {
		return err
	}
	hostPort(s, row["server_address"], row["port"])
	if h, ok := s.Host.Get(); ok {
		// The one table of Telegram's addresses, as for a Telethon string.
		s.TestMode = sessionstring.TestModeOfAddress(h)
	}

	cols, err := r.columns("entities")
	if err != nil {
		return err
	}
	if cols != nil {
		rows, err := r.conn.QueryContext(r.ctx, selectCols(cols, "entities", "id", "hash", "username", "phone", "date"))
		if err != nil {
			return sqliteErr(d, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, hash, user, phone, date any
			if err := rows.Scan(&id, &hash, &user, &phone, &date); err != nil {
				return sqliteErr(d, err)
			}
			n, ok := asInt(id)
			h, hok := asInt(hash)
			if !ok || (hash != nil && !hok) {
				f.SkippedPeers++
				continue
			}
			if n == 0 {
				if h > 0 {
					s.UserID = sessionstring.Some(h)
				}
				continue
			}
			// As written; Telethon's INTEGER phone becomes its decimal
			// text (Pyrogram's phone_number is TEXT).
			p := storage.Peer{ID: n, AccessHash: h, Username: text(user), Phone: text(phone)}
			p.LastUpdateOn, _ = asInt(date)
			switch {
			case n > 0:
				p.Type = storage.PeerUser
			case n > -storage.ChannelOffset:
				p.Type = storage.PeerGroup
			default:
				p.Type = storage.PeerChannel
			}
			f.Peers = append(f.Peers, p)
		}
		if err := rows.Err(); err != nil {
			return sqliteErr(d, err)
		}
		sortPeers(f)
	}
	return r.readUpdateState(f, true)
}

// lacks lists, in a fixed order, the fields a Pyrogram export needs that
// the file did not give.
func lacks(s sessionstring.Session) []string {
	var l []string
	if !s.APIID.Known() {
		l = append(l, LackAPIID)
	}
	if !s.UserID.Known() {
		l = append(l, LackUserID)
	}
	if !s.IsBot.Known() {
		l = append(l, LackIsBot)
	}
	if !s.TestMode.Known() {
		l = append(l, LackTestMode)
	}
	return l
}

// asInt reads an SQLite value as an int64: integers, integral reals and
// decimal text. NULL and anything else is not an integer.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	case []byte:
		n, err := strconv.ParseInt(strings.TrimSpace(string(x)), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// asText reads an SQLite value as text (integers in decimal).
func asText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// text reads a username or phone as written: text as is, an integer
// (Telethon's phone) in decimal, NULL and anything else as "".
func text(v any) string {
	s, _ := asText(v)
	return s
}

// Snapshot returns the foreign file's content as a storage.Snapshot: the session
// row (Date included), the peers and the update state. The server address
// a Kurigram or Telethon file carries is in f.Session, not in the row,
// which has no column for it.
func (f *File) Snapshot() *storage.Snapshot {
	s := f.Session
	return &storage.Snapshot{
		Session: storage.SessionRow{
			DCID: s.DCID, APIID: s.APIID, TestMode: s.TestMode, AuthKey: s.AuthKey,
			Date: f.Date, UserID: s.UserID, IsBot: s.IsBot,
		},
		Peers:       f.Peers,
		UpdateState: f.UpdateState,
	}
}

// Storage returns a memory store holding the foreign file's session, peers
// and update state, with Pyrogram's semantics (lookups by id, username and
// phone work at once).
func (f *File) Storage(opts storage.Options) (*storage.Memory, error) {
	return storage.NewMemory(f.Snapshot(), opts)
}
