package storage

import (
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/tgvault/tgvault/sessionstring"
)

// testSealer is a real AEAD (XChaCha20-Poly1305 with a random key) for the
// storage package's own unit tests; the age sealer from package crypto is
// tested with storage in sealed_age_test.go.
type testSealer struct {
	key   []byte
	seals atomic.Int64
}

func newTestSealer(t testing.TB) *testSealer {
	k := make([]byte, chacha20poly1305.KeySize)
	rand.Read(k)
	return &testSealer{key: k}
}

func (s *testSealer) Seal(p []byte) ([]byte, error) {
	s.seals.Add(1)
	a, _ := chacha20poly1305.NewX(s.key)
	n := make([]byte, a.NonceSize(), a.NonceSize()+len(p)+a.Overhead())
	rand.Read(n)
	return a.Seal(n, n, p, nil), nil
}

var errTestOpen = errors.New("test sealer: message authentication failed")

func (s *testSealer) Open(c []byte) ([]byte, error) {
	a, _ := chacha20poly1305.NewX(s.key)
	if len(c) < a.NonceSize() {
		return nil, errTestOpen
	}
	p, err := a.Open(nil, c[:a.NonceSize()], c[a.NonceSize():], nil)
	if err != nil {
		return nil, errTestOpen
	}
	return p, nil
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1800000000, 0)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// engine opens stores of one kind for the conformance suite. reopen closes
// s and opens it again (nil for engines that do not persist).
type engine struct {
	name   string
	open   func(t *testing.T, snap *Snapshot, opts Options) Storage
	reopen func(t *testing.T, s Storage, opts Options) Storage
}

func engines() []engine {
	return []engine{
		{
			name: "memory",
			open: func(t *testing.T, snap *Snapshot, opts Options) Storage {
				m, err := NewMemory(snap, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return m
			},
		},
		{
			name: "file",
			open: func(t *testing.T, snap *Snapshot, opts Options) Storage {
				if snap == nil {
					snap = &Snapshot{Session: SessionRow{DCID: 2}}
				}
				s := newTestSealer(t)
				f, err := CreateFile(filepath.Join(t.TempDir(), "acct.age"), s, Binding{VaultID: "vault", AccountID: "acct", Revision: 1}, snap, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return f
			},
			reopen: func(t *testing.T, st Storage, opts Options) Storage {
				f := st.(*File)
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				g, err := OpenFile(f.Path(), f.sealer, Binding{VaultID: "vault", AccountID: "acct", Revision: f.binding.Revision}, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { g.Close() })
				return g
			},
		},
	}
}

// TestConformance runs the Storage contract against every engine.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			conformance(t, e)
		})
	}
}

func mustPeer(t *testing.T, s Storage, id int64) Peer {
	t.Helper()
	p, err := s.PeerByID(id)
	if err != nil {
		t.Fatalf("PeerByID(%d): %v", id, err)
	}
	return p
}

func conformance(t *testing.T, e engine) {
	t.Run("EmptySessionIsPyrogramDefault", func(t *testing.T) {
		t.Parallel()
		s := e.open(t, nil, Options{})
		r, err := s.Session()
		if err != nil {
			t.Fatal(err)
		}
		if r.DCID != 2 || r.APIID.Known() || r.UserID.Known() || !r.AuthKey.IsZero() || !r.Empty() {
			t.Fatalf("default row: %+v", r)
		}
	})
	t.Run("SessionRoundTrip", func(t *testing.T) {
		t.Parallel()
		s := e.open(t, nil, Options{})
		want := testRow(t)
		want.DCID = 4
		if err := s.SetSession(want); err != nil {
			t.Fatal(err)
		}
		check := func(s Storage) {
			got, err := s.Session()
			if err != nil {
				t.Fatal(err)
			}
			if got.DCID != 4 || got.APIID != want.APIID || got.TestMode != want.TestMode || !got.AuthKey.Equal(want.AuthKey) ||
				got.Date != want.Date || got.UserID != want.UserID || got.IsBot != want.IsBot || got.Empty() {
				t.Fatalf("session row: got %+v", got)
			}
		}
		check(s)
		if e.reopen != nil {
			check(e.reopen(t, s, Options{}))
		}
	})
	t.Run("NullFieldsStayUnknown", func(t *testing.T) {
		t.Parallel()
		s := e.open(t, nil, Options{})
		r := SessionRow{DCID: 1, AuthKey: testKey(t), UserID: sessionstring.Some[int64](0)}
		if err := s.SetSession(r); err != nil {
			t.Fatal(err)
		}
		if e.reopen != nil {
			s = e.reopen(t, s, Options{})
		}
		got, _ := s.Session()
		if got.APIID.Known() || got.TestMode.Known() || got.IsBot.Known() {
			t.Fatalf("unknown fields became known: %+v", got)
		}
		if v, ok := got.UserID.Get(); !ok || v != 0 {
			t.Fatal("a known zero user id was lost")
		}
	})
	t.Run("UpdatePeersReplaces", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		s := e.open(t, nil, Options{Now: c.Now})
		if err := s.UpdatePeers(vectorPeers()); err != nil {
			t.Fatal(err)
		}
		p := mustPeer(t, s, 111111111)
		if p.LastUpdateOn != c.Now().Unix() {
			t.Fatalf("last_update_on = %d, want the store's clock %d", p.LastUpdateOn, c.Now().Unix())
		}
		// A later REPLACE without a username clears it.
		c.Add(time.Minute)
		if err := s.UpdatePeers([]Peer{{ID: 111111111, AccessHash: 5, Type: PeerUser}}); err != nil {
			t.Fatal(err)
		}
		p = mustPeer(t, s, 111111111)
		if p.Username != "" || p.Phone != "" || p.AccessHash != 5 || p.LastUpdateOn != c.Now().Unix() {
			t.Fatalf("replaced row: %+v", p)
		}
		if _, err := s.PeerByUsername("alice_example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("old username still resolves: %v", err)
		}
		if _, err := s.PeerByPhone("15551234567"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("old phone still resolves: %v", err)
		}
		if n, _ := s.PeerCount(); n != 5 {
			t.Fatalf("PeerCount = %d", n)
		}
		if e.reopen != nil {
			s = e.reopen(t, s, Options{Now: c.Now})
			if p2 := mustPeer(t, s, 111111111); p2 != p {
				t.Fatalf("after reopen: %+v, want %+v", p2, p)
			}
			if n, _ := s.PeerCount(); n != 5 {
				t.Fatalf("PeerCount after reopen = %d", n)
			}
		}
	})
	t.Run("UsernamesAreLowercaseAndFirstOfMany", func(t *testing.T) {
		t.Parallel()
		s := e.open(t, nil, Options{})
		peers := []Peer{
			UserPeer(1, 11, false, "Alice_Example", nil, "+15550001"),
			UserPeer(2, 22, true, "", []string{"First_Bot", "second_bot"}, ""),
			ChannelPeer(1555555555, 33, true, "", []string{"Chan_A", "chan_b"}),
			ChannelPeer(2666666666, 44, false, "Super", nil),
			ChatPeer(444444444),
		}
		if err := s.UpdatePeers(peers); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			query string
			id    int64
			typ   PeerType
		}{
			{"alice_example", 1, PeerUser}, {"@ALICE_EXAMPLE", 1, PeerUser}, {"first_bot", 2, PeerBot},
			{"chan_a", -1001555555555, PeerChannel}, {"super", -1002666666666, PeerSupergroup},
		} {
			p, err := s.PeerByUsername(c.query)
			if err != nil || p.ID != c.id || p.Type != c.typ {
				t.Errorf("PeerByUsername(%q) = %+v, %v", c.query, p, err)
			}
		}
		if _, err := s.PeerByUsername("second_bot"); !errors.Is(err, ErrNotFound) {
			t.Errorf("only usernames[0] is stored, got %v", err)
		}
		if p, err := s.PeerByPhone("+15550001"); err != nil || p.ID != 1 || p.Phone != "15550001" {
			t.Errorf("PeerByPhone = %+v, %v", p, err)
		}
		if p := mustPeer(t, s, -444444444); p.Type != PeerGroup || p.AccessHash != 0 {
			t.Errorf("chat row %+v", p)
		}
	})
	t.Run("UnchangedPeerKeepsStampForAnHour", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		s := e.open(t, nil, Options{Now: c.Now})
		a := UserPeer(1, 1, false, "alice", nil, "")
		if err := s.UpdatePeers([]Peer{a}); err != nil {
			t.Fatal(err)
		}
		t0 := mustPeer(t, s, 1).LastUpdateOn
		c.Add(RefreshAfter - time.Minute)
		if err := s.UpdatePeers([]Peer{a}); err != nil {
			t.Fatal(err)
		}
		if got := mustPeer(t, s, 1).LastUpdateOn; got != t0 {
			t.Errorf("the same peer within the hour restamped: %d, was %d", got, t0)
		}
		c.Add(2 * time.Minute)
		if err := s.UpdatePeers([]Peer{a}); err != nil {
			t.Fatal(err)
		}
		if got := mustPeer(t, s, 1).LastUpdateOn; got != c.Now().Unix() {
			t.Errorf("after the hour: stamp %d, want now %d", got, c.Now().Unix())
		}
		// A change is written at once, with a new stamp.
		c.Add(time.Minute)
		a.AccessHash = 2
		if err := s.UpdatePeers([]Peer{a}); err != nil {
			t.Fatal(err)
		}
		if got := mustPeer(t, s, 1); got.AccessHash != 2 || got.LastUpdateOn != c.Now().Unix() {
			t.Errorf("changed peer: %+v", got)
		}
	})
	t.Run("UsernameTTL", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		s := e.open(t, nil, Options{Now: c.Now})
		if err := s.UpdatePeers([]Peer{UserPeer(1, 1, false, "old", nil, "")}); err != nil {
			t.Fatal(err)
		}
		c.Add(UsernameTTL)
		if _, err := s.PeerByUsername("old"); err != nil {
			t.Fatalf("at exactly 8 h the row is still fresh: %v", err)
		}
		c.Add(time.Second)
		if _, err := s.PeerByUsername("old"); !errors.Is(err, ErrUsernameExpired) {
			t.Fatalf("after 8 h: %v, want ErrUsernameExpired", err)
		}
		// The newest row with the name wins: a second peer takes it over.
		if err := s.UpdatePeers([]Peer{UserPeer(2, 2, false, "old", nil, "")}); err != nil {
			t.Fatal(err)
		}
		if p, err := s.PeerByUsername("old"); err != nil || p.ID != 2 {
			t.Fatalf("newest first: %+v, %v", p, err)
		}
		// A row dated in the future is expired too (Pyrogram uses abs()).
		c.Add(-2 * UsernameTTL)
		if _, err := s.PeerByUsername("old"); !errors.Is(err, ErrUsernameExpired) {
			t.Fatalf("future row: %v, want ErrUsernameExpired", err)
		}
		// Phone lookups have no TTL.
		if err := s.UpdatePeers([]Peer{UserPeer(3, 3, false, "", nil, "1234")}); err != nil {
			t.Fatal(err)
		}
		c.Add(100 * UsernameTTL)
		if _, err := s.PeerByPhone("1234"); err != nil {
			t.Fatalf("phone: %v", err)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := e.open(t, nil, Options{})
		if _, err := s.PeerByID(42); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		if _, err := s.PeerByUsername("nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		if _, err := s.PeerByPhone("1"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	})
	t.Run("RejectsBadPeers", func(t *testing.T) {
		t.Parallel()
		s := e.open(t, nil, Options{})
		var pte *PeerTypeError
		if err := s.UpdatePeers([]Peer{{ID: 1, Type: "martian"}}); !errors.As(err, &pte) {
			t.Fatalf("bad type: %v", err)
		}
		long := make([]byte, 300)
		for i := range long {
			long[i] = 'a'
		}
		if err := s.UpdatePeers([]Peer{{ID: 1, Type: PeerUser, Username: string(long)}}); err == nil {
			t.Fatal("an over-long username was stored")
		}
	})
	t.Run("MetaAndUpdateState", func(t *testing.T) {
		t.Parallel()
		s := e.open(t, nil, Options{})
		if err := s.SetMeta("device", []byte("pixel")); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMeta("gone", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMeta("gone", nil); err != nil {
			t.Fatal(err)
		}
		ups := []UpdateState{{ID: 0, Pts: sessionstring.Some[int64](100), Seq: sessionstring.Some[int64](5)}, {ID: -1001555555555, Pts: sessionstring.Some[int64](42)}}
		if err := s.SetUpdateStates(ups); err != nil {
			t.Fatal(err)
		}
		if e.reopen != nil {
			s = e.reopen(t, s, Options{})
		}
		if v, ok, err := s.Meta("device"); err != nil || !ok || string(v) != "pixel" {
			t.Fatalf("meta: %q %v %v", v, ok, err)
		}
		if _, ok, _ := s.Meta("gone"); ok {
			t.Fatal("deleted meta key is back")
		}
		got, err := s.UpdateStates()
		if err != nil || len(got) != 2 || got[0].ID != -1001555555555 || got[1].Pts.Or(0) != 100 || got[1].Qts.Known() {
			t.Fatalf("update state: %+v %v", got, err)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		t.Parallel()
		s := e.open(t, nil, Options{})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		for name, err := range map[string]error{
			"Session":     func() error { _, err := s.Session(); return err }(),
			"PeerByID":    func() error { _, err := s.PeerByID(1); return err }(),
			"UpdatePeers": s.UpdatePeers([]Peer{UserPeer(1, 1, false, "", nil, "")}),
			"SetSession":  s.SetSession(testRow(t)),
			"SetMeta":     s.SetMeta("k", []byte("v")),
			"Flush":       s.Flush(),
		} {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", name, err)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		s := e.open(t, &Snapshot{Session: testRow(t)}, Options{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := range 200 {
					id := int64(w*1000 + i + 1)
					if err := s.UpdatePeers([]Peer{UserPeer(id, id, false, fmt.Sprint("u", id), nil, "")}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for i := range 200 {
					s.PeerByID(int64(i))
					s.PeerByUsername(fmt.Sprint("u", i))
					if i%50 == 0 {
						if err := s.Flush(); err != nil {
							t.Error(err)
						}
					}
				}
			}()
		}
		wg.Wait()
		if n, _ := s.PeerCount(); n != 800 {
			t.Fatalf("PeerCount = %d, want 800", n)
		}
		if e.reopen != nil {
			s = e.reopen(t, s, Options{})
			if n, _ := s.PeerCount(); n != 800 {
				t.Fatalf("PeerCount after reopen = %d, want 800", n)
			}
		}
	})
}

func TestInputPeer(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p    Peer
		want InputPeer
	}{
		{Peer{ID: 111111111, AccessHash: 1234567890123456789, Type: PeerUser}, InputPeer{InputUser, 111111111, 1234567890123456789}},
		{Peer{ID: 5000000001, AccessHash: -8070450532247928832, Type: PeerBot}, InputPeer{InputUser, 5000000001, -8070450532247928832}},
		{Peer{ID: -444444444, AccessHash: 99, Type: PeerGroup}, InputPeer{InputChat, 444444444, 0}},
		{Peer{ID: -1001555555555, AccessHash: 7777777777777777777, Type: PeerChannel}, InputPeer{InputChannel, 1555555555, 7777777777777777777}},
		{Peer{ID: -1002666666666, AccessHash: -1, Type: PeerSupergroup}, InputPeer{InputChannel, 2666666666, -1}},
	} {
		got, err := c.p.InputPeer()
		if err != nil || got != c.want {
			t.Errorf("%s %d: got %+v, %v; want %+v", c.p.Type, c.p.ID, got, err, c.want)
		}
	}
	var pte *PeerTypeError
	if _, err := (Peer{ID: 1, Type: "unknown"}).InputPeer(); !errors.As(err, &pte) {
		t.Errorf("unknown type: %v", err)
	}
}
