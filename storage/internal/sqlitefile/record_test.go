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
