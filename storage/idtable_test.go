package storage

import (
	"math/rand/v2"
	"testing"
)

func TestIDTableMatchesMap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	tab := newIDTable(0)
	ref := map[int64]slot{}
	for i := range 200000 {
		var k int64
		switch r.IntN(4) {
		case 0:
			k = r.Int64N(1000) - 500 // collisions and negative keys
		case 1:
			k = -(channelOffset + r.Int64N(1<<33))
		default:
			k = int64(r.Uint64())
		}
		if i%3 == 0 {
			got, ok := tab.get(k)
			want, wok := ref[k]
			if ok != wok || got != want {
				t.Fatalf("get(%d) = %d,%v want %d,%v", k, got, ok, want, wok)
			}
			continue
		}
		next := slot(len(ref))
		got, existed := tab.upsert(k, next)
		want, wok := ref[k]
		if existed != wok || (existed && got != want) || (!existed && got != next) {
			t.Fatalf("upsert(%d) = %d,%v", k, got, existed)
		}
		if !wok {
			ref[k] = next
		}
	}
	if tab.len() != len(ref) {
		t.Fatalf("len %d, want %d", tab.len(), len(ref))
	}
	for k, v := range ref {
		if got, ok := tab.get(k); !ok || got != v {
			t.Fatalf("final get(%d)", k)
		}
	}
}
