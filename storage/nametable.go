package storage

import (
	"hash/maphash"
	"math"
)

// nameTable maps a username or phone number to a value: an open-addressing
// hash table with linear probing whose 8-byte cells hold a 32-bit hash tag
// and the value, and no key. The key of a cell is the username (or phone)
// of the row the value names, read from the rows themselves: a lookup
// touches one cell of a compact table (2 MB for 100,000 rows at most half
// full, where cells holding the keys took 8 MB and missed the cache) and
// then the row it was going to read anyway. An insert-if-absent hashes the
// key once and walks one probe sequence (a Go map needs a lookup and an
// assignment, hashing twice). Deleted cells become tombstones, reused by
// later inserts; the table is rebuilt when tombstones and entries fill half
// of it (linear probing slows down sharply beyond). The hash is keyed with
// a random per-table seed, so collisions cannot be provoked.
//
// Its user keeps one invariant: the row a cell names holds the cell's key
// whenever the table compares keys, that is, a row's old key is removed
// before the row changes, and a key is added for a row that holds it or
// is about to (nothing else touches the table in between).
type nameTable struct {
	seed  maphash.Seed
	cells []nameCell
	rows  *[]Peer // the rows the values name (core.recs)
	phone bool    // the key is the row's Phone, not its Username
	n     int     // live entries
	used  int     // live entries + tombstones
}

// nameCell is one entry: tag is the low 32 bits of the key's hash (its
// home cell is tag & mask, so a rebuild needs no key), val is what
// nameIndex stores: ±(slot+1), never 0 or cellDeleted.
type nameCell struct {
	tag uint32
	val slot
}

const (
	cellEmpty   slot = 0
	cellDeleted slot = math.MinInt32
)

func newNameTable(n int, rows *[]Peer, phone bool) nameTable {
	size := 16
	for size < 2*n { // at most half full
		size *= 2
	}
	return nameTable{seed: maphash.MakeSeed(), cells: make([]nameCell, size), rows: rows, phone: phone}
}

func (t *nameTable) hash(k string) uint32 { return uint32(maphash.String(t.seed, k)) }

// key returns the key of a live cell: the field of the row it names.
func (t *nameTable) key(c *nameCell) string {
	s := c.val
	if s < 0 {
		s = -s
	}
	p := &(*t.rows)[s-1]
	if t.phone {
		return p.Phone
	}
	return p.Username
}

// find returns the cell holding k, or nil.
func (t *nameTable) find(k string) *nameCell {
	if len(t.cells) == 0 {
		return nil
	}
	h := t.hash(k)
	mask := len(t.cells) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		c := &t.cells[i]
		switch {
		case c.val == cellEmpty:
			return nil
		case c.tag == h && c.val != cellDeleted && t.key(c) == k:
			return c
		}
	}
}

// insert returns the cell for k, creating it with val when absent; created
// reports which.
func (t *nameTable) insert(k string, val slot) (c *nameCell, created bool) {
	if len(t.cells) == 0 || 2*(t.used+1) > len(t.cells) {
		t.rehash()
	}
	h := t.hash(k)
	mask := len(t.cells) - 1
	var free *nameCell
	for i := int(h) & mask; ; i = (i + 1) & mask {
		c := &t.cells[i]
		switch {
		case c.val == cellEmpty:
			if free == nil {
				free = c
				t.used++
			}
			*free = nameCell{tag: h, val: val}
			t.n++
			return free, true
		case c.val == cellDeleted:
			if free == nil {
				free = c
			}
		case c.tag == h && t.key(c) == k:
			return c, false
		}
	}
}

// remove deletes a cell.
func (t *nameTable) remove(c *nameCell) {
	*c = nameCell{val: cellDeleted}
	t.n--
}

func (t *nameTable) rehash() {
	old := t.cells
	size := 16
	for size < 4*(t.n+1) { // a quarter full after a rehash
		size *= 2
	}
	t.cells = make([]nameCell, size)
	t.n, t.used = 0, 0
	if t.seed == (maphash.Seed{}) {
		t.seed = maphash.MakeSeed()
	}
	mask := size - 1
	for _, c := range old {
		if c.val == cellEmpty || c.val == cellDeleted {
			continue
		}
		i := int(c.tag) & mask
		for t.cells[i].val != cellEmpty {
			i = (i + 1) & mask
		}
		t.cells[i] = c
		t.n++
		t.used++
	}
}
