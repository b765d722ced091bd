package storage

// idTable maps a marked peer id to its slot in core.recs: an open-addressing
// hash table with linear probing. Peers are never deleted, so there are no
// tombstones; an upsert is one probe sequence, where a Go map needs a
// lookup and an insert; and the table holds no pointers, so the garbage
// collector never scans it.
type idTable struct {
	cells []idCell
	n     int
	shift uint
}

type idCell struct {
	key int64
	val slot // slot+1; 0 marks an empty cell
}

const fib64 = 0x9E3779B97F4A7C15

func newIDTable(n int) idTable {
	size := 16
	for size < 2*n {
		size *= 2
	}
	t := idTable{cells: make([]idCell, size)}
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

func (t *idTable) home(k int64) int { return int((uint64(k) * fib64) >> t.shift) }

// get returns the slot of k.
func (t *idTable) get(k int64) (slot, bool) {
	mask := len(t.cells) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		c := &t.cells[i]
		if c.val == 0 {
			return 0, false
		}
		if c.key == k {
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
	mask := len(t.cells) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		c := &t.cells[i]
		if c.val == 0 {
			c.key, c.val = k, next+1
			t.n++
			return next, false
		}
		if c.key == k {
			return c.val - 1, true
		}
	}
}

func (t *idTable) grow() {
	old := t.cells
	*t = newIDTable(len(old)) // twice the cells: size >= 2*len(old)
	mask := len(t.cells) - 1
	for _, c := range old {
		if c.val == 0 {
			continue
		}
		i := t.home(c.key)
		for t.cells[i].val != 0 {
			i = (i + 1) & mask
		}
		t.cells[i] = c
		t.n++
	}
}

func (t *idTable) len() int { return t.n }
