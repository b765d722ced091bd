package sqlitefile

import (
	"testing"
)

// FuzzRecord checks the record decoder against its encoder.
func FuzzRecord(f *testing.F) {
	f.Add(AppendRecord(nil, Null(), Int(-1), Text("user"), TextOpt("alice"), Int(1<<40)))
	f.Add([]byte{0x02, 0x0c})
	f.Fuzz(func(t *testing.T, rec []byte) {
		vals, err := DecodeRecord(rec, nil)
		if err != nil {
			return
		}
		again, err := DecodeRecord(AppendRecord(nil, vals...), nil)
		if err != nil || len(again) != len(vals) {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		for i := range vals {
			a, b := vals[i], again[i]
			if a.kind != b.kind || a.i != b.i || string(a.b) != string(b.b) || (a.f != b.f && a.f == a.f) {
				t.Fatalf("value %d changed: %+v -> %+v", i, a, b)
			}
		}
	})
}

// FuzzCheck feeds arbitrary bytes as a database to the reader and the
// checker: no panic, and a database the checker accepts is read whole.
func FuzzCheck(f *testing.F) {
	w := NewWriter(0, SmallPageSize)
	var rows []TableRow
	for i := range 30 {
		rows = append(rows, TableRow{Rowid: int64(i*3 - 20), Record: AppendRecord(nil, Int(int64(i)), Text(string(make([]byte, i*i))))})
	}
	root, err := w.WriteTable(rows, false)
	if err != nil {
		f.Fatal(err)
	}
	img, err := w.Finish([]SchemaEntry{{Type: "table", Name: "t", Table: "t", Root: root, SQL: "CREATE TABLE t(a, b)"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(img)
	f.Add(img[:len(img)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(data)
		if err != nil {
			return
		}
		c, err := r.NewChecker()
		if err != nil {
			return
		}
		if c.Tree(1, true) != nil {
			return
		}
		schema, err := r.Schema()
		if err != nil {
			t.Fatalf("a checked schema table does not read: %v", err)
		}
		for _, e := range schema {
			if e.Root < 1 || e.Root > r.NPages || c.Tree(uint32(e.Root), e.Type == "table") != nil {
				return
			}
			if e.Type != "table" {
				continue
			}
			if err := r.ScanTable(uint32(e.Root), func(int64, []byte) error { return nil }); err != nil {
				t.Fatalf("a checked table does not read: %v", err)
			}
		}
		_ = c.Done()
	})
}
