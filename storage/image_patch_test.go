package storage

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage/internal/sqlitefile"
)

// indexEntries returns the entries of the index b-tree at root, in order.
func indexEntries(t testing.TB, img []byte, root uint32) [][]byte {
	t.Helper()
	out, err := sqlitefile.IndexEntries(img, root)
	if err != nil {
		t.Fatalf("index at page %d: %v", root, err)
	}
	return out
}

// sameContent fails unless the two images hold the same rows in every
// table and the same entries in every index, in the same order, and got
// passes SQLite's integrity_check and answers SQL as want's rows say.
func sameContent(t testing.TB, got, want []byte) {
	t.Helper()
	sameRows(t, got, want)
	sqlChecks(t, openImageSQL(t, got), imagePeers(t, want))
}

func imagePeers(t testing.TB, img []byte) []Peer {
	t.Helper()
	h, err := decodeImageHead(img)
	if err != nil {
		t.Fatal(err)
	}
	peers, err := h.readPeers()
	if err != nil {
		t.Fatal(err)
	}
	return peers
}

// sameRows is sameContent without SQLite: rows and index entries only.
func sameRows(t testing.TB, got, want []byte) {
	t.Helper()
	hg, err := decodeImageHead(got)
	if err != nil {
		t.Fatal(err)
	}
	hw, err := decodeImageHead(want)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := hg.readPeers()
	if err != nil {
		t.Fatal(err)
	}
	pw, err := hw.readPeers()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pg, pw) {
		t.Fatalf("peers differ: %d rows, want %d", len(pg), len(pw))
	}
	sg, sw := hg.session, hw.session
	if !sg.AuthKey.Equal(sw.AuthKey) {
		t.Fatal("auth keys differ")
	}
	sg.AuthKey, sw.AuthKey = sessionstring.AuthKey{}, sessionstring.AuthKey{}
	if sg != sw || fmt.Sprint(hg.meta) != fmt.Sprint(hw.meta) || !slices.Equal(hg.updates, hw.updates) || *hg.binding != *hw.binding {
		t.Fatal("small tables differ")
	}
	for tree := treeIdxID; tree <= treeIdxPhone; tree++ {
		eg, ew := indexEntries(t, got, hg.peerRoots[tree]), indexEntries(t, want, hw.peerRoots[tree])
		if !slices.EqualFunc(eg, ew, bytes.Equal) {
			t.Fatalf("index %d differs: %d entries, want %d", tree, len(eg), len(ew))
		}
	}
}

// sqlChecks: SQLite finds db sound, and reads the rows pw through SQL,
// the username and phone indexes included.
func sqlChecks(t testing.TB, db *sql.DB, pw []Peer) {
	t.Helper()
	integrityCheck(t, db)
	if rows := sqlPeerRows(t, db); !slices.Equal(rows, pw) {
		t.Fatal("peers read through SQL differ")
	}
	for _, p := range pw[:min(len(pw), 40)] {
		for _, q := range []struct{ index, col, key string }{{"idx_peers_username", "username", p.Username}, {"idx_peers_phone_number", "phone_number", p.Phone}} {
			if q.key == "" {
				continue
			}
			var n int
			if err := db.QueryRow("SELECT count(*) FROM peers INDEXED BY "+q.index+" WHERE "+q.col+" = ? AND id = ?", q.key, p.ID).Scan(&n); err != nil || n != 1 {
				t.Fatalf("%s lookup through SQL: n=%d err=%v", q.index, n, err)
			}
		}
	}
}

// patchRig is a core with a kept image, changed and patched as a File
// does, but of any size (a File keeps only large images).
type patchRig struct {
	t    testing.TB
	c    *core
	kept *keptImage
	b    Binding
	r    *rand.Rand
	now  int64
	next int64
}

func newPatchRig(t testing.TB, peers []Peer, seed uint64) *patchRig {
	g := &patchRig{t: t, b: Binding{"v", "a", 1}, r: rand.New(rand.NewPCG(seed, 3)), now: 1700000000}
	g.c = newCore(Options{Now: func() time.Time { return time.Unix(g.now, 0) }})
	g.c.trackDirty = true
	if err := g.c.fill(&Snapshot{Session: testRow(t), Peers: peers}); err != nil {
		t.Fatal(err)
	}
	g.c.clearDirty()
	var err error
	// 4 KiB pages whatever the size: a File patches only those.
	if _, g.kept, err = buildImage(g.c.snapshotLocked(), &g.b, nil, sqlitefile.PageSize); err != nil {
		t.Fatal(err)
	}
	return g
}

// text returns a username or phone of 1 to max bytes, sometimes "" and
// sometimes one of a few shared values.
func (g *patchRig) text(max int) string {
	switch g.r.IntN(8) {
	case 0:
		return ""
	case 1:
		return fmt.Sprint("shared", g.r.IntN(3))
	}
	n := 1 + g.r.IntN(max)
	return strings.Repeat(string(rune('a'+g.r.IntN(26))), n)[:n-min(n, 6)] + fmt.Sprintf("%06x", g.r.Uint32())[:min(n, 6)]
}

// change writes n random changes: new peers, rows restamped, renamed
// (username or phone, to and from NULL), or all of it.
func (g *patchRig) change(n int, maxLen int) {
	g.now += int64(2 * RefreshAfter / time.Second)
	var batch []Peer
	for range n {
		var p Peer
		if len(g.c.recs) == 0 || g.r.IntN(3) == 0 {
			g.next++
			p = Peer{ID: g.r.Int64N(1<<40) + 1, AccessHash: int64(g.r.Uint64()), Type: PeerUser}
		} else {
			p = g.c.recs[g.r.IntN(len(g.c.recs))]
		}
		switch g.r.IntN(4) {
		case 0:
			p.Username = g.text(maxLen)
		case 1:
			p.Phone = g.text(maxLen)
		case 2:
			p.Username, p.Phone = g.text(maxLen), g.text(maxLen)
		}
		batch = append(batch, p)
	}
	if err := g.c.putPeers(batch, true); err != nil {
		g.t.Fatal(err)
	}
}

// save patches the kept image (or, when that fails, builds it whole, as
// File does) and returns the image and whether it was patched.
func (g *patchRig) save() ([]byte, bool) {
	g.b.Revision++
	patched := true
	if err := g.kept.patch(g.c); err != nil {
		if err != sqlitefile.ErrNoPatch {
			g.t.Fatalf("patch: %v", err)
		}
		patched = false
		g.kept.drop()
		g.kept = nil
		g.c.clearDirty()
	}
	img, kept, err := buildImage(g.c.snapshotLocked(), &g.b, g.kept, sqlitefile.PageSize)
	if err != nil {
		g.t.Fatal(err)
	}
	g.kept = kept
	return img, patched
}

func (g *patchRig) checkRows(img []byte) {
	g.t.Helper()
	want, _, err := buildImage(g.c.snapshotLocked(), &g.b, nil, sqlitefile.PageSize)
	if err != nil {
		g.t.Fatal(err)
	}
	sameRows(g.t, img, want)
}

func (g *patchRig) check(img []byte) {
	g.t.Helper()
	want, _, err := buildImage(g.c.snapshotLocked(), &g.b, nil, sqlitefile.PageSize)
	if err != nil {
		g.t.Fatal(err)
	}
	sameContent(g.t, img, want)
}

// TestPatchMatchesBuild: an image patched after random changes holds what
// a full build of the same rows holds, row for row and index entry for
// index entry, and SQLite finds it sound (integrity_check, reads through
// SQL and through each index). Long usernames and phones make deep trees
// whose leaves and interior pages split.
func TestPatchMatchesBuild(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name         string
		peers, batch int
		maxLen       int
		rounds       int
	}{
		{"small store, long names", 300, 40, 255, 25},
		{"empty store", 0, 30, 200, 20},
		{"3000 peers", 3000, 100, 32, 12},
		{"20000 peers, short names", 20000, 100, 12, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g := newPatchRig(t, randomPeers(c.peers, uint64(c.peers)), uint64(c.rounds))
			patched := 0
			for range c.rounds {
				g.change(c.batch, c.maxLen)
				img, ok := g.save()
				if ok {
					patched++
				}
				g.check(img)
			}
			t.Logf("%d of %d saves patched", patched, c.rounds)
			if patched < c.rounds*3/4 {
				t.Fatalf("only %d of %d saves patched: the fallback is not rare", patched, c.rounds)
			}
		})
	}
}

// FuzzPatch drives the sqlitefile.Patcher with changes read from the input: it must
// never panic, and whatever it patches must hold what a full build holds.
func FuzzPatch(f *testing.F) {
	f.Add([]byte{0x10, 0x20, 0x30, 0x41, 0x52, 0x63, 0xff, 0x00, 0x80})
	f.Add(bytes.Repeat([]byte{0x07, 0xf0, 0x33}, 40))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 300 {
			return
		}
		g := newPatchRig(t, randomPeers(120, 1), 1)
		for len(ops) >= 3 {
			op, a, b := ops[0], int(ops[1]), int(ops[2])
			ops = ops[3:]
			var p Peer
			if op&1 == 0 || len(g.c.recs) == 0 {
				p = Peer{ID: int64(a)<<8 | int64(b) + 1, Type: PeerUser}
			} else {
				p = g.c.recs[(a<<8|b)%len(g.c.recs)]
			}
			name := strings.Repeat(string(rune('a'+b%26)), a%256)
			switch op >> 1 & 3 {
			case 0:
				p.Username = name
			case 1:
				p.Phone = name
			case 2:
				p.Username, p.Phone = "", ""
			}
			g.now += 7200
			if err := g.c.putPeers([]Peer{p}, true); err != nil {
				t.Fatal(err)
			}
			if op&0x80 != 0 {
				img, _ := g.save()
				g.checkRows(img)
			}
		}
		img, _ := g.save()
		g.check(img)
	})
}

// TestFilePatchesAfterReopen: a large file reopened keeps its image, and
// its first save after a peer change patches it instead of building it
// whole; the file is what a full build gives in content, and the kept
// image holds no auth key.
func TestFilePatchesAfterReopen(t *testing.T) {
	t.Parallel()
	s := newTestSealer(t)
	dir := t.TempDir()
	f := newFile(t, dir, s, Binding{"v", "a", 1}, &Snapshot{Session: testRow(t), Peers: randomPeers(5000, 8)})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := OpenFile(f.Path(), s, Binding{"v", "a", 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if n, err := g.PeerCount(); err != nil || n != 5000 {
		t.Fatal(n, err)
	}
	if g.img == nil {
		t.Fatal("a large image was not kept at open")
	}
	key := testKey(t).AppendTo(nil)
	if bytes.Contains(g.img.buf[:cap(g.img.buf)], key) {
		t.Fatal("the kept image holds the auth key")
	}
	before := patchesDone.Load()
	if err := g.UpdatePeers([]Peer{{ID: 42, Type: PeerUser, Username: "new_one", Phone: "15550000042"}}); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	if patchesDone.Load() == before {
		t.Fatal("the first save after open did not patch the kept image")
	}
	if bytes.Contains(g.img.buf[:cap(g.img.buf)], key) {
		t.Fatal("the kept image holds the auth key after a save")
	}
	sealed, err := os.ReadFile(g.Path())
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b := g.binding
	want, err := encodeImage(snap, &b)
	if err != nil {
		t.Fatal(err)
	}
	sameContent(t, img, want)
	if err := g.SetUpdateStates([]UpdateState{{ID: 0, Pts: sessionstring.Some[int64](9)}}); err != nil {
		t.Fatal(err)
	}
	if g.img == nil {
		t.Fatal("a save without peer changes dropped the kept image")
	}
}
