package sqlitefile

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// This file checks the structure of a whole database the way SQLite's
// quick_check checks its pages, for a reader that wants to trust what
// ScanTable returns without SQLite: every page belongs to exactly one
// b-tree (or one overflow chain), the b-tree pages are of their tree's
// kind, their cells lie inside the cell content area without overlapping,
// their free space adds up, and the rowids of a table come in strictly
// increasing order. It does not compare an index with its table (neither
// does quick_check).

// Header fields a checked database must have (offsets in page 1).
const (
	hdrChangeCounter = 24
	hdrPageCount     = 28
	hdrFreelistTrunk = 32
	hdrFreelistCount = 36
	hdrSchemaFormat  = 44
	hdrAutoVacuum    = 52
	hdrTextEncoding  = 56
	hdrVersionValid  = 92
)

// Checker accounts for the pages of a database as its trees are checked.
type Checker struct {
	r    *Reader
	seen []bool // by page number
}

// NewChecker starts checking the database r reads. It refuses (an
// *Error with Unsupported set) what the checker does not handle: a
// database whose header does not give its size, with free pages, with
// auto-vacuum's pointer-map pages, in a text encoding other than UTF-8,
// or of a schema format other than 1 to 4.
func (r *Reader) NewChecker() (*Checker, error) {
	h := r.data
	be := binary.BigEndian
	switch {
	case be.Uint32(h[hdrChangeCounter:]) != be.Uint32(h[hdrVersionValid:]),
		int(be.Uint32(h[hdrPageCount:])) != r.NPages:
		return nil, unsupportedf("the header's page count is not the file's")
	case be.Uint32(h[hdrFreelistTrunk:]) != 0 || be.Uint32(h[hdrFreelistCount:]) != 0:
		return nil, unsupportedf("free pages")
	case be.Uint32(h[hdrAutoVacuum:]) != 0:
		return nil, unsupportedf("auto-vacuum")
	case be.Uint32(h[hdrTextEncoding:]) != 1:
		return nil, unsupportedf("text encoding")
	case be.Uint32(h[hdrSchemaFormat:]) < 1 || be.Uint32(h[hdrSchemaFormat:]) > 4:
		return nil, unsupportedf("schema format")
	case r.NPages > maxPages:
		return nil, unsupportedf("too many pages")
	}
	return &Checker{r: r, seen: make([]bool, r.NPages+1)}, nil
}

// Tree checks the b-tree at root: a table b-tree when table is set, else an
// index b-tree.
func (c *Checker) Tree(root uint32, table bool) error {
	last := int64(0)
	first := true
	return c.page(root, table, 0, &last, &first)
}

// Done reports whether every page of the database belonged to a checked
// tree or overflow chain.
func (c *Checker) Done() error {
	if i := slices.Index(c.seen[1:], false); i >= 0 {
		return corruptf("page %d belongs to no tree", i+1)
	}
	return nil
}

func (c *Checker) mark(pg uint32) error {
	if pg < 1 || int(pg) > c.r.NPages {
		return corruptf("page %d out of range", pg)
	}
	if c.seen[pg] {
		return corruptf("page %d used twice", pg)
	}
	c.seen[pg] = true
	return nil
}

// span is a byte range [lo, hi) of a page.
type span struct{ lo, hi int }

func (c *Checker) page(pg uint32, table bool, depth int, last *int64, first *bool) error {
	if depth > maxDepth {
		return corruptf("b-tree too deep")
	}
	if err := c.mark(pg); err != nil {
		return err
	}
	p, err := c.r.Page(pg)
	if err != nil {
		return err
	}
	base := 0
	if pg == 1 {
		base = 100
	}
	u := c.r.usable
	typ := p[base]
	leaf := typ == PageTableLeaf || typ == PageIndexLeaf
	switch {
	case table && (typ == PageTableLeaf || typ == PageTableInterior):
	case !table && (typ == PageIndexLeaf || typ == PageIndexInterior):
	default:
		return corruptf("page %d is not a page of its tree", pg)
	}
	hs := 12
	if leaf {
		hs = 8
	}
	be := binary.BigEndian
	n := int(be.Uint16(p[base+3:]))
	content := int(be.Uint16(p[base+5:]))
	if content == 0 {
		content = 65536
	}
	ptrEnd := base + hs + 2*n
	if ptrEnd > content || content > u {
		return corruptf("page %d: cell pointers overrun the content area", pg)
	}
	cells := make([]span, 0, n+8)
	for i := range n {
		off := int(be.Uint16(p[base+hs+2*i:]))
		if off < content || off >= u {
			return corruptf("page %d: cell pointer out of range", pg)
		}
		l, err := c.cell(p[off:u], typ, last, first, depth)
		if err != nil {
			return err
		}
		cells = append(cells, span{off, off + l})
	}
	if err := checkContent(p, base, content, u, cells); err != nil {
		return fmt.Errorf("page %d: %w", pg, err)
	}
	if !leaf {
		return c.page(be.Uint32(p[base+8:]), table, depth+1, last, first)
	}
	return nil
}

// checkContent checks the content area of a b-tree page p (header at
// base, content area [content, u), its cells at cells): the free blocks
// form a chain in increasing order, nothing overlaps, and every byte is a
// cell, a free block or one of the fragments the header counts (SQLite
// allows at most 60).
func checkContent(p []byte, base, content, u int, cells []span) error {
	be := binary.BigEndian
	for fb, steps := int(be.Uint16(p[base+1:])), 0; fb != 0; steps++ {
		if fb < content || fb+4 > u || steps > u/4 {
			return corruptf("bad free block")
		}
		size := int(be.Uint16(p[fb+2:]))
		if size < 4 || fb+size > u {
			return corruptf("bad free block")
		}
		cells = append(cells, span{fb, fb + size})
		next := int(be.Uint16(p[fb:]))
		if next != 0 && next <= fb+size {
			return corruptf("free blocks out of order")
		}
		fb = next
	}
	slices.SortFunc(cells, func(a, b span) int { return a.lo - b.lo })
	used := 0
	for i, s := range cells {
		if s.hi > u || i > 0 && s.lo < cells[i-1].hi {
			return corruptf("cells overlap")
		}
		used += s.hi - s.lo
	}
	if frag := int(p[base+7]); content+used+frag != u || frag > 60 {
		return corruptf("free space does not add up")
	}
	return nil
}

// cell checks one cell (its child subtree first, for an interior cell)
// and returns its length on the page.
func (c *Checker) cell(b []byte, typ byte, last *int64, first *bool, depth int) (int, error) {
	off := 0
	if typ == PageTableInterior || typ == PageIndexInterior {
		if len(b) < 4 {
			return 0, corruptf("short cell")
		}
		if err := c.page(binary.BigEndian.Uint32(b), typ == PageTableInterior, depth+1, last, first); err != nil {
			return 0, err
		}
		off = 4
	}
	if typ == PageTableInterior {
		key, m := GetVarint(b[off:])
		if m == 0 {
			return 0, corruptf("bad cell")
		}
		// The subtree's rowids are at most the key: the next rows exceed it.
		if int64(key) < *last && !*first {
			return 0, corruptf("rowids out of order")
		}
		*last, *first = int64(key), false
		return off + m, nil
	}
	size, m := GetVarint(b[off:])
	if m == 0 {
		return 0, corruptf("bad cell")
	}
	off += m
	table := typ == PageTableLeaf
	if table {
		rowid, k := GetVarint(b[off:])
		if k == 0 {
			return 0, corruptf("bad cell")
		}
		off += k
		if !*first && int64(rowid) <= *last {
			return 0, corruptf("rowids out of order")
		}
		*last, *first = int64(rowid), false
	}
	if size > uint64(len(c.r.data)) {
		return 0, corruptf("cell too large")
	}
	local, ovf := c.r.maxLocal(int(size), table)
	if !ovf {
		if off+local > len(b) {
			return 0, corruptf("cell overruns page")
		}
		return off + local, nil
	}
	if off+local+4 > len(b) {
		return 0, corruptf("cell overruns page")
	}
	// The overflow chain: as many pages as the rest of the payload needs.
	next := binary.BigEndian.Uint32(b[off+local:])
	for rest := int(size) - local; rest > 0; rest -= c.r.usable - 4 {
		if err := c.mark(next); err != nil {
			return 0, err
		}
		p, err := c.r.Page(next)
		if err != nil {
			return 0, err
		}
		next = binary.BigEndian.Uint32(p)
	}
	if next != 0 {
		return 0, corruptf("overflow chain too long")
	}
	return off + local + 4, nil
}
