package storage

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"slices"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Memory is the memory engine: Pyrogram's schema v3 in a private in-memory
// SQLite database, gone at Close (Pyrogram's MemoryStorage, ":memory:").
// Lookups are served from the same write-back index as the file engine;
// changed rows reach SQLite on Flush, the session row at once.
//
// Memory is safe for concurrent use.
type Memory struct {
	*core
	db *sql.DB
}

var _ Storage = (*Memory)(nil)

// openMemDB opens a private in-memory SQLite database. database/sql would
// give every pooled connection its own ":memory:" database, so the pool
// is pinned to one connection.
func openMemDB() (*sql.DB, error) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// NewMemory returns a memory store holding snap (nil for an empty one,
// which gets Pyrogram's default row: DC 2, everything else NULL).
func NewMemory(snap *Snapshot, opts Options) (*Memory, error) {
	if snap == nil {
		snap = &Snapshot{Session: SessionRow{DCID: 2}}
	}
	db, err := openMemDB()
	if err != nil {
		return nil, err
	}
	m := &Memory{core: newCore(opts), db: db}
	m.trackDirty = true
	if err := m.init(snap); err != nil {
		db.Close()
		return nil, err
	}
	return m, nil
}

func (m *Memory) init(snap *Snapshot) error {
	ctx := context.Background()
	for _, q := range schemaSQL {
		if _, err := m.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("storage: create schema: %w", err)
		}
	}
	if _, err := m.db.ExecContext(ctx, "INSERT INTO version VALUES (?)", schemaVersion); err != nil {
		return fmt.Errorf("storage: create schema: %w", err)
	}
	if err := m.core.fill(snap); err != nil { // marks every row dirty
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeSessionLocked(); err != nil {
		return err
	}
	for id, u := range m.updates {
		if err := m.writeUpdateLocked(id, u); err != nil {
			return err
		}
	}
	for k, v := range m.meta {
		if err := m.writeMetaLocked(k, v); err != nil {
			return err
		}
	}
	return m.flushLocked()
}

func nullInt[T int32 | int64](o interface{ Get() (T, bool) }) any {
	if v, ok := o.Get(); ok {
		return int64(v)
	}
	return nil
}

func nullBool(o interface{ Get() (bool, bool) }) any {
	if v, ok := o.Get(); ok {
		if v {
			return int64(1)
		}
		return int64(0)
	}
	return nil
}

func (m *Memory) writeSessionLocked() error {
	r := m.session
	var key any
	if !r.AuthKey.IsZero() {
		key = r.AuthKey.Bytes()
		defer clear(key.([]byte))
	}
	// One row, as Pyrogram keeps it; dc_id is its primary key.
	tx, err := m.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.Exec("DELETE FROM sessions"); err != nil {
		return fmt.Errorf("storage: write session: %w", err)
	}
	_, err = tx.Exec("INSERT INTO sessions (dc_id, api_id, test_mode, auth_key, date, user_id, is_bot) VALUES (?, ?, ?, ?, ?, ?, ?)",
		r.DCID, nullInt[int32](r.APIID), nullBool(r.TestMode), key, r.Date, nullInt[int64](r.UserID), nullBool(r.IsBot))
	if err != nil {
		return fmt.Errorf("storage: write session: %w", err)
	}
	return tx.Commit()
}

func (m *Memory) writeUpdateLocked(id int64, u UpdateState) error {
	_, err := m.db.Exec("REPLACE INTO tgvault_update_state (id, pts, qts, date, seq) VALUES (?, ?, ?, ?, ?)",
		id, nullInt[int64](u.Pts), nullInt[int64](u.Qts), nullInt[int64](u.Date), nullInt[int64](u.Seq))
	if err != nil {
		return fmt.Errorf("storage: write update state: %w", err)
	}
	return nil
}

func (m *Memory) writeMetaLocked(key string, value []byte) error {
	if _, err := m.db.Exec("DELETE FROM tgvault_meta WHERE key = ?", key); err != nil {
		return fmt.Errorf("storage: write meta: %w", err)
	}
	if value == nil {
		return nil
	}
	if _, err := m.db.Exec("INSERT INTO tgvault_meta (key, value) VALUES (?, ?)", key, value); err != nil {
		return fmt.Errorf("storage: write meta: %w", err)
	}
	return nil
}

// flushLocked writes the changed peers to SQLite in one transaction.
func (m *Memory) flushLocked() error {
	if m.ndirty == 0 {
		return nil
	}
	tx, err := m.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	st, err := tx.Prepare("REPLACE INTO peers (id, access_hash, type, username, phone_number, last_update_on) VALUES (?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer st.Close()
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	// The marks are cleared only once the transaction commits: a failed
	// flush keeps every row dirty for the next one.
	saved := slices.Clone(m.dirty)
	err = m.eachDirty(func(p *Peer) error {
		_, err := st.Exec(p.ID, p.AccessHash, string(p.Type), null(p.Username), null(p.Phone), p.LastUpdateOn)
		return err
	})
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		m.dirty = saved
		m.ndirty = 0
		for _, w := range saved {
			m.ndirty += bits.OnesCount64(w)
		}
		return fmt.Errorf("storage: write peers: %w", err)
	}
	m.peersDirty = false
	return nil
}

// SetSession replaces the sessions row.
func (m *Memory) SetSession(r SessionRow) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.session = r
	return m.writeSessionLocked()
}

// SetMeta stores a value (nil deletes it).
func (m *Memory) SetMeta(key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	setMeta(m.meta, key, value)
	return m.writeMetaLocked(key, value)
}

// SetUpdateStates stores update state rows.
func (m *Memory) SetUpdateStates(us []UpdateState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, u := range us {
		m.updates[u.ID] = u
		if err := m.writeUpdateLocked(u.ID, u); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes batched peer changes into the SQLite database.
func (m *Memory) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return m.flushLocked()
}

// Close discards the database.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closeLocked()
	return m.db.Close()
}

// Image flushes and returns the SQLite database as it stands, serialised by
// SQLite itself: a Pyrogram v3 file with tgvault's extra tables.
func (m *Memory) Image() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if err := m.flushLocked(); err != nil {
		return nil, err
	}
	return serializeDB(m.db)
}

// serializeDB returns SQLite's own serialisation of db's main database.
func serializeDB(db *sql.DB) ([]byte, error) {
	conn, err := db.Conn(context.Background())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var out []byte
	err = conn.Raw(func(dc any) error {
		s, ok := dc.(interface{ Serialize() ([]byte, error) })
		if !ok {
			return fmt.Errorf("storage: sqlite driver cannot serialize")
		}
		var err error
		out, err = s.Serialize()
		return err
	})
	return out, err
}
