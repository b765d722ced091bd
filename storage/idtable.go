package storage

// idTable maps a marked peer id to its slot in core.recs: an open-addressing
// hash table with linear probing. Its 8-byte cells (eight to a cache line)
// hold 32 bits of the key's hash and the slot, not the key: a hit is
// confirmed against the row the slot names, which the lookup reads next
// anyway, so a lookup in a random order misses the cache on its cell and
// on its row, as with the key in the cell, in a table half the size (2
// MiB for 100,000 peers, not 4). Peers are never deleted, so there are no
// tombstones; an upsert is one probe sequence, where a Go map needs a
// lookup and an insert; and the table holds no pointers, so the garbage
// collector never scans it.
//
// Its user keeps one invariant: a cell's row holds the cell's key, that
// is, a slot given to upsert for a new key holds a row with that key
// before the table is used again.
type idTable struct {
	cells []idCell
	rows  *[]Peer // the rows the slots name (core.recs)
	n     int
	shift uint // 64 - log2(len(cells))
}

type idCell struct {
	tag uint32 // the high 32 bits of the key's hash
	val slot   // slot+1; 0 marks an empty cell
}

const fib64 = 0x9E3779B97F4A7C15

func newIDTable(n int, rows *[]Peer) idTable {
	size := 16
	for size < 2*n {
		size *= 2
	}
	t := idTable{cells: make([]idCell, size), rows: rows}
	t.shift = 64 - uint(bitsLen(size-1))
	return t
}

func bitsLen(x int) int {
	n := 0
	for x > 0 {
		x >>= 1
		n++
	}
	return n
}

// hash returns k's tag and its home cell.
func (t *idTable) hash(k int64) (uint32, int) {
	h := uint64(k) * fib64
	return uint32(h >> 32), int(h >> t.shift)
}

// get returns the slot of k.
func (t *idTable) get(k int64) (slot, bool) {
	tag, i := t.hash(k)
	mask := len(t.cells) - 1
	rows := *t.rows
	for ; ; i = (i + 1) & mask {
		c := t.cells[i]
		if c.val == 0 {
			return 0, false
		}
		if c.tag == tag && rows[c.val-1].ID == k {
			return c.val - 1, true
		}
	}
}

// upsert returns the slot of k, or stores next for it and reports that it
// was absent.
func (t *idTable) upsert(k int64, next slot) (slot, bool) {
	if 2*(t.n+1) > len(t.cells) {
		t.grow()
	}
	tag, i := t.hash(k)
	mask := len(t.cells) - 1
	rows := *t.rows
	for ; ; i = (i + 1) & mask {
		c := &t.cells[i]
		if c.val == 0 {
			c.tag, c.val = tag, next+1
			t.n++
			return next, false
		}
		if c.tag == tag && rows[c.val-1].ID == k {
			return c.val - 1, true
		}
	}
}

func (t *idTable) grow() {
	old := t.cells
	*t = newIDTable(len(old), t.rows) // twice the cells: size >= 2*len(old)
	mask := len(t.cells) - 1
	for _, c := range old {
		if c.val == 0 {
			continue
		}
		i := int(c.tag >> (t.shift - 32)) // the home cell: the hash's top bits
		for t.cells[i].val != 0 {
			i = (i + 1) & mask
		}
		t.cells[i] = c
		t.n++
	}
}

func (t *idTable) len() int { return t.n }
