package vault

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

func vectorSession(t testing.TB) sessionstring.Session {
	t.Helper()
	k, err := sessionstring.NewAuthKey(vectorKey())
	if err != nil {
		t.Fatal(err)
	}
	return sessionstring.Session{DCID: 2, AuthKey: k}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	base := vectorSession(t)
	full := base
	full.APIID = sessionstring.Some[int32](12345)
	full.UserID = sessionstring.Some[int64](-5)
	full.IsBot = sessionstring.Some(true)
	full.TestMode = sessionstring.Some(false)
	full.Host = sessionstring.Some("2001:67c:4e8:f002::a")
	full.Port = sessionstring.Some(443)
	peers := []storage.Peer{
		{ID: 111111111, AccessHash: 1234567890123456789, Type: storage.PeerUser, Username: "alice_example", Phone: "15551234567", LastUpdateOn: 1700000000},
		{ID: -1002666666666, AccessHash: -1, Type: storage.PeerSupergroup},
	}
	tests := []struct {
		name string
		e    envelope
	}{
		{"minimal", envelope{Session: base}},
		{"full", envelope{Session: full}},
		{"peers", envelope{Session: full, Peers: peers}},
		{"no peers but asked", envelope{Session: base, Peers: []storage.Peer{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := marshalEnvelope(&tc.e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := unmarshalEnvelope(b)
			if err != nil {
				t.Fatal(err)
			}
			g, w := got.Session, tc.e.Session
			if g.DCID != w.DCID || g.APIID != w.APIID || g.UserID != w.UserID || g.IsBot != w.IsBot ||
				g.TestMode != w.TestMode || g.Host != w.Host || g.Port != w.Port || !g.AuthKey.Equal(w.AuthKey) {
				t.Errorf("session differs")
			}
			if len(got.Peers) != len(tc.e.Peers) || (tc.e.Peers == nil) != (got.Peers == nil) {
				t.Fatalf("peers %d, want %d", len(got.Peers), len(tc.e.Peers))
			}
			for i := range got.Peers {
				if got.Peers[i] != tc.e.Peers[i] {
					t.Errorf("peer %d: %+v", i, got.Peers[i])
				}
			}
			b2, _ := marshalEnvelope(got)
			if !bytes.Equal(b, b2) {
				t.Error("re-encoding differs")
			}
			// Every truncation fails cleanly.
			for n := range len(b) {
				if _, err := unmarshalEnvelope(b[:n]); !errors.Is(err, ErrBadInput) {
					t.Fatalf("truncated to %d: %v", n, err)
				}
			}
			if _, err := unmarshalEnvelope(append(b, 0)); !errors.Is(err, ErrBadInput) {
				t.Errorf("trailing byte: %v", err)
			}
		})
	}
}

func TestEnvelopeRejects(t *testing.T) {
	b, _ := marshalEnvelope(&envelope{Session: vectorSession(t)})
	mod := func(f func([]byte)) []byte { c := bytes.Clone(b); f(c); return c }
	for name, in := range map[string][]byte{
		"magic":                   mod(func(c []byte) { c[0] = 'X' }),
		"version":                 mod(func(c []byte) { c[4] = 2 }),
		"unknown flag":            mod(func(c []byte) { c[5] = 0x80 }),
		"bot value without known": mod(func(c []byte) { c[6] |= envIsBot }),
		"zero key":                mod(func(c []byte) { clear(c[9:]) }),
	} {
		if _, err := unmarshalEnvelope(in); !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzEnvelope checks that the decoder never panics, and that whatever it
// accepts re-encodes to the same bytes (one encoding per value).
func FuzzEnvelope(f *testing.F) {
	s := vectorSession(f)
	b, _ := marshalEnvelope(&envelope{Session: s})
	f.Add(b)
	s.APIID = sessionstring.Some[int32](1)
	s.Host = sessionstring.Some("h")
	s.Port = sessionstring.Some(1)
	b, _ = marshalEnvelope(&envelope{Session: s, Peers: []storage.Peer{{ID: 1, Type: storage.PeerBot, Username: "x"}}})
	f.Add(b)
	b, _ = marshalEnvelope(&envelope{Session: s, Name: "alice", Peers: []storage.Peer{}})
	f.Add(b)
	f.Add([]byte("TGVH"))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := unmarshalEnvelope(in)
		if err != nil {
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("error %v does not match ErrBadInput", err)
			}
			return
		}
		out, err := marshalEnvelope(e)
		if err != nil {
			t.Fatalf("accepted envelope does not re-encode: %v", err)
		}
		if e.Peers == nil && !bytes.Equal(in, out) {
			t.Fatalf("re-encoding differs")
		}
		e2, err := unmarshalEnvelope(out)
		if err != nil || !e2.Session.AuthKey.Equal(e.Session.AuthKey) || len(e2.Peers) != len(e.Peers) || e2.Name != e.Name {
			t.Fatalf("round trip: %v", err)
		}
		if e.Name != "" && checkName(e.Name) != nil {
			t.Fatalf("accepted an invalid name")
		}
	})
}

// FuzzIndex checks that the index decoder never panics on any input (it
// reads only what the vault key sealed and authenticated, but is strict
// anyway), and that what it accepts re-encodes (as format 2) to an index
// that decodes to the same value.
func FuzzIndex(f *testing.F) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	f.Add(marshalIndex(&index{VaultID: "v"}))
	f.Add(marshalIndex(&index{VaultID: "v", MigratedTo: "postgres://h/db", Accounts: []Account{
		{Name: "a", ID: "00ff", DCID: 2, KeyID: "32d1586ea457dfc8", UserID: sessionstring.Some[int64](7), Status: StatusHandedOff, Reason: "r", Created: now},
	}}))
	f.Add([]byte("TGVI\x01\x01v\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := unmarshalIndex(in)
		if err != nil {
			return
		}
		out := marshalIndex(x)
		y, err := unmarshalIndex(out)
		if err != nil {
			t.Fatalf("re-encoded index does not decode: %v", err)
		}
		y.Version = x.Version
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("round trip differs:\n%+v\n%+v", x, y)
		}
	})
}

func TestIndexRoundTrip(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	x := &index{Version: indexVersion, VaultID: "v", MigratedTo: "postgres://h/db", Accounts: []Account{
		{Name: "a", ID: "1", DCID: 2, Status: StatusActive, KeyID: "32d1586ea457dfc8"},
		{Name: "b", ID: "2", UserID: sessionstring.Some[int64](-1), DCID: 5, IsBot: sessionstring.Some(true),
			TestMode: sessionstring.Some(false), APIID: sessionstring.Some[int32](-7), Status: StatusBroken,
			Reason: "why", Peers: 9, Revision: 1 << 40, Source: "s", Created: now, Updated: now.Add(time.Hour)},
	}}
	b := marshalIndex(x)
	got, err := unmarshalIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, x) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, x)
	}
	for n := range len(b) {
		if _, err := unmarshalIndex(b[:n]); err == nil {
			t.Fatalf("truncated to %d accepted", n)
		}
	}
}
