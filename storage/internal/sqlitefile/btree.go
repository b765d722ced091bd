package sqlitefile

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// TreePages lists the pages of the b-tree at root (overflow pages make it
// fail: the peer trees have none).
func TreePages(img []byte, root uint32, npages int) ([]uint32, error) {
	pt := &Patcher{Buf: img}
	var out []uint32
	var walk func(pg uint32, depth int) error
	walk = func(pg uint32, depth int) error {
		if depth > maxDepth || len(out) > npages {
			return ErrNoPatch
		}
		n, err := pt.read(pg)
		if err != nil {
			return err
		}
		out = append(out, pg)
		if n.leaf() {
			return nil
		}
		for i := 0; i <= len(n.cells); i++ {
			if err := walk(n.child(i), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(root, 0)
}

// --- b-tree pages -----------------------------------------------------------

// maxDepth bounds a descent: a b-tree of 4 KiB pages is never deeper than
// a handful of levels; a deeper one is a loop in a corrupt image.
const maxDepth = 20

// bnode is one decoded b-tree page. Its cells alias the page (or other
// memory that outlives the node); interior cells start with the 4-byte
// child page number.
type bnode struct {
	typ   byte
	cells [][]byte
	right uint32 // right-most child of an interior page
}

func (n *bnode) leaf() bool  { return n.typ == PageTableLeaf || n.typ == PageIndexLeaf }
func (n *bnode) table() bool { return n.typ == PageTableLeaf || n.typ == PageTableInterior }

func (n *bnode) hdrSize() int {
	if n.leaf() {
		return 8
	}
	return 12
}

// child returns the page of child i: cell i's, or the right-most for
// i == len(cells).
func (n *bnode) child(i int) uint32 {
	if i == len(n.cells) {
		return n.right
	}
	return binary.BigEndian.Uint32(n.cells[i])
}

// size is the bytes the node takes on a page.
func (n *bnode) size() int {
	s := n.hdrSize() + 2*len(n.cells)
	for _, c := range n.cells {
		s += len(c)
	}
	return s
}

// key returns the part of cell i that orders it: the rowid of a table
// cell (as an int64), or the payload of an index cell.
func (n *bnode) rowid(i int) int64 {
	c := n.cells[i]
	if n.typ == PageTableInterior {
		v, _ := GetVarint(c[4:])
		return int64(v)
	}
	_, m := GetVarint(c)
	v, _ := GetVarint(c[m:])
	return int64(v)
}

func (n *bnode) payload(i int) []byte {
	c := n.cells[i]
	if n.typ == PageIndexInterior {
		c = c[4:]
	}
	size, m := GetVarint(c)
	if n.typ == PageTableLeaf {
		_, k := GetVarint(c[m:])
		m += k
	}
	return c[m : m+int(size)]
}

// Patcher reads and writes the pages of an image, appending new ones.
type Patcher struct {
	Buf     []byte
	scratch [PageSize]byte
}

func (pt *Patcher) npages() int { return len(pt.Buf) / PageSize }

func (pt *Patcher) page(pg uint32) ([]byte, error) {
	if pg < 2 || int(pg) > pt.npages() {
		return nil, ErrNoPatch
	}
	off := int(pg-1) * PageSize
	return pt.Buf[off : off+PageSize], nil
}

// alloc appends a page and returns its number. Room for a few pages more
// is added at a time, so the buffer rarely moves.
func (pt *Patcher) alloc() uint32 {
	if len(pt.Buf)+PageSize > cap(pt.Buf) {
		// The old buffer is not cleared: decoded nodes still alias it.
		nb := make([]byte, len(pt.Buf), len(pt.Buf)+len(pt.Buf)/16+16*PageSize)
		copy(nb, pt.Buf)
		pt.Buf = nb
	}
	pt.Buf = pt.Buf[:len(pt.Buf)+PageSize]
	clear(pt.Buf[len(pt.Buf)-PageSize:])
	return uint32(pt.npages())
}

// cellLen returns the length of the cell at the start of c on a page of
// type typ; an overflowing payload is ErrNoPatch.
func cellLen(typ byte, c []byte) (int, error) {
	off := 0
	if typ == PageTableInterior || typ == PageIndexInterior {
		off = 4
		if len(c) < 4 {
			return 0, ErrNoPatch
		}
	}
	if typ == PageTableInterior {
		_, m := GetVarint(c[off:])
		if m == 0 {
			return 0, ErrNoPatch
		}
		return off + m, nil
	}
	size, m := GetVarint(c[off:])
	if m == 0 {
		return 0, ErrNoPatch
	}
	off += m
	table := typ == PageTableLeaf
	if table {
		_, k := GetVarint(c[off:])
		if k == 0 {
			return 0, ErrNoPatch
		}
		off += k
	}
	if size > PageSize {
		return 0, ErrNoPatch
	}
	if _, ovf := maxLocal(int(size), table); ovf {
		return 0, ErrNoPatch
	}
	if off+int(size) > len(c) {
		return 0, ErrNoPatch
	}
	return off + int(size), nil
}

// read decodes page pg.
func (pt *Patcher) read(pg uint32) (*bnode, error) {
	p, err := pt.page(pg)
	if err != nil {
		return nil, err
	}
	n := &bnode{typ: p[0]}
	switch n.typ {
	case PageTableLeaf, PageTableInterior, PageIndexLeaf, PageIndexInterior:
	default:
		return nil, ErrNoPatch
	}
	hs := n.hdrSize()
	count := int(binary.BigEndian.Uint16(p[3:]))
	if hs+2*count > usable {
		return nil, ErrNoPatch
	}
	if !n.leaf() {
		n.right = binary.BigEndian.Uint32(p[8:])
	}
	n.cells = make([][]byte, count, count+4)
	for i := range count {
		off := int(binary.BigEndian.Uint16(p[hs+2*i:]))
		if off < hs+2*count || off >= usable {
			return nil, ErrNoPatch
		}
		l, err := cellLen(n.typ, p[off:usable])
		if err != nil {
			return nil, err
		}
		n.cells[i] = p[off : off+l : off+l]
	}
	return n, nil
}

// write lays n out on page pg (through a scratch page: n's cells may
// alias pg).
func (pt *Patcher) write(pg uint32, n *bnode) error {
	p, err := pt.page(pg)
	if err != nil {
		return err
	}
	s := pt.scratch[:]
	clear(s)
	b := pageBuilder{leaf: n.leaf(), cells: n.cells}
	b.write(s, n.typ, n.right)
	copy(p, s)
	return nil
}

// interiorOf is the interior page type of a tree whose leaves are typ.
func interiorOf(typ byte) byte {
	if typ == PageTableLeaf || typ == PageTableInterior {
		return PageTableInterior
	}
	return PageIndexInterior
}

// step is one interior page on the way down: its page and the child
// taken.
type step struct {
	pg  uint32
	idx int
}

// put writes n, modified, back to page pg, reached through path (the
// interior pages above it, root first). An overfull node is split: its
// last piece stays on pg, the others go to new pages linked from the
// parent before pg, and the parent is put in turn; the root keeps its
// page and becomes the parent of its pieces.
func (pt *Patcher) put(pg uint32, n *bnode, path []step) error {
	if n.size() <= usable {
		if len(n.cells) == 0 && (len(path) > 0 || !n.leaf()) {
			return ErrNoPatch // an empty page: not handled, build whole
		}
		return pt.write(pg, n)
	}
	pieces, keys, err := split(n)
	if err != nil {
		return err
	}
	links := make([][]byte, 0, len(pieces))
	var last uint32
	for i, piece := range pieces {
		var at uint32
		if i == len(pieces)-1 && len(path) > 0 {
			at = pg
		} else {
			at = pt.alloc()
		}
		if err := pt.write(at, piece); err != nil {
			return err
		}
		if i < len(keys) {
			links = append(links, slices.Concat(binary.BigEndian.AppendUint32(nil, at), keys[i]))
		}
		last = at
	}
	if len(path) == 0 { // the root: one level deeper
		return pt.put(pg, &bnode{typ: interiorOf(n.typ), cells: links, right: last}, nil)
	}
	up := path[len(path)-1]
	parent, err := pt.read(up.pg)
	if err != nil {
		return err
	}
	if up.idx > len(parent.cells) || parent.child(up.idx) != pg {
		return ErrNoPatch
	}
	parent.cells = slices.Insert(parent.cells, up.idx, links...)
	return pt.put(up.pg, parent, path[:len(path)-1])
}

// split cuts an overfull node into pieces that fit, as even as it can,
// and returns the keys that separate them in the parent (without the
// child page number): a table leaf's pieces are separated by the rowid of
// each piece's last row; in the other pages a cell between two pieces
// moves up to be the separator (an interior cell's child becoming the
// right-most child of the piece before it).
func split(n *bnode) (pieces []*bnode, keys [][]byte, err error) {
	moveUp := n.typ != PageTableLeaf
	avail := usable - n.hdrSize()
	total := n.size() - n.hdrSize()
	for k := 2; k <= len(n.cells); k++ {
		target := total / k
		pieces, keys = pieces[:0], keys[:0]
		cur, used := &bnode{typ: n.typ}, 0
		ok := true
		for i := 0; i < len(n.cells); i++ {
			c := n.cells[i]
			full := used+2+len(c) > avail
			if len(cur.cells) == 0 && full {
				ok = false // one cell larger than a page
				break
			}
			if full || (used >= target && len(cur.cells) > 0 && len(pieces) < k-1) {
				if !moveUp {
					keys = append(keys, PutVarint(nil, uint64(cur.rowid(len(cur.cells)-1))))
				} else {
					if i == len(n.cells)-1 {
						ok = false // no cell would follow the separator
						break
					}
					if n.leaf() {
						keys = append(keys, c)
					} else {
						cur.right = binary.BigEndian.Uint32(c)
						keys = append(keys, c[4:])
					}
				}
				pieces = append(pieces, cur)
				cur, used = &bnode{typ: n.typ}, 0
				if moveUp {
					continue // c went up
				}
			}
			cur.cells = append(cur.cells, c)
			used += 2 + len(c)
		}
		if !ok || len(cur.cells) == 0 {
			continue
		}
		cur.right = n.right
		return append(pieces, cur), keys, nil
	}
	return nil, nil, ErrNoPatch
}

// --- operations -----------------------------------------------------------

// view is a b-tree page read where it lies: a descent looks at a handful
// of cells of each page on its way, and decodes (read) only the pages it
// changes in a way that moves other cells.
type view struct {
	pg  uint32
	p   []byte
	typ byte
	n   int // cells
	hs  int // header size
}

func (pt *Patcher) view(pg uint32) (view, error) {
	p, err := pt.page(pg)
	if err != nil {
		return view{}, err
	}
	v := view{pg: pg, p: p, typ: p[0], n: int(binary.BigEndian.Uint16(p[3:])), hs: 12}
	switch v.typ {
	case PageTableLeaf, PageIndexLeaf:
		v.hs = 8
	case PageTableInterior, PageIndexInterior:
	default:
		return view{}, ErrNoPatch
	}
	if v.hs+2*v.n > usable {
		return view{}, ErrNoPatch
	}
	return v, nil
}

func (v view) leaf() bool { return v.typ == PageTableLeaf || v.typ == PageIndexLeaf }

// cell returns cell i.
func (v view) cell(i int) ([]byte, error) {
	off := int(binary.BigEndian.Uint16(v.p[v.hs+2*i:]))
	if off < v.hs+2*v.n || off >= usable {
		return nil, ErrNoPatch
	}
	l, err := cellLen(v.typ, v.p[off:usable])
	if err != nil {
		return nil, err
	}
	return v.p[off : off+l : off+l], nil
}

// child returns the child page of interior cell i (the right-most for
// i == n).
func (v view) child(i int) (uint32, error) {
	if i == v.n {
		return binary.BigEndian.Uint32(v.p[8:]), nil
	}
	c, err := v.cell(i)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(c), nil
}

// search returns the first cell i for which cmp(cell i) >= 0, and whether
// cmp is 0 there (cells are in order).
func (v view) search(cmp func(c []byte) (int, bool)) (int, bool, error) {
	lo, hi := 0, v.n
	bad := false
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		c, err := v.cell(m)
		if err != nil {
			return 0, false, err
		}
		r, ok := cmp(c)
		bad = bad || !ok
		if r < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if bad {
		return 0, false, ErrNoPatch
	}
	if lo < v.n {
		c, err := v.cell(lo)
		if err != nil {
			return 0, false, err
		}
		r, _ := cmp(c)
		return lo, r == 0, nil
	}
	return lo, false, nil
}

// contentStart is where the cell content area of the page begins.
func (v view) contentStart() int {
	cs := int(binary.BigEndian.Uint16(v.p[5:]))
	if cs == 0 {
		cs = 65536
	}
	return cs
}

// insertInPlace puts cell at position i when the page has room for it
// between its cell pointers and its cell content (and no free blocks to
// mind), as SQLite does: nothing else on the page moves. It reports
// whether it did.
func (v view) insertInPlace(i int, cell []byte) bool {
	cs := v.contentStart()
	if binary.BigEndian.Uint16(v.p[1:]) != 0 || v.p[7] != 0 || cs > usable || cs-len(cell) < v.hs+2*(v.n+1) {
		return false
	}
	cs -= len(cell)
	copy(v.p[cs:], cell)
	ptrs := v.p[v.hs : v.hs+2*(v.n+1)]
	copy(ptrs[2*i+2:], ptrs[2*i:2*v.n])
	binary.BigEndian.PutUint16(ptrs[2*i:], uint16(cs))
	binary.BigEndian.PutUint16(v.p[3:], uint16(v.n+1))
	binary.BigEndian.PutUint16(v.p[5:], uint16(cs))
	return true
}

// tableUpsert writes the row rowid with record rec into the table b-tree
// at root, and returns the record it replaced (a copy), if any.
func (pt *Patcher) TableUpsert(root uint32, rowid int64, rec []byte) (old []byte, found bool, err error) {
	if _, ovf := maxLocal(len(rec), true); ovf {
		return nil, false, ErrNoPatch
	}
	var path []step
	pg := root
	for {
		v, err := pt.view(pg)
		if err != nil {
			return nil, false, err
		}
		if (v.typ != PageTableLeaf && v.typ != PageTableInterior) || len(path) > maxDepth {
			return nil, false, ErrNoPatch
		}
		if !v.leaf() {
			i, _, err := v.search(func(c []byte) (int, bool) {
				k, m := GetVarint(c[4:])
				return cmpInt(int64(k), rowid), m > 0
			})
			if err != nil {
				return nil, false, err
			}
			path = append(path, step{pg, i})
			if pg, err = v.child(i); err != nil {
				return nil, false, err
			}
			continue
		}
		i, found, err := v.search(func(c []byte) (int, bool) {
			_, m := GetVarint(c)
			k, n := GetVarint(c[m:])
			return cmpInt(int64(k), rowid), n > 0
		})
		if err != nil {
			return nil, false, err
		}
		cell := PutVarint(nil, uint64(len(rec)))
		cell = PutVarint(cell, uint64(rowid))
		cell = append(cell, rec...)
		if found {
			c, err := v.cell(i)
			if err != nil {
				return nil, false, err
			}
			old = bytes.Clone(payloadOf(v.typ, c))
			switch {
			case bytes.Equal(old, rec):
				return old, true, nil
			case len(c) == len(cell): // the same size: over the old cell
				copy(c, cell)
				return old, true, nil
			}
		} else if v.insertInPlace(i, cell) {
			return nil, false, nil
		}
		n, err := pt.read(pg)
		if err != nil {
			return nil, false, err
		}
		if found {
			n.cells[i] = cell
		} else {
			n.cells = slices.Insert(n.cells, i, cell)
		}
		return old, found, pt.put(pg, n, path)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// indexFind descends the index b-tree at root to entry e: the page that
// holds it (found) or the leaf it belongs in, the position there, and the
// path to that page.
func (pt *Patcher) indexFind(root uint32, e []byte) (v view, i int, found bool, path []step, err error) {
	ke, ok := parseIndexKey(e)
	if !ok {
		err = ErrNoPatch
		return
	}
	pg := root
	for {
		if v, err = pt.view(pg); err != nil {
			return
		}
		if (v.typ != PageIndexLeaf && v.typ != PageIndexInterior) || len(path) > maxDepth {
			err = ErrNoPatch
			return
		}
		if i, found, err = v.search(func(c []byte) (int, bool) {
			kc, ok := parseIndexKey(payloadOf(v.typ, c))
			return kc.cmp(&ke), ok
		}); err != nil {
			return
		}
		if found || v.leaf() {
			return
		}
		path = append(path, step{pg, i})
		if pg, err = v.child(i); err != nil {
			return
		}
	}
}

func payloadOf(typ byte, c []byte) []byte {
	n := bnode{typ: typ, cells: [][]byte{c}}
	return n.payload(0)
}

// indexCell returns entry e as a cell of an index leaf.
func indexCell(e []byte) []byte {
	return append(PutVarint(nil, uint64(len(e))), e...)
}

// indexInsert adds entry e to the index b-tree at root.
func (pt *Patcher) IndexInsert(root uint32, e []byte) error {
	if _, ovf := maxLocal(len(e), false); ovf {
		return ErrNoPatch
	}
	v, i, found, path, err := pt.indexFind(root, e)
	if err != nil {
		return err
	}
	if found {
		return ErrNoPatch // the entry is there already: the image is not what the rows say
	}
	cell := indexCell(e)
	if v.insertInPlace(i, cell) {
		return nil
	}
	n, err := pt.read(v.pg)
	if err != nil {
		return err
	}
	n.cells = slices.Insert(n.cells, i, cell)
	return pt.put(v.pg, n, path)
}

// indexDelete removes entry e from the index b-tree at root. An entry on
// an interior page is replaced there by the entry before it, taken from
// the end of the left subtree's right-most leaf, as SQLite does. A page
// that would be left empty is ErrNoPatch.
func (pt *Patcher) IndexDelete(root uint32, e []byte) error {
	v, i, found, path, err := pt.indexFind(root, e)
	if err != nil {
		return err
	}
	if !found {
		return ErrNoPatch
	}
	pg := v.pg
	n, err := pt.read(pg)
	if err != nil {
		return err
	}
	if n.leaf() {
		n.cells = slices.Delete(n.cells, i, i+1)
		return pt.put(pg, n, path)
	}
	// The predecessor: the last entry of the right-most leaf under child i.
	leafPg := n.child(i)
	var leaf *bnode
	for depth := 0; ; depth++ {
		if leaf, err = pt.read(leafPg); err != nil {
			return err
		}
		if leaf.table() || depth > maxDepth {
			return ErrNoPatch
		}
		if leaf.leaf() {
			break
		}
		leafPg = leaf.right
	}
	if len(leaf.cells) < 2 {
		return ErrNoPatch
	}
	pred := payloadOf(leaf.typ, leaf.cells[len(leaf.cells)-1])
	cell := slices.Concat(n.cells[i][:4], indexCell(pred)) // pred aliases the leaf: copied here
	leaf.cells = leaf.cells[:len(leaf.cells)-1]
	if err := pt.write(leafPg, leaf); err != nil {
		return err
	}
	n.cells[i] = cell
	return pt.put(pg, n, path)
}

// indexKey is an index record of (value, rowid), read in place; cmp
// orders two as SQLite does with the BINARY collation: NULL, then
// integers, then text, then blobs; text and blobs by their bytes; ties by
// rowid.
type indexKey struct {
	class int // 0 NULL, 1 integer, 2 text, 3 blob (SQLite's order)
	i     int64
	b     []byte
	rowid int64
}

func (k *indexKey) cmp(o *indexKey) int {
	if k.class != o.class {
		return cmpInt(int64(k.class), int64(o.class))
	}
	c := 0
	switch k.class {
	case 1:
		c = cmpInt(k.i, o.i)
	case 2, 3:
		c = bytes.Compare(k.b, o.b)
	}
	if c != 0 {
		return c
	}
	return cmpInt(k.rowid, o.rowid)
}

// parseIndexKey reads an index record of two columns, the second an
// integer (the rowid); a float (which our indexes never hold) or anything
// malformed is not ok.
func parseIndexKey(r []byte) (indexKey, bool) {
	var k indexKey
	hs, n := GetVarint(r)
	if n == 0 || hs > uint64(len(r)) {
		return k, false
	}
	t1, n1 := GetVarint(r[n:hs])
	if n1 == 0 {
		return k, false
	}
	t2, n2 := GetVarint(r[n+n1 : hs])
	if n2 == 0 || uint64(n+n1+n2) != hs {
		return k, false
	}
	body := r[hs:]
	size1, ok := serialSize(t1)
	if !ok || size1 > len(body) {
		return k, false
	}
	switch {
	case t1 == 0:
	case t1 <= 6 || t1 == 8 || t1 == 9:
		k.class, k.i = 1, serialInt(t1, body[:size1])
	case t1 >= 12:
		k.class, k.b = 2+int(1-t1%2), body[:size1] // odd: text
	default:
		return k, false
	}
	size2, ok := serialSize(t2)
	if !ok || t2 == 7 || (t2 >= 10) || size1+size2 > len(body) {
		return k, false
	}
	k.rowid = serialInt(t2, body[size1:size1+size2])
	return k, true
}

// serialSize is the body size of a value of serial type t.
func serialSize(t uint64) (int, bool) {
	switch {
	case t <= 6:
		return [...]int{0, 1, 2, 3, 4, 6, 8}[t], true
	case t == 7:
		return 8, true
	case t == 8 || t == 9:
		return 0, true
	case t >= 12 && t < 1<<32:
		return int((t - 12) / 2), true
	}
	return 0, false
}

// serialInt decodes an integer of serial type t (1-6, 8, 9) from b.
func serialInt(t uint64, b []byte) int64 {
	switch t {
	case 8:
		return 0
	case 9:
		return 1
	}
	var u int64
	if len(b) > 0 && b[0]&0x80 != 0 {
		u = -1
	}
	for _, c := range b {
		u = u<<8 | int64(c)
	}
	return u
}

// IndexEntries returns the entries (records) of the index b-tree at root
// of the database img, in order.
func IndexEntries(img []byte, root uint32) ([][]byte, error) {
	pt := &Patcher{Buf: img}
	var out [][]byte
	var walk func(pg uint32, depth int) error
	walk = func(pg uint32, depth int) error {
		n, err := pt.read(pg)
		if err != nil {
			return err
		}
		if depth > maxDepth || n.table() {
			return corruptf("page %d is not an index page within the depth limit", pg)
		}
		for i := range n.cells {
			if !n.leaf() {
				if err := walk(n.child(i), depth+1); err != nil {
					return err
				}
			}
			out = append(out, bytes.Clone(n.payload(i)))
		}
		if !n.leaf() {
			return walk(n.right, depth+1)
		}
		return nil
	}
	if err := walk(root, 0); err != nil {
		return nil, err
	}
	return out, nil
}
