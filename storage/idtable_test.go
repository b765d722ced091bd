package storage

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestIDTableMatchesMap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var rows []Peer
	tab := newIDTable(0, &rows)
	ref := map[int64]slot{}
	for i := range 200000 {
		var k int64
		switch r.IntN(4) {
		case 0:
			k = r.Int64N(1000) - 500 // collisions and negative keys
		case 1:
			k = -(ChannelOffset + r.Int64N(1<<33))
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
			rows = append(rows, Peer{ID: k})
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

func TestNameIndexMatchesMap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	// The index reads its keys from the rows, as core keeps them: a row's
	// old key is removed while the row holds it, the new one added once
	// the row holds it.
	var rows []Peer
	for _, phone := range []bool{false, true} {
		rows = make([]Peer, 40)
		x := newNameIndex(0, &rows, phone)
		field := func(i slot) *string {
			if phone {
				return &rows[i].Phone
			}
			return &rows[i].Username
		}
		keys := make([]string, 30)
		for i := range keys {
			keys[i] = string(rune('a'+i%26)) + string(rune('a'+i/26))
		}
		for range 100000 {
			i := slot(r.IntN(len(rows)))
			k := ""
			if r.IntN(3) > 0 {
				k = keys[r.IntN(len(keys))]
			}
			if old := *field(i); old != k {
				if old != "" {
					x.remove(old, i)
				}
				*field(i) = k
				if k != "" {
					x.add(k, i)
				}
			}
			k = keys[r.IntN(len(keys))]
			var want []slot
			for j := range rows {
				if *field(slot(j)) == k {
					want = append(want, slot(j))
				}
			}
			first, more, ok := x.lookup(k)
			if ok != (len(want) > 0) {
				t.Fatalf("lookup(%q) ok=%v want %v", k, ok, want)
			}
			if ok {
				got := append([]slot{first}, more...)
				if len(got) != len(want) {
					t.Fatalf("lookup(%q) = %v want %v", k, got, want)
				}
				for _, g := range got {
					if !containsSlot(want, g) {
						t.Fatalf("lookup(%q) = %v want %v", k, got, want)
					}
				}
			}
		}
	}
}

func containsSlot(s []slot, v slot) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func removeSlot(s []slot, v slot) []slot {
	out := s[:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// TestNameTableCells: cells are 32 bytes (two to a cache line); keys up to
// inlineKey bytes are held and compared in the cell, longer ones through
// their rows, and both survive growth and tombstones.
func TestNameTableCells(t *testing.T) {
	if s := unsafe.Sizeof(nameCell{}); s != 32 {
		t.Fatalf("nameCell is %d bytes, want 32", s)
	}
	// Short keys never read their rows: with the rows gone, they are found.
	short := []string{"a", strings.Repeat("q", inlineKey-1), strings.Repeat("q", inlineKey), "15551234567"}
	none := []Peer{}
	tab := newNameTable(0, &none, true)
	for i, k := range short {
		if _, created := tab.insert(k, slot(i+1)); !created {
			t.Fatalf("insert %q: not created", k)
		}
	}
	for i, k := range short {
		if c := tab.find(k); c == nil || c.val != slot(i+1) {
			t.Fatalf("find %q without its row", k)
		}
	}
	if tab.find(strings.Repeat("q", inlineKey-2)) != nil || tab.find("1555123456") != nil {
		t.Fatal("found a short key that was never inserted")
	}
	long := strings.Repeat("x", 40)
	keys := []string{"a", strings.Repeat("y", 18), strings.Repeat("y", inlineKey), strings.Repeat("y", inlineKey+1), strings.Repeat("y", 32), long, long + "z", strings.Repeat("é", 100)}
	rows := make([]Peer, len(keys))
	tab = newNameTable(0, &rows, false)
	for i, k := range keys {
		rows[i].Username = k
		if _, created := tab.insert(k, slot(i+1)); !created {
			t.Fatalf("insert %q: not created", k)
		}
	}
	for i, k := range keys {
		if c := tab.find(k); c == nil || c.val != slot(i+1) {
			t.Fatalf("find %q", k)
		}
	}
	if tab.find(strings.Repeat("y", 31)) != nil || tab.find(long[:33]) != nil || tab.find(long[:19]) != nil || tab.find("") != nil {
		t.Fatal("found a key that was never inserted")
	}
	tab.remove(tab.find(long))
	if tab.find(long) != nil || tab.find(long+"z") == nil {
		t.Fatal("removing a long key")
	}
	// Grow through many rehashes, with tombstones.
	rows = make([]Peer, 5000)
	tab = newNameTable(0, &rows, true)
	for i := range rows {
		rows[i].Phone = strings.Repeat("1", i%7+1) + string(rune('a'+i%26)) + strconv.Itoa(i)
		tab.insert(rows[i].Phone, slot(i+1))
		if i%3 == 0 {
			tab.remove(tab.find(rows[i].Phone))
		}
	}
	for i := range rows {
		c := tab.find(rows[i].Phone)
		if (c == nil) != (i%3 == 0) || c != nil && c.val != slot(i+1) {
			t.Fatalf("row %d after growth: %v", i, c)
		}
	}
}
