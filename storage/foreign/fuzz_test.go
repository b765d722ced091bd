package foreign

import (
	"bytes"
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/storage"
)

// fuzzSeeds adds every .session vector, and a few cut or damaged
// variants, to f's corpus.
func fuzzSeeds(f *testing.F, add func(b []byte)) {
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
	add([]byte(sqliteMagic))
	// Schemas the vectors do not cover.
	key := foreignKey()
	add(buildDB(f, st(pyroV2Schema), st(`INSERT INTO version VALUES (1)`),
		st(`INSERT INTO sessions VALUES (2, 0, ?, 1, 2, 0)`, key),
		st(`INSERT INTO peers (id, access_hash, type, username, phone_number) VALUES (1, 2, 'user', 'A', '+1'), (-3, 4, 'group', NULL, NULL)`)))
	add(buildDB(f, st(pyroV3Schema+kurigramUsernames+updateStateSchema), pyroV3Session(key),
		st(`INSERT INTO peers (id, access_hash, type) VALUES (-1001, 5, 'supergroup')`),
		st(`INSERT INTO usernames VALUES (-1001, 'x'), (-1001, 'y')`),
		st(`INSERT INTO update_state VALUES (0, 1, 2, 3, 4), (-1001, 5, NULL, 6, NULL)`)))
	add(buildDB(f, st(telethonSchema), st(`INSERT INTO version VALUES (7)`),
		st(`INSERT INTO sessions VALUES (2, '149.154.167.40', 80, ?, NULL)`, key),
		st(`INSERT INTO entities VALUES (0, 9, NULL, NULL, NULL, 1), (5, 6, 'U', 15551234567, 'n', 2), (-1000000000007, 8, NULL, NULL, NULL, 3)`),
		st(`INSERT INTO update_state VALUES (7, 1, 0, 2, 0)`)))
}

// FuzzReadForeign feeds arbitrary bytes as a session file: Read must
// never panic, must fail only with a *Error of a known kind that
// quotes nothing, and must return sane values when it succeeds.
func FuzzReadForeign(f *testing.F) {
	fuzzSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := Read(data, nil)
		checkFuzzResult(t, fr, err)
	})
}

// FuzzReadForeignWAL feeds a WAL-mode database with an arbitrary WAL
// beside it, seeded with its real WAL.
func FuzzReadForeignWAL(f *testing.F) {
	db, wal := wALDB(f)
	f.Add(wal)
	f.Add(rechecksumWAL(wal))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, wal []byte) {
		fr, err := Read(db, wal)
		checkFuzzResult(t, fr, err)
	})
}

func checkFuzzResult(t *testing.T, fr *File, err error) {
	t.Helper()
	if err != nil {
		var fe *Error
		if !errors.As(err, &fe) {
			t.Fatalf("error %v (%T) is not a *Error", err, err)
		}
		if !errors.Is(err, storage.ErrCorrupt) && !errors.Is(err, storage.ErrUnsupported) {
			t.Fatalf("error %q is neither storage.ErrCorrupt nor storage.ErrUnsupported", err)
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
			if _, ok := errors.AsType[*storage.PeerTypeError](err); !ok {
				t.Fatalf("peer %d: %v", p.ID, err)
			}
		}
	}
	for id, names := range fr.Usernames {
		i, ok := slices.BinarySearchFunc(fr.Peers, id, func(p storage.Peer, id int64) int { return cmp.Compare(p.ID, id) })
		if !ok || fr.Peers[i].Username != names[0] {
			t.Fatalf("Usernames[%d] does not start with its peer's username", id)
		}
		if len(names) < 2 {
			t.Fatalf("Usernames[%d] has %d names", id, len(names))
		}
	}
}
