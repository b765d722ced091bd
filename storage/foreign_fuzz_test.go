package storage

import (
	"bytes"
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fgnFuzzSeeds adds every .session vector, and a few cut or damaged
// variants, to f's corpus.
func fgnFuzzSeeds(f *testing.F, add func(b []byte)) {
	paths, err := filepath.Glob(foreignVectors + "*/*.session")
	if err != nil || len(paths) == 0 {
		f.Fatalf("no vectors: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
		add(b[:len(b)/3])
		c := bytes.Clone(b)
		c[len(c)-100] ^= 0xff
		add(c)
	}
	add(nil)
	add([]byte(fgnSqliteMagic))
	// Schemas the vectors do not cover.
	key := foreignKey()
	add(fgnBuildDB(f, fgnSt(fgnPyroV2Schema), fgnSt(`INSERT INTO version VALUES (1)`),
		fgnSt(`INSERT INTO sessions VALUES (2, 0, ?, 1, 2, 0)`, key),
		fgnSt(`INSERT INTO peers (id, access_hash, type, username, phone_number) VALUES (1, 2, 'user', 'A', '+1'), (-3, 4, 'group', NULL, NULL)`)))
	add(fgnBuildDB(f, fgnSt(fgnPyroV3Schema+fgnKurigramUsernames+fgnUpdateStateSchema), fgnPyroV3Session(key),
		fgnSt(`INSERT INTO peers (id, access_hash, type) VALUES (-1001, 5, 'supergroup')`),
		fgnSt(`INSERT INTO usernames VALUES (-1001, 'x'), (-1001, 'y')`),
		fgnSt(`INSERT INTO update_state VALUES (0, 1, 2, 3, 4), (-1001, 5, NULL, 6, NULL)`)))
	add(fgnBuildDB(f, fgnSt(fgnTelethonSchema), fgnSt(`INSERT INTO version VALUES (7)`),
		fgnSt(`INSERT INTO sessions VALUES (2, '149.154.167.40', 80, ?, NULL)`, key),
		fgnSt(`INSERT INTO entities VALUES (0, 9, NULL, NULL, NULL, 1), (5, 6, 'U', 15551234567, 'n', 2), (-1000000000007, 8, NULL, NULL, NULL, 3)`),
		fgnSt(`INSERT INTO update_state VALUES (7, 1, 0, 2, 0)`)))
}

// FuzzReadForeign feeds arbitrary bytes as a session file: ReadForeign must
// never panic, must fail only with a *ForeignError of a known kind that
// quotes nothing, and must return sane values when it succeeds.
func FuzzReadForeign(f *testing.F) {
	fgnFuzzSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := ReadForeign(data, nil)
		fgnCheckFuzzResult(t, fr, err)
	})
}

// FuzzReadForeignWAL feeds a WAL-mode database with an arbitrary WAL
// beside it, seeded with its real WAL.
func FuzzReadForeignWAL(f *testing.F) {
	db, wal := fgnWALDB(f)
	f.Add(wal)
	f.Add(fgnRechecksumWAL(wal))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, wal []byte) {
		fr, err := ReadForeign(db, wal)
		fgnCheckFuzzResult(t, fr, err)
	})
}

func fgnCheckFuzzResult(t *testing.T, fr *Foreign, err error) {
	t.Helper()
	if err != nil {
		var fe *ForeignError
		if !errors.As(err, &fe) {
			t.Fatalf("error %v (%T) is not a *ForeignError", err, err)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("error %q is neither ErrCorrupt nor ErrUnsupported", err)
		}
		if strings.Contains(err.Error(), "example") || strings.Contains(err.Error(), "alice") {
			t.Fatalf("error %q quotes the file", err)
		}
		if fr != nil {
			t.Fatal("a result with an error")
		}
		return
	}
	if fr.Session.AuthKey.IsZero() {
		t.Fatal("success without an auth key")
	}
	if fr.Session.DCID < 1 || fr.Session.DCID > 255 {
		t.Fatalf("dc %d", fr.Session.DCID)
	}
	if fr.Dialect == "" {
		t.Fatal("no dialect")
	}
	for i, p := range fr.Peers {
		if i > 0 && fr.Peers[i-1].ID >= p.ID {
			t.Fatal("peers not sorted by unique id")
		}
		if _, err := p.InputPeer(); err != nil && p.Type != "" {
			if _, ok := errors.AsType[*PeerTypeError](err); !ok {
				t.Fatalf("peer %d: %v", p.ID, err)
			}
		}
	}
	for id, names := range fr.Usernames {
		i, ok := slices.BinarySearchFunc(fr.Peers, id, func(p Peer, id int64) int { return cmp.Compare(p.ID, id) })
		if !ok || fr.Peers[i].Username != names[0] {
			t.Fatalf("Usernames[%d] does not start with its peer's username", id)
		}
		if len(names) < 2 {
			t.Fatalf("Usernames[%d] has %d names", id, len(names))
		}
	}
}
