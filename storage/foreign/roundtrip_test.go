package foreign

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// row is one table row as SQLite holds it: each column's value (as
// text, "NULL" for NULL) and its storage class, typeof().
type row []string

// queryRows runs q (whose columns are pairs: value, typeof(value)) on
// the database file at path and returns its rows.
func queryRows(t *testing.T, path, q string) []row {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []row
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := make(row, len(cols))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				r[i] = "NULL"
			case []byte:
				r[i] = fmt.Sprintf("x'%x'", x)
			default:
				r[i] = fmt.Sprint(x)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pair selects a column and its storage class.
func pair(expr string) string { return expr + ", typeof(" + expr + ")" }

func selectSQL(table, order string, exprs ...string) string {
	var cols []string
	for _, e := range exprs {
		cols = append(cols, pair(e))
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + table + " " + order
}

// TestForeignRowsCarriedOver is the conformance test of the foreign
// readers: every vector file (each Pyrogram, PyroFork, Kurigram and
// Telethon file the real libraries made) is read, sealed into a vault
// file, opened again and exported as a plain Pyrogram file, and every row
// of the source comes back equal, column by column, storage class
// (typeof) included:
//
//   - peers: id, access_hash, type, username (Kurigram: its usernames
//     table's first row), phone_number, last_update_on. Telethon's
//     entities map to them: hash is access_hash, date is last_update_on,
//     and its INTEGER phone becomes Pyrogram's TEXT phone_number (the
//     column's own type), with the same digits.
//   - sessions: every column both schemas have; Telethon's self row (id 0)
//     is the user_id.
//   - update_state: every row and column, through the sealed file (a
//     Pyrogram v3 file has no such table); Telethon's raw channel ids come
//     back marked.
//
// Fields a file lacks (api_id, is_bot) are set as `tgvault set` would,
// and only for the export.
func TestForeignRowsCarriedOver(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(foreignVectors, "*", "*.session"))
	if err != nil || len(files) < 8 {
		t.Fatalf("vector files: %v (%d)", err, len(files))
	}
	// And a Pyrogram file as another tool might write it: a group with an
	// access hash, mixed-case usernames, a phone with '+' and spaces.
	other := filepath.Join(t.TempDir(), "other-tool.session")
	if err := os.WriteFile(other, buildDB(t, st(pyroV3Schema), st(`INSERT INTO version VALUES (3)`), pyroV3Session(foreignKey()),
		st(`INSERT INTO peers VALUES (-444444444, 987654321, 'group', NULL, NULL, 1700000000),
			(111111111, 1234567890123456789, 'user', 'Alice_Example', '+1 555 123-4567', 1700000001),
			(-1001555555555, 7777777777777777777, 'channel', 'Example_Channel', NULL, 1700000002)`)), 0o600); err != nil {
		t.Fatal(err)
	}
	files = append(files, other)
	for _, src := range files {
		name, _ := filepath.Rel(foreignVectors, src)
		if src == other {
			name = "other-tool"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fr, err := ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			// Through the sealed engine, as an import and an export do.
			sealer := newTestSealer(t)
			vaultPath := filepath.Join(t.TempDir(), "acct.age")
			b := storage.Binding{VaultID: "vault", AccountID: "acct", Revision: 1}
			f, err := storage.CreateFile(vaultPath, sealer, b, fr.Snapshot(), storage.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b.Revision = f.Revision()
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			g, err := storage.OpenFile(vaultPath, sealer, b, storage.Options{})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := g.Snapshot()
			g.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !snap.Session.APIID.Known() {
				snap.Session.APIID = sessionstring.Some[int32](12345)
			}
			if !snap.Session.IsBot.Known() {
				snap.Session.IsBot = sessionstring.Some(false)
			}
			out := filepath.Join(t.TempDir(), "export.session")
			if err := storage.WritePyrogramFile(out, snap); err != nil {
				t.Fatal(err)
			}
			telethon := isTelethon(fr.Dialect)
			kurigram := strings.HasPrefix(string(fr.Dialect), "kurigram")

			// peers
			exported := queryRows(t, out, selectSQL("peers", "ORDER BY id",
				"id", "access_hash", "type", "username", "phone_number", "last_update_on"))
			var source []row
			switch {
			case telethon:
				source = queryRows(t, src, selectSQL("entities", "WHERE id != 0 ORDER BY id",
					"id", "hash", "id", "username", "phone", "date"))
				for _, r := range source {
					r[4], r[5] = string(telethonType(r[0])), "text" // the type is the id's kind
					if r[9] == "integer" {
						r[9] = "text" // Pyrogram's phone_number is TEXT
					}
				}
			case kurigram:
				// Kurigram keeps usernames in their own table; a file it
				// migrated from Pyrogram keeps peers.username too, which
				// counts where the table has no row for the peer.
				user := "(SELECT username FROM usernames u WHERE u.id = peers.id ORDER BY u.rowid LIMIT 1)"
				if len(queryRows(t, src, "SELECT name, 'x' FROM pragma_table_info('peers') WHERE name = 'username'")) > 0 {
					user = "COALESCE(" + user + ", username)"
				}
				source = queryRows(t, src, selectSQL("peers", "ORDER BY id",
					"id", "access_hash", "type", user, "phone_number", "last_update_on"))
			default:
				source = queryRows(t, src, selectSQL("peers", "ORDER BY id",
					"id", "access_hash", "type", "username", "phone_number", "last_update_on"))
			}
			sameRows(t, "peers", source, exported)

			// sessions
			cols := []string{"dc_id", "test_mode", "auth_key", "date", "user_id", "is_bot"}
			if fr.Dialect != DialectPyrogramV1 && fr.Dialect != DialectPyrogramV2 {
				cols = append(cols, "api_id")
			}
			if telethon {
				cols = []string{"dc_id", "auth_key"}
			}
			sameRows(t, "sessions", queryRows(t, src, selectSQL("sessions", "", cols...)),
				queryRows(t, out, selectSQL("sessions", "", cols...)))
			if telethon {
				self := queryRows(t, src, selectSQL("entities", "WHERE id = 0", "hash"))
				user := queryRows(t, out, selectSQL("sessions", "", "user_id"))
				sameRows(t, "self row and user_id", self, user)
			}

			// update_state, through the sealed file.
			var state []row
			if telethon || fr.Dialect == DialectPyroForkV4 || kurigram {
				id := "id"
				if telethon {
					id = "CASE WHEN id > 0 THEN -(1000000000000 + id) ELSE id END"
				}
				state = queryRows(t, src, selectSQL("update_state", "", id, "pts", "qts", "date", "seq"))
			}
			var got []row
			for _, u := range snap.UpdateState {
				r := row{fmt.Sprint(u.ID), "integer"}
				for _, o := range []sessionstring.Opt[int64]{u.Pts, u.Qts, u.Date, u.Seq} {
					if v, ok := o.Get(); ok {
						r = append(r, fmt.Sprint(v), "integer")
					} else {
						r = append(r, "NULL", "null")
					}
				}
				got = append(got, r)
			}
			byID := func(a, b row) int { return cmp.Compare(atoi64(a[0]), atoi64(b[0])) }
			slices.SortFunc(state, byID)
			slices.SortFunc(got, byID)
			sameRows(t, "update_state", state, got)
		})
	}
}

func atoi64(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}

// telethonType is the Pyrogram type of a Telethon entity's marked id.
func telethonType(id string) storage.PeerType {
	var n int64
	fmt.Sscan(id, &n)
	switch {
	case n > 0:
		return storage.PeerUser
	case n > -storage.ChannelOffset:
		return storage.PeerGroup
	}
	return storage.PeerChannel
}

func sameRows(t *testing.T, table string, want, got []row) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d rows written back, the file has %d:\n got %q\nwant %q", table, len(got), len(want), got, want)
		return
	}
	for i := range want {
		if !slices.Equal(want[i], got[i]) {
			t.Errorf("%s row %d differs (value, storage class):\n got %q\nwant %q", table, i, got[i], want[i])
		}
	}
}

// TestForeignGroupHashCarriedOver: a group row's access_hash that the file
// holds (Pyrogram writes 0; another tool may not) comes back as written.
func TestForeignGroupHashCarriedOver(t *testing.T) {
	t.Parallel()
	img := buildDB(t, st(pyroV3Schema), st(`INSERT INTO version VALUES (3)`), pyroV3Session(foreignKey()),
		st(`INSERT INTO peers VALUES (-444444444, 987654321, 'group', NULL, NULL, 1700000000)`))
	fr, err := Read(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "export.session")
	if err := storage.WritePyrogramFile(out, fr.Snapshot()); err != nil {
		t.Fatal(err)
	}
	got := queryRows(t, out, selectSQL("peers", "", "access_hash"))
	if len(got) != 1 || !slices.Equal(got[0], row{"987654321", "integer"}) {
		t.Errorf("group access_hash written back as %q, want 987654321", got)
	}
}

// TestDCTableStringAndFile decodes every address of sessionstring's one DC
// table (and the expanded IPv6 form that tdesktop and gotd write) through
// the string decoders (Telethon, GramJS, gotd without a config) and
// through a Telethon .session file, and gets the same test mode from each:
// the table's. An address outside the table is unknown on both paths.
func TestDCTableStringAndFile(t *testing.T) {
	t.Parallel()
	key, err := sessionstring.NewAuthKey(foreignKey())
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		host string
		want sessionstring.Opt[bool]
	}
	var probes []probe
	for _, a := range sessionstring.DCAddresses() {
		probes = append(probes, probe{a.Host, sessionstring.Some(a.Test)})
		if ip := netip.MustParseAddr(a.Host); ip.Is6() {
			probes = append(probes, probe{ip.StringExpanded(), sessionstring.Some(a.Test)})
		}
	}
	probes = append(probes, probe{"10.0.0.1", sessionstring.None[bool]()}, probe{"2001:db8::1", sessionstring.None[bool]()})
	for _, p := range probes {
		s := sessionstring.Session{DCID: 2, AuthKey: key, Host: sessionstring.Some(p.host), Port: sessionstring.Some(443)}
		for _, f := range []sessionstring.Format{sessionstring.Telethon, sessionstring.GramJS, sessionstring.Gotd} {
			str, err := sessionstring.Encode(f, s)
			if err != nil {
				t.Fatal(err)
			}
			d, err := sessionstring.Decode(str)
			if err != nil {
				t.Fatalf("%s as %v: %v", p.host, f, err)
			}
			if d.Session.TestMode != p.want {
				t.Errorf("%s as a %v string: test mode %v, want %v", p.host, f, d.Session.TestMode, p.want)
			}
		}
		fr, err := Read(buildDB(t, st(telethonSchema), st(`INSERT INTO version VALUES (7)`),
			st(`INSERT INTO sessions VALUES (2, ?, 443, ?, NULL)`, p.host, foreignKey())), nil)
		if err != nil {
			t.Fatal(err)
		}
		if fr.Session.TestMode != p.want {
			t.Errorf("%s in a Telethon file: test mode %v, want %v", p.host, fr.Session.TestMode, p.want)
		}
	}
}

// testSealer is a real AEAD (XChaCha20-Poly1305 with a random key), as
// package storage's own tests use: the sealed engine needs a Sealer.
type testSealer struct{ key []byte }

func newTestSealer(t testing.TB) *testSealer {
	t.Helper()
	k := make([]byte, chacha20poly1305.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return &testSealer{key: k}
}

func (s *testSealer) Seal(p []byte) ([]byte, error) {
	a, _ := chacha20poly1305.NewX(s.key)
	n := make([]byte, a.NonceSize(), a.NonceSize()+len(p)+a.Overhead())
	_, _ = rand.Read(n)
	return a.Seal(n, n, p, nil), nil
}

func (s *testSealer) Open(c []byte) ([]byte, error) {
	a, _ := chacha20poly1305.NewX(s.key)
	if len(c) < a.NonceSize() {
		return nil, errors.New("test sealer: short message")
	}
	return a.Open(nil, c[:a.NonceSize()], c[a.NonceSize():], nil)
}
