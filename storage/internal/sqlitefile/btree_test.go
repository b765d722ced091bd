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
