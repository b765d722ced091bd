package mtproto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	tdcrypto "github.com/gotd/td/crypto"
	tdsession "github.com/gotd/td/session"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// gotdJSON is what gotd's client would store for key on dc.
func gotdJSON(t testing.TB, key sessionstring.AuthKey, dc int, salt int64) []byte {
	t.Helper()
	b, err := encodeGotd(t.Context(), &tdsession.Data{
		DC:        dc,
		AuthKey:   key.Bytes(),
		AuthKeyID: keyIDBytes(key.ID()),
		Salt:      salt,
		Config:    tdsession.Config{ThisDC: dc, Date: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadSessionThroughGotdLoader(t *testing.T) {
	t.Parallel()
	store := mttest.NewMemory(t)
	key := mttest.RandomKey(t)
	mttest.SeedStore(t, store, key, 4, 42)
	s := NewSessionStorage(store, SessionOptions{})
	if err := s.StoreSession(t.Context(), gotdJSON(t, key, 4, 777)); err != nil {
		t.Fatal(err)
	}
	data, err := (&tdsession.Loader{Storage: s}).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// What gotd's client checks when it restores a connection.
	var k tdcrypto.AuthKey
	copy(k.Value[:], data.AuthKey)
	copy(k.ID[:], data.AuthKeyID)
	if k.Value.ID() != k.ID {
		t.Error("gotd would reject the key as corrupted")
	}
	if data.DC != 4 || data.Salt != 777 || data.Config.ThisDC != 4 {
		t.Errorf("data: dc %d salt %d config dc %d", data.DC, data.Salt, data.Config.ThisDC)
	}
	if got := sessionstring.KeyID(k.IntID()); got != key.ID() {
		t.Errorf("key id %s, want %s", got, key.ID())
	}
}

func TestLoadSessionFailsClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		store   func(t *testing.T) storage.Storage
		allow   bool
		want    error
		notGotd bool // must not be gotd's ErrNotFound
	}{
		{"no key", func(t *testing.T) storage.Storage { return mttest.NewMemory(t) }, false, ErrNoSession, true},
		{"no key, login", func(t *testing.T) storage.Storage { return mttest.NewMemory(t) }, true, tdsession.ErrNotFound, false},
		{"store error", func(t *testing.T) storage.Storage { return failingStore{mttest.NewMemory(t), errBroken} }, true, errBroken, true},
		{"bad meta", func(t *testing.T) storage.Storage {
			m := mttest.NewMemory(t)
			mttest.SeedStore(t, m, mttest.RandomKey(t), 2, 1)
			if err := m.SetMeta(MetaGotd, []byte("[")); err != nil {
				t.Fatal(err)
			}
			return m
		}, true, ErrCorruptSession, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewSessionStorage(tt.store(t), SessionOptions{AllowNewKey: tt.allow})
			_, err := (&tdsession.Loader{Storage: s}).Load(t.Context())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.notGotd && errors.Is(err, tdsession.ErrNotFound) {
				t.Fatalf("err = %v is gotd's ErrNotFound: gotd would create a key", err)
			}
		})
	}
}

func TestStoreSessionRefusesNewAuthorizedKey(t *testing.T) {
	t.Parallel()
	store := mttest.NewMemory(t)
	old := mttest.RandomKey(t)
	mttest.SeedStore(t, store, old, 2, 42)
	var lost keyLog
	var stopped []error
	s := NewSessionStorage(store, SessionOptions{AllowNewKey: true, OnKeyLost: lost.record})
	s.bindStop(func(err error) { stopped = append(stopped, err) })

	fresh := mttest.RandomKey(t)
	err := s.StoreSession(t.Context(), gotdJSON(t, fresh, 2, 1))
	var kl *KeyLostError
	if !errors.As(err, &kl) || kl.Old != old.ID() || kl.New != fresh.ID() {
		t.Fatalf("err = %v, want KeyLostError %s -> %s", err, old.ID(), fresh.ID())
	}
	if strings.Contains(err.Error(), "redacted") {
		t.Errorf("error mentions a key value: %v", err)
	}
	if c := lost.get(); len(c) != 1 || c[0] != [2]sessionstring.KeyID{old.ID(), fresh.ID()} {
		t.Errorf("OnKeyLost = %v", c)
	}
	if len(stopped) != 1 || !errors.Is(stopped[0], ErrKeyLost) {
		t.Errorf("stop calls = %v", stopped)
	}
	r := row(t, store)
	if !r.AuthKey.Equal(old) || r.UserID != sessionstring.Some[int64](42) {
		t.Error("authorized row overwritten")
	}
	// The storage stays failed: even the old key is not served again.
	if _, err := s.LoadSession(t.Context()); !errors.Is(err, ErrKeyLost) {
		t.Errorf("load after loss: %v", err)
	}
	if err := s.StoreSession(t.Context(), gotdJSON(t, old, 2, 1)); !errors.Is(err, ErrKeyLost) {
		t.Errorf("store after loss: %v", err)
	}
	if len(lost.get()) != 1 {
		t.Error("OnKeyLost called more than once")
	}
	// A client bound later is stopped at once.
	var late error
	s.bindStop(func(err error) { late = err })
	if !errors.Is(late, ErrKeyLost) {
		t.Errorf("late bind: %v", late)
	}
}

func TestStoreSessionRules(t *testing.T) {
	t.Parallel()
	k1, k2 := mttest.RandomKey(t), mttest.RandomKey(t)
	tests := []struct {
		name     string
		seed     func(t *testing.T, m storage.Storage)
		allow    bool
		store    sessionstring.AuthKey
		dc       int
		want     error
		wantKey  sessionstring.AuthKey
		wantUser bool
	}{
		{"login stores first key", func(*testing.T, storage.Storage) {}, true, k1, 2, nil, k1, false},
		{"no login refuses first key", func(*testing.T, storage.Storage) {}, false, k1, 2, ErrNewKeyRefused, sessionstring.AuthKey{}, false},
		{"login replaces unauthorized key", func(t *testing.T, m storage.Storage) {
			if err := m.SetSession(storage.SessionRow{DCID: 2, AuthKey: k2}); err != nil {
				t.Fatal(err)
			}
		}, true, k1, 2, nil, k1, false},
		{"no login keeps unauthorized key", func(t *testing.T, m storage.Storage) {
			if err := m.SetSession(storage.SessionRow{DCID: 2, AuthKey: k2}); err != nil {
				t.Fatal(err)
			}
		}, false, k1, 2, ErrNewKeyRefused, k2, false},
		{"same key", func(t *testing.T, m storage.Storage) { mttest.SeedStore(t, m, k1, 2, 42) }, false, k1, 2, nil, k1, true},
		{"same key other dc", func(t *testing.T, m storage.Storage) { mttest.SeedStore(t, m, k1, 2, 42) }, true, k1, 4, ErrNewKeyRefused, k1, true},
		{"other key (migration)", func(t *testing.T, m storage.Storage) { mttest.SeedStore(t, m, k1, 2, 42) }, true, k2, 4, ErrKeyLost, k1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mttest.NewMemory(t)
			tt.seed(t, m)
			s := NewSessionStorage(m, SessionOptions{AllowNewKey: tt.allow})
			err := s.StoreSession(t.Context(), gotdJSON(t, tt.store, tt.dc, 5))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			r := row(t, m)
			if !r.AuthKey.Equal(tt.wantKey) {
				t.Errorf("stored key %s, want %s", r.AuthKey.ID(), tt.wantKey.ID())
			}
			if r.UserID.Known() != tt.wantUser {
				t.Errorf("user id known = %v, want %v", r.UserID.Known(), tt.wantUser)
			}
			if tt.want == nil && r.DCID != tt.dc {
				t.Errorf("dc = %d, want %d", r.DCID, tt.dc)
			}
		})
	}
}

func TestStoreSessionRejectsBadData(t *testing.T) {
	t.Parallel()
	key := mttest.RandomKey(t)
	good := string(gotdJSON(t, key, 2, 1))
	tests := map[string]string{
		"unknown version": strings.Replace(good, `"Version":1`, `"Version":2`, 1),
		"not json":        "{",
		"empty":           "",
		"short key":       `{"Version":1,"Data":{"DC":2,"AuthKey":"AAAA","AuthKeyID":"AAAAAAAAAAA="}}`,
		"key id mismatch": mismatchedID(t, key),
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := mttest.NewMemory(t)
			mttest.SeedStore(t, m, key, 2, 42)
			s := NewSessionStorage(m, SessionOptions{AllowNewKey: true})
			err := s.StoreSession(t.Context(), []byte(raw))
			if !errors.Is(err, ErrCorruptSession) || errors.Is(err, tdsession.ErrNotFound) {
				t.Fatalf("err = %v, want ErrCorruptSession", err)
			}
			if !row(t, m).AuthKey.Equal(key) {
				t.Error("row changed")
			}
		})
	}
}

func mismatchedID(t *testing.T, key sessionstring.AuthKey) string {
	t.Helper()
	b, err := encodeGotd(context.Background(), &tdsession.Data{DC: 2, AuthKey: key.Bytes(), AuthKeyID: keyIDBytes(key.ID() + 1)})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStoreSessionWritesMetaOnlyOnChange(t *testing.T) {
	t.Parallel()
	m := mttest.NewMemory(t)
	key := mttest.RandomKey(t)
	mttest.SeedStore(t, m, key, 2, 42)
	counted := &countingStore{Storage: m}
	s := NewSessionStorage(counted, SessionOptions{})
	raw := gotdJSON(t, key, 2, 9)
	for range 3 {
		if err := s.StoreSession(t.Context(), raw); err != nil {
			t.Fatal(err)
		}
	}
	if counted.sets != 1 || counted.sessions != 0 {
		t.Errorf("SetMeta %d times, SetSession %d times; want 1 and 0", counted.sets, counted.sessions)
	}
}

// A new salt alone (every connect brings one) is served from memory and
// not written; a change of anything else is written at once, with the
// newest salt.
func TestStoreSessionDefersSaltOnly(t *testing.T) {
	t.Parallel()
	m := mttest.NewMemory(t)
	key := mttest.RandomKey(t)
	mttest.SeedStore(t, m, key, 2, 42)
	counted := &countingStore{Storage: m}
	s := NewSessionStorage(counted, SessionOptions{})
	store := func(raw []byte) {
		t.Helper()
		if err := s.StoreSession(t.Context(), raw); err != nil {
			t.Fatal(err)
		}
	}
	salt := func() int64 {
		t.Helper()
		data, err := (&tdsession.Loader{Storage: s}).Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return data.Salt
	}
	stored := func() int64 {
		t.Helper()
		b, ok, err := m.Meta(MetaGotd)
		if err != nil || !ok {
			t.Fatalf("meta: %v %v", ok, err)
		}
		var gm gotdMeta
		if err := json.Unmarshal(b, &gm); err != nil {
			t.Fatal(err)
		}
		return gm.Salt
	}
	store(gotdJSON(t, key, 2, 1)) // first connect: written
	if counted.sets != 1 || stored() != 1 {
		t.Fatalf("first store: %d writes, stored salt %d", counted.sets, stored())
	}
	for salt := int64(2); salt <= 4; salt++ { // reconnects: new salts only
		store(gotdJSON(t, key, 2, salt))
	}
	if counted.sets != 1 {
		t.Errorf("salt-only changes wrote the store %d more times, want 0", counted.sets-1)
	}
	if got := salt(); got != 4 {
		t.Errorf("LoadSession salt %d, want the newest (4)", got)
	}
	// A changed config is written at once, with the newest salt.
	b, err := encodeGotd(t.Context(), &tdsession.Data{DC: 2, AuthKey: key.Bytes(), AuthKeyID: keyIDBytes(key.ID()), Salt: 5,
		Config: tdsession.Config{ThisDC: 2, Date: 1, DCTxtDomainName: "changed"}})
	if err != nil {
		t.Fatal(err)
	}
	store(b)
	if counted.sets != 2 || stored() != 5 {
		t.Errorf("config change: %d writes, stored salt %d; want 2 and 5", counted.sets, stored())
	}
}

type countingStore struct {
	storage.Storage
	sets, sessions int
}

func (c *countingStore) SetMeta(k string, v []byte) error {
	c.sets++
	return c.Storage.SetMeta(k, v)
}

func (c *countingStore) SetSession(r storage.SessionRow) error {
	c.sessions++
	return c.Storage.SetSession(r)
}

func TestKeyUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		user     bool
		allow    bool
		dc       int
		want     error
		wantLost bool
	}{
		{"authorized key", true, false, 2, ErrKeyLost, true},
		{"authorized key during login", true, true, 2, ErrKeyLost, true},
		{"other DC", true, false, 4, nil, false},
		{"unauthorized key, login", false, true, 2, nil, false},
		{"unauthorized key, no login", false, false, 2, ErrNewKeyRefused, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mttest.NewMemory(t)
			key := mttest.RandomKey(t)
			r := storage.SessionRow{DCID: 2, AuthKey: key}
			if tt.user {
				r.UserID = sessionstring.Some[int64](42)
			}
			if err := m.SetSession(r); err != nil {
				t.Fatal(err)
			}
			var lost keyLog
			var stopped error
			s := NewSessionStorage(m, SessionOptions{AllowNewKey: tt.allow, OnKeyLost: lost.record})
			s.bindStop(func(err error) { stopped = err })
			err := s.keyUnknown(tt.dc)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !errors.Is(stopped, tt.want) || (tt.want == nil) != (stopped == nil) {
				t.Errorf("stopped with %v", stopped)
			}
			if got := len(lost.get()) == 1; got != tt.wantLost {
				t.Errorf("OnKeyLost calls %v", lost.get())
			} else if got && lost.get()[0] != [2]sessionstring.KeyID{key.ID(), 0} {
				t.Errorf("OnKeyLost = %v", lost.get())
			}
			if !row(t, m).AuthKey.Equal(key) {
				t.Error("row changed")
			}
		})
	}
}

// Over a MetaCacher (a storage.File, as run's stores are), what gotd's
// first connect learns (address, config, salt) waits for the store's next
// flush instead of a save of its own; a crash before it loses nothing the
// next connect does not bring again. A new key is still saved at once.
func TestStoreSessionCachesMeta(t *testing.T) {
	t.Parallel()
	path, f := createFile(t)
	t.Cleanup(func() { _ = f.Close() })
	key := mttest.RandomKey(t)
	mttest.SeedStore(t, f, key, 2, 42)
	reopen := func() *storage.File {
		t.Helper()
		g, err := storage.OpenFile(path, xorSealer{}, storage.Binding{VaultID: "v1", AccountID: "a1"}, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Close() })
		return g
	}
	var _ MetaCacher = f
	s := NewSessionStorage(f, SessionOptions{})
	rev := f.Revision()
	if err := s.StoreSession(t.Context(), gotdJSON(t, key, 2, 7)); err != nil {
		t.Fatal(err)
	}
	if f.Revision() != rev {
		t.Fatalf("the first connect's meta saved the file (revision %d → %d)", rev, f.Revision())
	}
	if _, ok, err := f.Meta(MetaGotd); err != nil || !ok {
		t.Fatalf("meta not served before the flush: %v %v", ok, err)
	}
	// A crash now: the file on disk is as the import left it, and loads.
	crashed := reopen()
	if _, ok, _ := crashed.Meta(MetaGotd); ok {
		t.Fatal("the meta is on disk before the flush")
	}
	data, err := (&tdsession.Loader{Storage: NewSessionStorage(crashed, SessionOptions{})}).Load(t.Context())
	if err != nil || !bytes.Equal(data.AuthKey, key.Bytes()) {
		t.Fatalf("load after a crash: %v", err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if f.Revision() != rev+1 {
		t.Fatalf("flush: revision %d, want %d", f.Revision(), rev+1)
	}
	b, ok, err := reopen().Meta(MetaGotd)
	var gm gotdMeta
	if err != nil || !ok || json.Unmarshal(b, &gm) != nil || gm.Salt != 7 || gm.Config == nil || gm.Config.ThisDC != 2 {
		t.Fatalf("meta after the flush: %s %v %v", b, ok, err)
	}

	// A login's new key over a store without a user: the row is saved at
	// once, whatever waits for the flush.
	path2, f2 := createFile(t)
	t.Cleanup(func() { _ = f2.Close() })
	login := NewSessionStorage(f2, SessionOptions{AllowNewKey: true})
	newKey := mttest.RandomKey(t)
	if err := login.StoreSession(t.Context(), gotdJSON(t, newKey, 2, 1)); err != nil {
		t.Fatal(err)
	}
	g, err := storage.OpenFile(path2, xorSealer{}, storage.Binding{VaultID: "v1", AccountID: "a1"}, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if r, err := g.Session(); err != nil || !r.AuthKey.Equal(newKey) {
		t.Fatalf("the new key is not on disk at once: %v", err)
	}
}
