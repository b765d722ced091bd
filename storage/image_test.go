package storage

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage/internal/sqlitefile"
)

// testKey is the vectors' key: bytes 0..255.
func testKey(t testing.TB) sessionstring.AuthKey {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	k, err := sessionstring.NewAuthKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testRow(t testing.TB) SessionRow {
	return SessionRow{
		DCID: 2, APIID: sessionstring.Some[int32](12345), TestMode: sessionstring.Some(false),
		AuthKey: testKey(t), Date: 1700000000, UserID: sessionstring.Some[int64](123456789), IsBot: sessionstring.Some(false),
	}
}

// vectorPeers are the MANIFEST's Pyrogram-family peers.
func vectorPeers() []Peer {
	return []Peer{
		{ID: 111111111, AccessHash: 1234567890123456789, Type: PeerUser, Username: "alice_example", Phone: "15551234567", LastUpdateOn: 1700000000},
		{ID: 5000000001, AccessHash: -8070450532247928832, Type: PeerBot, Username: "example_bot", LastUpdateOn: 1700000000},
		{ID: -444444444, Type: PeerGroup, LastUpdateOn: 1700000000},
		{ID: -1001555555555, AccessHash: 7777777777777777777, Type: PeerChannel, Username: "example_channel", LastUpdateOn: 1700000000},
		{ID: -1002666666666, AccessHash: -1, Type: PeerSupergroup, Username: "example_supergroup", LastUpdateOn: 1700000000},
	}
}

// randomPeers makes n distinct peers of every type, with usernames and
// phones on some, shared usernames and phones on a few.
func randomPeers(n int, seed uint64) []Peer {
	r := rand.New(rand.NewPCG(seed, 1))
	seen := map[int64]bool{}
	out := make([]Peer, 0, n)
	types := []PeerType{PeerUser, PeerBot, PeerGroup, PeerChannel, PeerSupergroup}
	for len(out) < n {
		t := types[r.IntN(len(types))]
		var id int64
		switch t {
		case PeerUser, PeerBot:
			id = r.Int64N(1 << 40)
		case PeerGroup:
			id = -r.Int64N(1<<31) - 1
		default:
			id = -(ChannelOffset + r.Int64N(1<<32) + 1)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		p := Peer{ID: id, AccessHash: int64(r.Uint64()), Type: t, LastUpdateOn: 1700000000 + r.Int64N(1000)}
		if t == PeerGroup {
			p.AccessHash = 0
		}
		if t != PeerGroup && r.IntN(4) != 0 {
			p.Username = fmt.Sprintf("u%d_%x", len(out), r.Uint64())[:8+r.IntN(10)]
			if r.IntN(50) == 0 {
				p.Username = "shared_name"
			}
		}
		if (t == PeerUser) && r.IntN(2) == 0 {
			p.Phone = fmt.Sprintf("1555%07d", r.IntN(10000000))
		}
		out = append(out, p)
	}
	return out
}

// openImageSQL loads an image into SQLite itself (modernc), for checking
// what we wrote against SQLite's own reader.
func openImageSQL(t testing.TB, img []byte) *sql.DB {
	t.Helper()
	db, err := openMemDB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		return dc.(interface{ Deserialize([]byte) error }).Deserialize(img)
	})
	if err != nil {
		t.Fatalf("sqlite rejects the image: %v", err)
	}
	return db
}

func integrityCheck(t testing.TB, db *sql.DB) {
	t.Helper()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, s)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		t.Fatalf("integrity_check: %v", msgs[:min(len(msgs), 10)])
	}
}

func sqlPeerRows(t testing.TB, db *sql.DB) []Peer {
	t.Helper()
	rows, err := db.Query("SELECT id, access_hash, type, username, phone_number, last_update_on FROM peers ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Peer
	for rows.Next() {
		var p Peer
		var u, ph sql.NullString
		var typ string
		if err := rows.Scan(&p.ID, &p.AccessHash, &typ, &u, &ph, &p.LastUpdateOn); err != nil {
			t.Fatal(err)
		}
		p.Type, p.Username, p.Phone = PeerType(typ), u.String, ph.String
		out = append(out, p)
	}
	return out
}

func sortedPeers(ps []Peer) []Peer {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b Peer) int { return int(min(max(a.ID-b.ID, -1), 1)) })
	return ps
}

func TestImageIsValidSQLite(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 5, 300, 5000, 40000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			peers := randomPeers(n, uint64(n))
			if n == 5 {
				peers = vectorPeers()
			}
			snap := &Snapshot{
				Session:     testRow(t),
				Peers:       peers,
				UpdateState: []UpdateState{{ID: 0, Pts: sessionstring.Some[int64](100), Qts: sessionstring.Some[int64](7), Date: sessionstring.Some[int64](1700000000), Seq: sessionstring.Some[int64](5)}, {ID: -1001555555555, Pts: sessionstring.Some[int64](42)}},
				Meta:        map[string][]byte{"device": []byte(`{"model":"x"}`), "big": bytes.Repeat([]byte("y"), 20000)},
			}
			img, err := encodeImage(snap, &Binding{VaultID: "v1", AccountID: "a1", Revision: 7})
			if err != nil {
				t.Fatal(err)
			}
			db := openImageSQL(t, img)
			integrityCheck(t, db)
			if got, want := sqlPeerRows(t, db), sortedPeers(peers); !slices.Equal(got, want) {
				t.Fatalf("peers via SQLite differ: got %d rows, want %d", len(got), len(want))
			}
			// The indexes are used by SQLite's planner; check they answer.
			for _, p := range peers[:min(len(peers), 50)] {
				if p.Username == "" {
					continue
				}
				var n int
				if err := db.QueryRow("SELECT count(*) FROM peers INDEXED BY idx_peers_username WHERE username = ?", p.Username).Scan(&n); err != nil || n == 0 {
					t.Fatalf("username index lookup: n=%d err=%v", n, err)
				}
			}
			var dc, api, test, date, uid, bot int64
			var key []byte
			if err := db.QueryRow("SELECT dc_id, api_id, test_mode, auth_key, date, user_id, is_bot FROM sessions").Scan(&dc, &api, &test, &key, &date, &uid, &bot); err != nil {
				t.Fatal(err)
			}
			if dc != 2 || api != 12345 || test != 0 || date != 1700000000 || uid != 123456789 || bot != 0 || !bytes.Equal(key, testKey(t).Bytes()) {
				t.Fatalf("session row via SQLite: %d %d %d %d %d %d", dc, api, test, date, uid, bot)
			}
			var version int
			if err := db.QueryRow("SELECT number FROM version").Scan(&version); err != nil || version != 3 {
				t.Fatalf("version %d %v", version, err)
			}
			var big []byte
			if err := db.QueryRow("SELECT value FROM tgvault_meta WHERE key = 'big'").Scan(&big); err != nil || len(big) != 20000 {
				t.Fatalf("overflowing meta value: %d %v", len(big), err)
			}

			head, err := decodeImageHead(img)
			if err != nil {
				t.Fatal(err)
			}
			if *head.binding != (Binding{VaultID: "v1", AccountID: "a1", Revision: 7}) {
				t.Fatalf("binding %+v", head.binding)
			}
			if !head.session.AuthKey.Equal(testKey(t)) || head.session.UserID.Or(0) != 123456789 {
				t.Fatal("session row mismatch")
			}
			if !bytes.Equal(head.meta["big"], snap.Meta["big"]) || len(head.updates) != 2 {
				t.Fatal("meta or update state mismatch")
			}
			got, err := head.readPeers()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, sortedPeers(peers)) {
				t.Fatal("peers via our reader differ")
			}
		})
	}
}

// TestImageReadsSQLiteOutput reads an image SQLite itself serialised
// (the memory engine's), not just our own writer's output.
func TestImageReadsSQLiteOutput(t *testing.T) {
	t.Parallel()
	m, err := NewMemory(&Snapshot{Session: testRow(t), Peers: randomPeers(3000, 9)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	img, err := m.Image()
	if err != nil {
		t.Fatal(err)
	}
	head, err := decodeImageHead(img)
	if err != nil {
		t.Fatal(err)
	}
	peers, err := head.readPeers()
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 3000 || !head.session.AuthKey.Equal(testKey(t)) {
		t.Fatalf("got %d peers", len(peers))
	}
}

func TestPlainPyrogramHasOnlyPyrogramTables(t *testing.T) {
	t.Parallel()
	img, err := PlainPyrogram(&Snapshot{Session: testRow(t), Peers: vectorPeers()})
	if err != nil {
		t.Fatal(err)
	}
	db := openImageSQL(t, img)
	integrityCheck(t, db)
	rows, err := db.Query("SELECT name FROM sqlite_master ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		names = append(names, s)
	}
	if strings.Join(names, ",") != "idx_peers_id,idx_peers_phone_number,idx_peers_username,peers,sessions,trg_peers_last_update_on,version" {
		t.Fatalf("tables: %v", names)
	}
	for _, missing := range []struct {
		field string
		edit  func(*SessionRow)
	}{
		{"user_id", func(r *SessionRow) { r.UserID = sessionstring.None[int64]() }},
		{"is_bot", func(r *SessionRow) { r.IsBot = sessionstring.None[bool]() }},
		{"test_mode", func(r *SessionRow) { r.TestMode = sessionstring.None[bool]() }},
		{"auth_key", func(r *SessionRow) { r.AuthKey = sessionstring.AuthKey{} }},
		{"api_id", func(r *SessionRow) { r.APIID = sessionstring.None[int32]() }},
	} {
		r := testRow(t)
		missing.edit(&r)
		_, err := PlainPyrogram(&Snapshot{Session: r})
		var mf *MissingFieldError
		if !errorsAs(err, &mf) || mf.Field != missing.field {
			t.Errorf("missing %s: got %v", missing.field, err)
		}
	}
}

// TestMemoryFlushWritesChangedRows: after Flush the memory engine's SQLite
// database holds exactly what the index holds, replaced rows included.
func TestMemoryFlushWritesChangedRows(t *testing.T) {
	t.Parallel()
	m, err := NewMemory(&Snapshot{Session: testRow(t), Peers: randomPeers(500, 5)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	more := randomPeers(700, 6) // more rows, then replace some of them
	if err := m.UpdatePeers(more); err != nil {
		t.Fatal(err)
	}
	replaced := slices.Clone(more[:100])
	for i := range replaced {
		replaced[i].Username, replaced[i].AccessHash = "", 42
	}
	if err := m.UpdatePeers(replaced); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	snap, _ := m.Snapshot()
	if got, want := sqlPeerRows(t, m.db), sortedPeers(snap.Peers); !slices.Equal(got, want) {
		t.Fatalf("SQLite holds %d rows, the index %d, or they differ", len(got), len(want))
	}
	if m.ndirty != 0 {
		t.Fatalf("%d rows still marked dirty after Flush", m.ndirty)
	}
}

// TestRecordEncoders: the record encoders of a full build write what
// sqlitefile.AppendRecord writes.
func TestRecordEncoders(t *testing.T) {
	t.Parallel()
	peers := append(randomPeers(3000, 77), vectorPeers()...)
	peers = append(peers, Peer{ID: -1 << 63, AccessHash: 1<<63 - 1, Type: "community", Username: strings.Repeat("x", 255), Phone: strings.Repeat("9", 255), LastUpdateOn: -1})
	for _, p := range peers {
		want := sqlitefile.AppendRecord(nil, sqlitefile.Null(), sqlitefile.Int(p.AccessHash), sqlitefile.Text(string(p.Type)), sqlitefile.TextOpt(p.Username), sqlitefile.TextOpt(p.Phone), sqlitefile.Int(p.LastUpdateOn))
		if got := appendPeerRecord(nil, &p); !bytes.Equal(got, want) {
			t.Fatalf("peer record of %+v:\n got %x\nwant %x", p, got, want)
		}
		for _, s := range []string{p.Username, p.Phone} {
			if got, want := appendTextEntry(nil, s, p.ID), sqlitefile.AppendRecord(nil, sqlitefile.TextOpt(s), sqlitefile.Int(p.ID)); !bytes.Equal(got, want) {
				t.Fatalf("text entry %q %d: got %x want %x", s, p.ID, got, want)
			}
		}
		if got, want := appendIntEntry(nil, p.ID, p.ID), sqlitefile.AppendRecord(nil, sqlitefile.Int(p.ID), sqlitefile.Int(p.ID)); !bytes.Equal(got, want) {
			t.Fatalf("id entry %d: got %x want %x", p.ID, got, want)
		}
	}
}

// TestTextOrder: textOrder sorts as a comparison sort of (key, position)
// does, keys sharing long prefixes, empty keys and zero bytes included.
func TestTextOrder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 100, 5000} {
		keys := make([]string, n)
		for i := range keys {
			switch r.IntN(5) {
			case 0:
			case 1:
				keys[i] = "common_prefix_" + fmt.Sprint(r.IntN(50))
			case 2:
				keys[i] = strings.Repeat("\x00", r.IntN(10))
			default:
				keys[i] = fmt.Sprintf("%016x", r.Uint64())[:1+r.IntN(15)]
			}
		}
		want := make([]int32, n)
		for i := range want {
			want[i] = int32(i)
		}
		slices.SortStableFunc(want, func(a, b int32) int { return strings.Compare(keys[a], keys[b]) })
		if got := textOrder(keys); !slices.Equal(got, want) {
			t.Fatalf("n=%d: order differs", n)
		}
		ids := make([]Peer, n)
		for i := range ids {
			ids[i].ID = int64(r.Uint64())
		}
		got := idOrder(ids)
		if !slices.IsSortedFunc(got, func(a, b int32) int { return cmp.Compare(ids[a].ID, ids[b].ID) }) || len(got) != n {
			t.Fatalf("n=%d: id order not sorted", n)
		}
	}
}

// TestImagePageSize: a store of a few peers is written in 1 KiB pages
// (sqlite_master then spans pages under page 1), a large one or one with a
// key too long for a small page's index cell in 4 KiB pages, and SQLite
// reads each.
func TestImagePageSize(t *testing.T) {
	t.Parallel()
	long := vectorPeers()
	long[0].Username = strings.Repeat("n", smallPageMaxKey+1)
	for _, c := range []struct {
		name  string
		peers []Peer
		want  int
	}{
		{"none", nil, sqlitefile.SmallPageSize},
		{"vectors", vectorPeers(), sqlitefile.SmallPageSize},
		{"1000", randomPeers(smallImagePeers, 3), sqlitefile.SmallPageSize},
		{"1001", randomPeers(smallImagePeers+1, 3), sqlitefile.PageSize},
		{"a long username", long, sqlitefile.PageSize},
	} {
		img, err := encodeImage(&Snapshot{Session: testRow(t), Peers: c.peers, Meta: map[string][]byte{"big": bytes.Repeat([]byte("m"), 5000)}}, &Binding{"v", "a", 1})
		if err != nil {
			t.Fatal(err)
		}
		if ps := int(img[16])<<8 | int(img[17]); ps != c.want {
			t.Errorf("%s: page size %d, want %d", c.name, ps, c.want)
		}
		db := openImageSQL(t, img)
		integrityCheck(t, db)
		if got := sqlPeerRows(t, db); !slices.Equal(got, sortedPeers(c.peers)) {
			t.Errorf("%s: peers through SQL differ", c.name)
		}
		if head, err := decodeImageHead(img); err != nil || len(head.meta["big"]) != 5000 {
			t.Errorf("%s: our reader: %v", c.name, err)
		}
	}
}
