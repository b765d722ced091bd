package foreign

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/storage"
)

// sameRead reads data both ways, the fast path first, and fails the test
// when the fast path took the file and the results differ in any way
// (the File, or the error's kind and text). It reports whether the fast
// path took it.
func sameRead(t *testing.T, data, wal []byte) bool {
	t.Helper()
	img, _, err := applyWAL(data, wal)
	if err != nil || len(img) < sqliteHeaderSize {
		return false
	}
	if img[18] == 2 || img[19] == 2 {
		img = bytes.Clone(img)
		img[18], img[19] = 1, 1
	}
	ff, ok, ferr := readFast(img)
	if !ok {
		return false
	}
	ef, eerr := read(data, wal, false)
	if (ferr == nil) != (eerr == nil) || ferr != nil && ferr.Error() != eerr.Error() {
		t.Fatalf("fast path error %v, engine error %v", ferr, eerr)
	}
	if !reflect.DeepEqual(ff, ef) {
		t.Fatalf("fast path read\n%+v\nthe engine\n%+v", ff, ef)
	}
	return true
}

// TestFastMatchesEngine reads every Pyrogram v3 vector (as created and
// migrated from v2) and files made to exercise the fast path's corners
// both ways: the fast path must take them and agree with the SQLite
// engine to the byte.
func TestFastMatchesEngine(t *testing.T) {
	t.Parallel()
	key := foreignKey()
	cases := map[string][]byte{}
	for _, name := range []string{"pyrogram/pyrogram_v3.session", "pyrogram/pyrogram_v2_migrated_to_v3.session"} {
		b, err := os.ReadFile(filepath.Join(foreignVectors, name))
		if err != nil {
			t.Fatal(err)
		}
		cases[name] = b
	}
	cases["many peers, overflow, odd values"] = buildDB(t, exactV3Schema(), pyroV3Session(key),
		st(`INSERT INTO peers (id, access_hash, type, username, phone_number, last_update_on)
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 3000)
			SELECT i*7919 - 10000000, i*31, CASE i%5 WHEN 0 THEN 'user' WHEN 1 THEN 'BOT' WHEN 2 THEN 'group' WHEN 3 THEN 'channel' ELSE ' Supergroup ' END,
				CASE WHEN i%3 = 0 THEN NULL ELSE 'name' || i END, CASE WHEN i%7 = 0 THEN '+1555' || i ELSE NULL END, 1700000000 + i FROM n`),
		st(`INSERT INTO peers (id, access_hash, type, username, last_update_on) VALUES (5, 1.5, 'user', NULL, 1), (6, NULL, 'user', ?, 2.0), (7, 'x', 'user', NULL, 3), (8, 1, '', NULL, 4)`, string(bytes.Repeat([]byte("long"), 2000))),
		st(`DELETE FROM peers WHERE id % 11 = 0`))
	cases["no peers, no version"] = buildDB(t, exactV3Schema(), pyroV3Session(key))
	cases["empty sessions"] = buildDB(t, exactV3Schema(), st(`INSERT INTO version VALUES (4)`))
	cases["bad values"] = buildDB(t, exactV3Schema(), st(`INSERT INTO sessions VALUES (2, 'x', 0, ?, 1700000000, 123456789, 0)`, key))
	cases["short key"] = buildDB(t, exactV3Schema(), st(`INSERT INTO sessions VALUES (2, 1, 0, x'0102', 1700000000, 123456789, 0)`))
	// tgvault's own plain export (storage.WritePyrogramFile), as the dev
	// server and bench/gensessions write: small pages, one leaf each.
	v3, err := Read(cases["pyrogram/pyrogram_v3.session"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if cases["tgvault export"], err = storage.PlainPyrogram(v3.Snapshot()); err != nil {
		t.Fatal(err)
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if !sameRead(t, data, nil) {
				t.Fatal("the fast path did not take the file")
			}
		})
	}
}

// exactV3Schema creates Pyrogram v3's tables with Pyrogram's own text (the
// fast path takes no other) and its version row.
func exactV3Schema() stmt {
	var q []string
	for _, e := range pyrogramV3Schema {
		q = append(q, e.sql)
	}
	return st(strings.Join(q, ";\n") + ";\nINSERT INTO version VALUES (3)")
}

// FuzzFastMatchesEngine: whatever the fast path takes, it reads as the
// engine does.
func FuzzFastMatchesEngine(f *testing.F) {
	fuzzSeeds(f, func(b []byte) { f.Add(b) })
	key := foreignKey()
	f.Add(buildDB(f, exactV3Schema(), pyroV3Session(key),
		st(`INSERT INTO peers VALUES (1, 2, 'user', 'a', '1', 3), (-5, 0, 'group', NULL, NULL, 4), (7, 8, 'bot', ?, NULL, 5)`, strings.Repeat("x", 5000))))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameRead(t, data, nil)
	})
}

// BenchmarkReadPyrogramV3 reads the Pyrogram v3 vector (five peers) with
// the fast path and with the SQLite engine.
func BenchmarkReadPyrogramV3(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(foreignVectors, "pyrogram/pyrogram_v3.session"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		fast bool
	}{{"fast", true}, {"engine", false}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := read(data, nil, c.fast); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
