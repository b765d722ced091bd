package storage

import (
	"hash/maphash"
	"math"
)

// nameTable maps a username or phone number to a value: an open-addressing
// hash table with linear probing whose 32-byte cells (two to a cache line)
// hold a 32-bit hash tag, the value, and the key itself when it is at most
// inlineKey bytes long (every phone number, and most usernames): a lookup
// in random order then misses the cache on its cell and on the row the
// value names, where a cell without the key also read the key's bytes from
// the row's string, a third miss. A longer key is compared with the row's.
// An insert-if-absent hashes the key once and walks one probe sequence (a
// Go map needs a lookup and an assignment, hashing twice). Deleted cells
// become tombstones, reused by later inserts; the table is rebuilt when
// tombstones and entries fill half of it (linear probing slows down
// sharply beyond). The hash is keyed with a random per-table seed, so
// collisions cannot be provoked.
//
// Its user keeps one invariant for the long keys: the row a cell names
// holds the cell's key whenever the table compares keys, that is, a row's
// old key is removed before the row changes, and a key is added for a row
// that holds it or is about to (nothing else touches the table in between).
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
// nameIndex stores: ±(slot+1), never 0 or cellDeleted; key[:klen] is the
// key, or klen is longKey for a key longer than inlineKey.
type nameCell struct {
	tag  uint32
	val  slot
	klen uint8
	key  [inlineKey]byte
}

const (
	inlineKey = 23
	longKey   = 0xff

	cellEmpty   slot = 0
	cellDeleted slot = math.MinInt32
)

// minNameCells is the size of a new table: a store of `tgvault run` holds
// a handful of peers.
const minNameCells = 8

func newNameTable(n int, rows *[]Peer, phone bool) nameTable {
	size := minNameCells
	for size < 2*n { // at most half full
		size *= 2
	}
	return nameTable{seed: maphash.MakeSeed(), cells: make([]nameCell, size), rows: rows, phone: phone}
}

func (t *nameTable) hash(k string) uint32 { return uint32(maphash.String(t.seed, k)) }

// rowKey returns the key of a live cell as its row holds it.
func (t *nameTable) rowKey(c *nameCell) string {
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

// holds reports whether the live cell c holds key k.
func (t *nameTable) holds(c *nameCell, k string) bool {
	if len(k) <= inlineKey {
		return int(c.klen) == len(k) && string(c.key[:len(k)]) == k
	}
	return c.klen == longKey && t.rowKey(c) == k
}

func newNameCell(h uint32, k string, val slot) nameCell {
	c := nameCell{tag: h, val: val, klen: longKey}
	if len(k) <= inlineKey {
		c.klen = uint8(copy(c.key[:], k))
	}
	return c
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
		case c.tag == h && c.val != cellDeleted && t.holds(c, k):
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
			*free = newNameCell(h, k, val)
			t.n++
			return free, true
		case c.val == cellDeleted:
			if free == nil {
				free = c
			}
		case c.tag == h && t.holds(c, k):
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
	size := minNameCells
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
