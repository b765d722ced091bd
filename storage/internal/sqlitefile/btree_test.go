package sqlitefile

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestIndexKeyOrder: parseIndexKey reads every (value, rowid) record an
// index of ours holds, and orders them as SQLite does.
func TestIndexKeyOrder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(4, 4))
	type ref struct {
		v     Value
		rowid int64
	}
	var refs []ref
	for range 3000 {
		var v Value
		switch r.IntN(4) {
		case 0:
			v = Null()
		case 1:
			v = Int([]int64{0, 1, -1, 127, -128, 1 << 20, -(1 << 40), 1 << 62, r.Int64() - r.Int64()}[r.IntN(9)])
		case 2:
			v = Text(strings.Repeat("ab", r.IntN(3)) + string(rune('a'+r.IntN(3))))
		case 3:
			v = Blob([]byte{byte(r.IntN(3))})
		}
		refs = append(refs, ref{v, r.Int64N(1<<50) - 1<<49})
	}
	class := map[Kind]int{KindNull: 0, KindInt: 1, KindText: 2, KindBlob: 3}
	want := func(a, b ref) int {
		if c := cmpInt(int64(class[a.v.kind]), int64(class[b.v.kind])); c != 0 {
			return c
		}
		c := cmpInt(a.v.i, b.v.i)
		if a.v.kind == KindText || a.v.kind == KindBlob {
			c = bytes.Compare(a.v.b, b.v.b)
		}
		if c != 0 {
			return c
		}
		return cmpInt(a.rowid, b.rowid)
	}
	for i := range 20000 {
		a, b := refs[r.IntN(len(refs))], refs[r.IntN(len(refs))]
		ka, ok1 := parseIndexKey(AppendRecord(nil, a.v, Int(a.rowid)))
		kb, ok2 := parseIndexKey(AppendRecord(nil, b.v, Int(b.rowid)))
		if !ok1 || !ok2 {
			t.Fatalf("pair %d: a record not read", i)
		}
		if got, w := ka.cmp(&kb), want(a, b); got != w {
			t.Fatalf("pair %d: %+v vs %+v: %d, want %d", i, a, b, got, w)
		}
	}
	for _, bad := range [][]byte{nil, {0x03}, AppendRecord(nil, Value{kind: KindFloat, f: 1}, Int(1)), AppendRecord(nil, Text("x")), AppendRecord(nil, Int(1), Text("x"))} {
		if _, ok := parseIndexKey(bad); ok {
			t.Errorf("%x read as an index record", bad)
		}
	}
}

// TestScanTableLeavesImage: reading a table whose small rows and
// overflowing rows alternate changes no byte of the image (the reader
// once copied an overflowing payload into the previous row's slice of
// the page), and gives every record back whole. The Checker accepts the
// database and accounts for every page.
func TestScanTableLeavesImage(t *testing.T) {
	t.Parallel()
	w := NewWriter(0, PageSize)
	var rows []TableRow
	for i := range 40 {
		n := 10
		if i%2 == 1 {
			n = 3*PageSize + i // overflows onto several pages
		}
		rows = append(rows, TableRow{Rowid: int64(i + 1), Record: AppendRecord(nil, Int(int64(i)), Blob(bytes.Repeat([]byte{byte(i)}, n)))})
	}
	root, err := w.WriteTable(rows, false)
	if err != nil {
		t.Fatal(err)
	}
	img, err := w.Finish([]SchemaEntry{{Type: "table", Name: "t", Table: "t", Root: root, SQL: "CREATE TABLE t(a, b)"}})
	if err != nil {
		t.Fatal(err)
	}
	before := bytes.Clone(img)
	r, err := NewReader(img)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	err = r.ScanTable(uint32(root), func(rowid int64, rec []byte) error {
		if rowid != rows[i].Rowid || !bytes.Equal(rec, rows[i].Record) {
			t.Errorf("row %d read back wrong", i)
		}
		i++
		return nil
	})
	if err != nil || i != len(rows) {
		t.Fatalf("%d rows read, %v", i, err)
	}
	if !bytes.Equal(img, before) {
		t.Fatal("ScanTable changed the image")
	}
	c, err := r.NewChecker()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Tree(1, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Tree(uint32(root), true); err != nil {
		t.Fatal(err)
	}
	if err := c.Done(); err != nil {
		t.Fatal(err)
	}
	// A tree checked twice shares its pages: refused.
	if err := c.Tree(uint32(root), true); err == nil {
		t.Fatal("a page used twice was accepted")
	}
}
