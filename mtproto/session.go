package mtproto

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	tdcrypto "github.com/gotd/td/crypto"
	tdsession "github.com/gotd/td/session"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// gotdMeta is the JSON stored under MetaGotd.
type gotdMeta struct {
	Salt   int64             `json:"salt"`
	Addr   string            `json:"addr,omitempty"`
	Config *tdsession.Config `json:"config,omitempty"`
}

// SessionOptions tune a SessionStorage. The zero value is the safe one: no
// new key may be created or stored.
type SessionOptions struct {
	// AllowNewKey lets gotd create a key when the store has none, and store
	// a new key over one that no user is known for. Only login flows set
	// it. An authorized key (the store knows its user id) is never
	// replaced, whatever this says.
	AllowNewKey bool

	// OnKeyLost, when set, is called once when the authorized key is lost:
	// old is the stored key, new the key gotd tried to store instead, or 0
	// when the server answered -404 and the client was stopped before
	// making one. It is called with no lock held, from a gotd goroutine.
	OnKeyLost func(old, new sessionstring.KeyID)

	// Now is the clock for the row's date column (time.Now when nil).
	Now func() time.Time
}

// SessionStorage is gotd's session.Storage backed by one account's
// storage.Storage. gotd's session data maps onto Pyrogram's row (dc_id,
// auth_key) and the MetaGotd value (salt, address, config); the row's other
// columns (user id, is_bot, api_id, test_mode) belong to tgvault and gotd
// never changes them.
//
// It fails closed: a load that cannot read the store returns that error,
// never "not found"; a store without a key yields ErrNoSession unless
// AllowNewKey; a key that differs from the authorized one is refused with a
// *KeyLostError, after which every call fails and the bound client is
// stopped.
//
// SessionStorage is safe for concurrent use.
type SessionStorage struct {
	store storage.Storage
	opts  SessionOptions

	mu      sync.Mutex
	failed  error       // sticky: set when a key was refused
	stop    func(error) // stops the client that uses this storage; may be nil
	pending []byte      // MetaGotd JSON that differs from the stored one in the salt only; see storeMeta

	// The MetaGotd JSON parsed last and what it parsed to (parseMeta): a
	// connect reads the same meta four times (LoadSession, storeMeta,
	// saltOnly, recordIdentity). The parsed value is never changed: its
	// Config is shared by the callers, who copy before they change.
	metaRaw []byte
	metaVal gotdMeta
}

var _ tdsession.Storage = (*SessionStorage)(nil)

// NewSessionStorage wraps one account's store. The store stays owned by the
// caller, who closes it after the client is done.
func NewSessionStorage(store storage.Storage, opts SessionOptions) *SessionStorage {
	return &SessionStorage{store: store, opts: opts}
}

func (s *SessionStorage) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// bindStop sets the function that stops the client using s. If a key was
// already refused, it is called at once.
func (s *SessionStorage) bindStop(stop func(error)) {
	s.mu.Lock()
	s.stop = stop
	failed := s.failed
	s.mu.Unlock()
	if failed != nil && stop != nil {
		stop(failed)
	}
}

// Err returns the error that stopped this storage (a *KeyLostError or
// ErrNewKeyRefused), or nil.
func (s *SessionStorage) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// LoadSession implements gotd's session.Storage.
func (s *SessionStorage) LoadSession(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return nil, s.failed
	}
	row, err := s.store.Session()
	if err != nil {
		return nil, fmt.Errorf("%w: load session: %w", ErrStore, err)
	}
	if row.AuthKey.IsZero() {
		if s.opts.AllowNewKey {
			// The one case where gotd may start a key exchange.
			return nil, tdsession.ErrNotFound
		}
		return nil, ErrNoSession
	}
	meta, err := s.loadMeta()
	if err != nil {
		return nil, err
	}
	data := tdsession.Data{
		DC:        row.DCID,
		Addr:      meta.Addr,
		AuthKey:   row.AuthKey.Bytes(),
		AuthKeyID: keyIDBytes(row.AuthKey.ID()),
		Salt:      meta.Salt,
	}
	if meta.Config != nil {
		data.Config = *meta.Config
	}
	return encodeGotd(ctx, &data)
}

// StoreSession implements gotd's session.Storage. gotd calls it on every new
// MTProto session of the primary DC, with the key it uses.
func (s *SessionStorage) StoreSession(ctx context.Context, raw []byte) error {
	s.mu.Lock()
	if s.failed != nil {
		err := s.failed
		s.mu.Unlock()
		return err
	}
	refused, lost, err := s.storeLocked(ctx, raw)
	var stop func(error)
	if refused != nil {
		s.failed = refused
		stop = s.stop
	}
	s.mu.Unlock()
	if refused == nil {
		return err
	}
	if lost != nil && s.opts.OnKeyLost != nil {
		s.opts.OnKeyLost(lost.Old, lost.New)
	}
	if stop != nil {
		stop(refused)
	}
	return refused
}

// storeLocked writes gotd's data unless it carries a key that may not be
// stored; then it returns refused (and lost, for an authorized key).
func (s *SessionStorage) storeLocked(ctx context.Context, raw []byte) (refused error, lost *KeyLostError, err error) {
	data, err := decodeGotd(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	key, err := sessionstring.NewAuthKey(data.AuthKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: gotd stored a bad key: %w", ErrCorruptSession, err)
	}
	if !bytes.Equal(data.AuthKeyID, keyIDBytes(key.ID())) {
		return nil, nil, fmt.Errorf("%w: gotd stored a key id that does not match its key", ErrCorruptSession)
	}
	row, err := s.store.Session()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: load session: %w", ErrStore, err)
	}
	dc := data.DC
	if dc == 0 {
		dc = row.DCID
	}
	switch {
	case row.AuthKey.Equal(key):
		if dc != row.DCID {
			if authorized(row) {
				// One key belongs to one DC; an authorized key never moves.
				return fmt.Errorf("%w: key %s reported for DC %d, stored for DC %d", ErrNewKeyRefused, key.ID(), dc, row.DCID), nil, nil
			}
			row.DCID = dc
			if err := s.store.SetSession(row); err != nil {
				return nil, nil, fmt.Errorf("%w: store session: %w", ErrStore, err)
			}
		}
	case !row.AuthKey.IsZero() && authorized(row):
		lost := &KeyLostError{Old: row.AuthKey.ID(), New: key.ID()}
		return lost, lost, nil
	case !s.opts.AllowNewKey:
		return fmt.Errorf("%w: key %s is not the stored key and no login is running", ErrNewKeyRefused, key.ID()), nil, nil
	default:
		// A login: the new key is not authorized by anyone yet.
		row.AuthKey = key
		row.DCID = dc
		row.UserID = sessionstring.None[int64]()
		row.IsBot = sessionstring.None[bool]()
		row.Date = s.now().Unix()
		if err := s.store.SetSession(row); err != nil {
			return nil, nil, fmt.Errorf("%w: store session: %w", ErrStore, err)
		}
	}
	return nil, nil, s.storeMeta(data)
}

func (s *SessionStorage) loadMeta() (gotdMeta, error) {
	var m gotdMeta
	b, ok := s.pending, s.pending != nil
	if !ok {
		var err error
		b, ok, err = s.store.Meta(MetaGotd)
		if err != nil {
			return m, fmt.Errorf("%w: load session meta: %w", ErrStore, err)
		}
	}
	if !ok {
		return m, nil
	}
	m, err := s.parseMeta(b)
	if err != nil {
		return m, fmt.Errorf("%w: meta %s: %w", ErrCorruptSession, MetaGotd, err)
	}
	return m, nil
}

// parseMeta parses MetaGotd JSON, once for the same bytes; the caller
// holds s.mu.
func (s *SessionStorage) parseMeta(b []byte) (gotdMeta, error) {
	if s.metaRaw != nil && bytes.Equal(b, s.metaRaw) {
		return s.metaVal, nil
	}
	var m gotdMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return gotdMeta{}, err
	}
	s.metaRaw, s.metaVal = bytes.Clone(b), m
	return m, nil
}

// storeMeta writes salt, address and config when they changed (through
// CacheMeta when the store is a MetaCacher): every write reseals the
// account file. A change of the server salt alone is not worth
// that: gotd learns a new salt on every new MTProto session (every connect)
// and recovers from a stale one with one bad_server_salt round trip. So a
// salt-only change is kept in memory (LoadSession serves it) and written
// with the next change that is written at once; a later process starts
// from the stored salt and pays one round trip. Without this, every start
// of a pool of N accounts resealed N files just for the salt.
func (s *SessionStorage) storeMeta(data *tdsession.Data) error {
	old, err := s.loadMeta()
	if err != nil && !errors.Is(err, ErrCorruptSession) {
		return err
	}
	m := gotdMeta{Salt: data.Salt, Addr: data.Addr, Config: &data.Config}
	if m.Addr == "" {
		m.Addr = old.Addr
	}
	if data.Config.ThisDC == 0 && len(data.Config.DCOptions) == 0 {
		m.Config = old.Config
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("mtproto: encode session meta: %w", err)
	}
	cur, ok, err := s.store.Meta(MetaGotd)
	if err != nil {
		return fmt.Errorf("%w: load session meta: %w", ErrStore, err)
	}
	if ok && bytes.Equal(cur, b) {
		s.pending = nil
		return nil
	}
	if ok && s.saltOnly(cur, m, b) {
		s.pending = b
		return nil
	}
	write := s.store.SetMeta
	if c, ok := s.store.(MetaCacher); ok {
		// Nothing in it is lost for good: the server sends address,
		// config and salt again on the next connect.
		write = c.CacheMeta
	}
	if err := write(MetaGotd, b); err != nil {
		return fmt.Errorf("%w: store session meta: %w", ErrStore, err)
	}
	s.pending = nil
	return nil
}

// MetaCacher is a store that can keep a meta value without saving it at
// once: CacheMeta stores it like SetMeta (Meta returns it), and it becomes
// durable with the store's next Flush (or Close). storage.File is one;
// tgvault run's stores are, so that their periodic flush saves what
// gotd's first connect of an imported account learns (the address and
// config) in batches. A SessionStorage over a MetaCacher writes MetaGotd
// through CacheMeta, since a crash that loses it loses nothing the server
// does not give again; the session row (the key) is always written at once.
type MetaCacher interface {
	CacheMeta(key string, value []byte) error
}

// saltOnly reports whether the stored meta cur differs from m in the salt
// alone (and the config's date and expiry, which change on every fetch).
// mJSON is m as JSON (storeMeta has it already); the caller holds s.mu.
func (s *SessionStorage) saltOnly(cur []byte, m gotdMeta, mJSON []byte) bool {
	c, err := s.parseMeta(cur)
	if err != nil {
		return false
	}
	c.Salt = m.Salt
	if c.Config != nil && m.Config != nil {
		// Telegram dates every config it sends.
		cc := *c.Config
		cc.Date, cc.Expires = m.Config.Date, m.Config.Expires
		c.Config = &cc
	}
	a, err := json.Marshal(c)
	return err == nil && bytes.Equal(a, mJSON)
}

// Identity is what a login learns about the account.
type Identity struct {
	UserID int64
	IsBot  bool
}

// setAuthorized records that the stored key is logged in as id, with the
// api id and test mode of the client that logged in. From then on the key
// is never replaced.
func (s *SessionStorage) setAuthorized(id Identity, apiID int32, testMode bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return s.failed
	}
	row, err := s.store.Session()
	if err != nil {
		return fmt.Errorf("%w: load session: %w", ErrStore, err)
	}
	if row.AuthKey.IsZero() {
		return ErrNoSession
	}
	row.UserID = sessionstring.Some(id.UserID)
	row.IsBot = sessionstring.Some(id.IsBot)
	row.APIID = sessionstring.Some(apiID)
	row.TestMode = sessionstring.Some(testMode)
	row.Date = s.now().Unix()
	if err := s.store.SetSession(row); err != nil {
		return fmt.Errorf("%w: store session: %w", ErrStore, err)
	}
	return nil
}

// authorized reports whether the row's key is logged in: its user is known.
func authorized(row storage.SessionRow) bool { return row.UserID.Known() }

func keyIDBytes(id sessionstring.KeyID) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(id))
	return b
}

// encodeGotd produces gotd's session JSON with gotd's own Loader, so that
// the bytes are exactly what gotd writes and reads.
func encodeGotd(ctx context.Context, data *tdsession.Data) ([]byte, error) {
	var mem tdsession.StorageMemory
	if err := (&tdsession.Loader{Storage: &mem}).Save(ctx, data); err != nil {
		return nil, fmt.Errorf("mtproto: encode session: %w", err)
	}
	b, err := mem.LoadSession(ctx)
	if err != nil {
		return nil, fmt.Errorf("mtproto: encode session: %w", err)
	}
	return b, nil
}

// decodeGotd parses gotd's session JSON strictly: an unknown version is an
// error, not "not found".
func decodeGotd(ctx context.Context, raw []byte) (*tdsession.Data, error) {
	var mem tdsession.StorageMemory
	if err := mem.StoreSession(ctx, raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptSession, err)
	}
	data, err := (&tdsession.Loader{Storage: &mem}).Load(ctx)
	if err != nil {
		// Version mismatches come back as gotd's ErrNotFound: not here.
		return nil, fmt.Errorf("%w: gotd session data: %v", ErrCorruptSession, err)
	}
	return data, nil
}

// gotdKey returns the stored key as gotd's type, for the dead-man switch's
// ping rewrite; false when the store holds none or cannot be read.
func (s *SessionStorage) gotdKey() (tdcrypto.AuthKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	row, err := s.store.Session()
	if err != nil || row.AuthKey.IsZero() {
		return tdcrypto.AuthKey{}, false
	}
	var k tdcrypto.Key
	copy(k[:], row.AuthKey.Bytes())
	return k.WithID(), true
}
