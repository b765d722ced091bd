package storage

import "hash/maphash"

// nameTable maps a username or phone number to a value: an open-addressing
// hash table with linear probing and stored hashes, so an insert-if-absent
// hashes the key once and walks one probe sequence (a Go map needs a
// lookup and an assignment, hashing twice). Deleted cells become
// tombstones, reused by later inserts; the table is rebuilt when tombstones
// and entries fill half of it (linear probing slows down sharply beyond). Keys longer than inlineKey are
// kept in a map by their 64-bit hash (keyed with a random per-table seed,
// so collisions cannot be provoked).
type nameTable struct {
	seed  maphash.Seed
	cells []nameCell
	long  map[uint64]string // keys longer than inlineKey, by hash
	n     int               // live entries
	used  int               // live entries + tombstones
}

// nameCell is half a cache line: keys up to inlineKey bytes (most
// usernames, every phone number) are stored in the cell itself, so a
// lookup touches the table once instead of following a pointer to the
// key's bytes; longer keys live in the long table, by slot.
type nameCell struct {
	hash   uint64
	val    slot
	st     uint8 // cellEmpty, cellFull, cellDeleted
	klen   uint8 // length of an inline key; 0xff when the key is in long
	inline [inlineKey]byte
}

const inlineKey = 18

func (t *nameTable) setKey(c *nameCell, k string) {
	if len(k) <= inlineKey {
		c.klen = uint8(len(k))
		copy(c.inline[:], k)
		return
	}
	// A long key is kept whole, by its hash; the cell keeps its first bytes
	// so that most mismatches are seen without the map.
	c.klen = 0xff
	copy(c.inline[:], k)
	if t.long == nil {
		t.long = map[uint64]string{}
	}
	t.long[c.hash] = k
}

func (t *nameTable) is(c *nameCell, k string) bool {
	if c.klen != 0xff {
		return int(c.klen) == len(k) && string(c.inline[:c.klen]) == k
	}
	return len(k) > inlineKey && string(c.inline[:]) == k[:inlineKey] && t.long[c.hash] == k
}

const (
	cellEmpty uint8 = iota
	cellFull
	cellDeleted
)

func newNameTable(n int) nameTable {
	size := 16
	for size < 2*n { // at most half full
		size *= 2
	}
	return nameTable{seed: maphash.MakeSeed(), cells: make([]nameCell, size)}
}

func (t *nameTable) hash(k string) uint64 { return maphash.String(t.seed, k) }

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
		case c.st == cellEmpty:
			return nil
		case c.st == cellFull && c.hash == h && t.is(c, k):
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
		switch c.st {
		case cellEmpty:
			if free == nil {
				free = c
				t.used++
			}
			*free = nameCell{hash: h, val: val, st: cellFull}
			t.setKey(free, k)
			t.n++
			return free, true
		case cellDeleted:
			if free == nil {
				free = c
			}
		case cellFull:
			if c.hash == h && t.is(c, k) {
				return c, false
			}
		}
	}
}

// remove deletes k's cell.
func (t *nameTable) remove(c *nameCell) {
	if c.klen == 0xff {
		delete(t.long, c.hash)
	}
	*c = nameCell{st: cellDeleted}
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
		if c.st != cellFull {
			continue
		}
		i := int(c.hash) & mask
		for t.cells[i].st != cellEmpty {
			i = (i + 1) & mask
		}
		t.cells[i] = c
		t.n++
		t.used++
	}
}
