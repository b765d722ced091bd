package sqlitefile

// This file writes and reads the SQLite database file format
// (https://www.sqlite.org/fileformat2.html) directly, for the images this
// package seals. Building a 10 MB image by hand takes a few milliseconds,
// where inserting 100,000 rows through SQL and serialising takes over a
// second; the result is an ordinary SQLite database (tests check it with
// SQLite's own integrity_check and with Python's sqlite3, as Pyrogram uses).
//
// The writer produces a database with no free pages, rollback journal mode
// (no WAL), UTF-8 text and 4096-byte pages. The reader walks table b-trees of
// any well-formed rollback-journal database, with every pointer and length
// checked: a corrupt or hostile image is an error, never a panic.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

const (
	PageSize        = 4096     // the page size of large images (and the patched ones)
	usable          = PageSize // no reserved bytes per page
	SmallPageSize   = 1024     // the page size of small images (buildImage)
	sqliteVersionNo = 3049001
	maxPages        = 1 << 20 // 4 GiB at 4 KiB pages: far beyond any session image
)

// --- values and records ---------------------------------------------------

type Kind uint8

const (
	KindNull Kind = iota
	KindInt
	KindFloat
	KindText
	KindBlob
)

// Value is one column value of a record.
type Value struct {
	kind Kind
	i    int64
	f    float64
	b    []byte // text or blob; aliases the page for decoded values
}

// Kind is the value's storage class.
func (v Value) Kind() Kind { return v.kind }

// Int64 is an integer value's number (0 for any other kind).
func (v Value) Int64() int64 { return v.i }

// Float64 is a real value's number (0 for any other kind).
func (v Value) Float64() float64 { return v.f }

// Bytes is a text or blob value's bytes; a decoded value's alias the
// page it was read from.
func (v Value) Bytes() []byte { return v.b }

func Null() Value         { return Value{} }
func Int(i int64) Value   { return Value{kind: KindInt, i: i} }
func Text(s string) Value { return Value{kind: KindText, b: []byte(s)} }
func Blob(b []byte) Value { return Value{kind: KindBlob, b: b} }
func TextOpt(s string) Value {
	if s == "" {
		return Null()
	}
	return Text(s)
}

func PutVarint(dst []byte, v uint64) []byte {
	if v <= 0x7f {
		return append(dst, byte(v))
	}
	if v > 0x00ffffffffffffff {
		// 9-byte form: 8 groups of 7 bits, then a full byte.
		var buf [9]byte
		buf[8] = byte(v)
		v >>= 8
		for i := 7; i >= 0; i-- {
			buf[i] = byte(v&0x7f) | 0x80
			v >>= 7
		}
		return append(dst, buf[:]...)
	}
	var buf [9]byte
	n := 0
	for v > 0 {
		buf[n] = byte(v & 0x7f)
		v >>= 7
		n++
	}
	for i := n - 1; i >= 0; i-- {
		b := buf[i]
		if i != 0 {
			b |= 0x80
		}
		dst = append(dst, b)
	}
	return dst
}

func VarintLen(v uint64) int {
	if v > 0x00ffffffffffffff {
		return 9
	}
	n := 1
	for v > 0x7f {
		v >>= 7
		n++
	}
	return n
}

// GetVarint decodes a varint at b; n is 0 when b is too short.
func GetVarint(b []byte) (v uint64, n int) {
	for i := 0; i < 8; i++ {
		if i >= len(b) {
			return 0, 0
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	if len(b) < 9 {
		return 0, 0
	}
	return v<<8 | uint64(b[8]), 9
}

func IntSerial(i int64) (typ uint64, size int) {
	switch {
	case i == 0:
		return 8, 0
	case i == 1:
		return 9, 0
	case i >= -128 && i <= 127:
		return 1, 1
	case i >= -32768 && i <= 32767:
		return 2, 2
	case i >= -8388608 && i <= 8388607:
		return 3, 3
	case i >= math.MinInt32 && i <= math.MaxInt32:
		return 4, 4
	case i >= -(1<<47) && i <= (1<<47)-1:
		return 5, 6
	}
	return 6, 8
}

// AppendRecord appends the SQLite record encoding of vals to dst.
func AppendRecord(dst []byte, vals ...Value) []byte {
	var types [16]uint64
	ts := types[:0]
	hdr := 0
	for _, v := range vals {
		var t uint64
		switch v.kind {
		case KindNull:
			t = 0
		case KindInt:
			t, _ = IntSerial(v.i)
		case KindFloat:
			t = 7
		case KindText:
			t = 13 + 2*uint64(len(v.b))
		case KindBlob:
			t = 12 + 2*uint64(len(v.b))
		}
		ts = append(ts, t)
		hdr += VarintLen(t)
	}
	// The header size varint counts itself.
	hs := hdr + 1
	if VarintLen(uint64(hs)) > 1 {
		hs = hdr + VarintLen(uint64(hdr+2))
	}
	dst = PutVarint(dst, uint64(hs))
	for _, t := range ts {
		dst = PutVarint(dst, t)
	}
	for i, v := range vals {
		switch v.kind {
		case KindInt:
			_, size := IntSerial(v.i)
			u := uint64(v.i)
			for s := size - 1; s >= 0; s-- {
				dst = append(dst, byte(u>>(8*uint(s))))
			}
		case KindFloat:
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(v.f))
		case KindText, KindBlob:
			dst = append(dst, v.b...)
		}
		_ = i
	}
	return dst
}

var errRecord = errors.New("malformed record")

// DecodeRecord decodes a record into dst (reused).
func DecodeRecord(rec []byte, dst []Value) ([]Value, error) {
	dst = dst[:0]
	hs, n := GetVarint(rec)
	if n == 0 || hs < uint64(n) || hs > uint64(len(rec)) {
		return nil, errRecord
	}
	hdr := rec[n:hs]
	body := rec[hs:]
	for len(hdr) > 0 {
		t, m := GetVarint(hdr)
		if m == 0 {
			return nil, errRecord
		}
		hdr = hdr[m:]
		var v Value
		size := 0
		switch {
		case t == 0:
		case t >= 1 && t <= 6:
			size = [...]int{0, 1, 2, 3, 4, 6, 8}[t]
			if len(body) < size {
				return nil, errRecord
			}
			var u int64
			if body[0]&0x80 != 0 {
				u = -1
			}
			for _, c := range body[:size] {
				u = u<<8 | int64(c)
			}
			v = Int(u)
		case t == 7:
			size = 8
			if len(body) < 8 {
				return nil, errRecord
			}
			v = Value{kind: KindFloat, f: math.Float64frombits(binary.BigEndian.Uint64(body))}
		case t == 8:
			v = Int(0)
		case t == 9:
			v = Int(1)
		case t >= 12:
			if t > uint64(len(body))*2+13 {
				return nil, errRecord
			}
			size = int((t - 12) / 2)
			if len(body) < size {
				return nil, errRecord
			}
			k := KindBlob
			if t%2 == 1 {
				k = KindText
			}
			v = Value{kind: k, b: body[:size:size]}
		default:
			return nil, errRecord
		}
		body = body[size:]
		dst = append(dst, v)
	}
	return dst, nil
}

// --- writer ---------------------------------------------------------------

// Writer accumulates the pages of a new database in one buffer. Page i
// (1-based) is page(i); page 1 is reserved for sqlite_master. Cells are
// built in a separate arena to avoid an allocation per cell. psize is its
// page size (PageSize when zero); no byte of a page is reserved.
type Writer struct {
	Buf   []byte
	Arena []byte
	Psize int
}

func NewWriter(estimate, psize int) *Writer {
	w := &Writer{Buf: make([]byte, 0, (estimate/psize+8)*psize), Psize: psize}
	w.newPage() // page 1
	return w
}

// ps is the page size.
func (w *Writer) PageLen() int {
	if w.Psize == 0 {
		return PageSize
	}
	return w.Psize
}

func (w *Writer) NPages() int { return len(w.Buf) / w.PageLen() }

func (w *Writer) Page(n int) []byte { return w.Buf[(n-1)*w.PageLen() : n*w.PageLen()] }

// newPage appends a zeroed page. It may move the buffer: slices from page
// are invalid after it.
func (w *Writer) newPage() (int, []byte) {
	ps := w.PageLen()
	if len(w.Buf)+ps > cap(w.Buf) {
		nb := make([]byte, len(w.Buf), 2*cap(w.Buf)+64*ps)
		copy(nb, w.Buf)
		w.Buf = nb
	}
	w.Buf = w.Buf[:len(w.Buf)+ps] // fresh capacity is zero
	n := w.NPages()
	p := w.Page(n)
	clear(p) // capacity beyond len may hold an earlier image's bytes
	return n, p
}

// maxLocal returns how many payload bytes of a cell stay on the b-tree
// page, for pages of PageSize.
func maxLocal(payload int, table bool) (local int, overflow bool) {
	return maxLocalFor(usable, payload, table)
}

// maxLocalFor is maxLocal for u usable bytes per page.
func maxLocalFor(u, payload int, table bool) (local int, overflow bool) {
	x := u - 35
	if !table {
		x = (u-12)*64/255 - 23
	}
	if payload <= x {
		return payload, false
	}
	m := (u-12)*32/255 - 23
	k := m + (payload-m)%(u-4)
	if k <= x {
		return k, true
	}
	return m, true
}

// cell builds a cell in the arena: prefix (child pointer / varints) +
// local payload (+ first overflow page), writing overflow pages as needed.
func (w *Writer) cell(prefix, payload []byte, table bool) []byte {
	local, ovf := maxLocalFor(w.PageLen(), len(payload), table)
	start := len(w.Arena)
	w.Arena = append(w.Arena, prefix...)
	w.Arena = append(w.Arena, payload[:local]...)
	if ovf {
		rest := payload[local:]
		pg, _ := w.newPage()
		w.Arena = binary.BigEndian.AppendUint32(w.Arena, uint32(pg))
		for {
			n := copy(w.Page(pg)[4:], rest)
			rest = rest[n:]
			if len(rest) == 0 {
				break
			}
			next, _ := w.newPage()
			binary.BigEndian.PutUint32(w.Page(pg), uint32(next))
			pg = next
		}
	}
	return w.Arena[start:len(w.Arena):len(w.Arena)]
}

// pageBuilder packs cells into one b-tree page.
type pageBuilder struct {
	hdrOff int // 100 on page 1, else 0
	leaf   bool
	cells  [][]byte
	used   int
	size   int // the page size (PageSize when zero)
}

func (b *pageBuilder) usable() int {
	if b.size == 0 {
		return usable
	}
	return b.size
}

func (b *pageBuilder) hdrSize() int {
	if b.leaf {
		return 8
	}
	return 12
}

func (b *pageBuilder) fits(c []byte) bool {
	return b.hdrOff+b.hdrSize()+2*(len(b.cells)+1)+b.used+len(c) <= b.usable()
}

func (b *pageBuilder) add(c []byte) { b.cells = append(b.cells, c); b.used += len(c) }

func (b *pageBuilder) reset() { b.cells = b.cells[:0]; b.used = 0 }

// write lays the cells out into p with the given page type and right
// pointer (interior pages).
func (b *pageBuilder) write(p []byte, typ byte, right uint32) {
	h := p[b.hdrOff:]
	h[0] = typ
	binary.BigEndian.PutUint16(h[1:], 0) // no freeblocks
	binary.BigEndian.PutUint16(h[3:], uint16(len(b.cells)))
	h[7] = 0
	if !b.leaf {
		binary.BigEndian.PutUint32(h[8:], right)
	}
	end := b.usable()
	ptr := b.hdrOff + b.hdrSize()
	for _, c := range b.cells {
		end -= len(c)
		copy(p[end:], c)
		binary.BigEndian.PutUint16(p[ptr:], uint16(end))
		ptr += 2
	}
	if end == 65536 {
		end = 0
	}
	binary.BigEndian.PutUint16(h[5:], uint16(end))
}

const (
	PageIndexInterior = 0x02
	PageTableInterior = 0x05
	PageIndexLeaf     = 0x0a
	PageTableLeaf     = 0x0d
)

// TableRow is one row of a table b-tree: its rowid and its record.
type TableRow struct {
	Rowid  int64
	Record []byte
}

// writeTable writes a table b-tree holding rows (sorted by rowid) and
// returns its root page. onPage1 puts the root on page 1 (sqlite_master):
// a leaf when the rows fit there, else an interior page over leaves on
// pages of their own (small pages).
func (w *Writer) WriteTable(rows []TableRow, onPage1 bool) (int, error) {
	if onPage1 {
		if ok, err := w.writeTablePage1(rows); ok || err != nil {
			return 1, err
		}
	}
	var level []child
	b := pageBuilder{leaf: true, size: w.PageLen()}
	flushLeaf := func(maxKey int64) {
		pg, p := w.newPage()
		b.write(p, PageTableLeaf, 0)
		level = append(level, child{pg, maxKey})
		b.reset()
	}
	var prefix []byte
	var last int64
	w.Arena = slices.Grow(w.Arena[:0], len(rows)*48)
	for i, r := range rows {
		if i > 0 && r.Rowid <= last {
			return 0, fmt.Errorf("storage: rows not in rowid order")
		}
		prefix = PutVarint(prefix[:0], uint64(len(r.Record)))
		prefix = PutVarint(prefix, uint64(r.Rowid))
		c := w.cell(prefix, r.Record, true)
		if !b.fits(c) {
			flushLeaf(last)
		}
		b.add(c)
		last = r.Rowid
	}
	flushLeaf(last)
	if !onPage1 {
		return w.writeTableLevels(level), nil
	}
	// Page 1 is the root over the leaves.
	ib := pageBuilder{hdrOff: 100, size: w.PageLen()}
	var cellBuf []byte
	for _, c := range level[:len(level)-1] {
		cellBuf = binary.BigEndian.AppendUint32(cellBuf[:0], uint32(c.page))
		cellBuf = PutVarint(cellBuf, uint64(c.maxKey))
		cell := w.cell(cellBuf, nil, true)
		if !ib.fits(cell) {
			return 0, errors.New("storage: schema does not fit under page 1")
		}
		ib.add(cell)
	}
	ib.write(w.Page(1), PageTableInterior, uint32(level[len(level)-1].page))
	return 1, nil
}

// writeTablePage1 writes rows as one leaf on page 1 if they fit there.
func (w *Writer) writeTablePage1(rows []TableRow) (bool, error) {
	b := pageBuilder{leaf: true, size: w.PageLen(), hdrOff: 100}
	var prefix []byte
	w.Arena = slices.Grow(w.Arena[:0], len(rows)*48)
	pages := w.NPages()
	for i, r := range rows {
		if i > 0 && r.Rowid <= rows[i-1].Rowid {
			return false, fmt.Errorf("storage: rows not in rowid order")
		}
		prefix = PutVarint(prefix[:0], uint64(len(r.Record)))
		prefix = PutVarint(prefix, uint64(r.Rowid))
		c := w.cell(prefix, r.Record, true)
		if !b.fits(c) {
			// Not on one page: drop what the cells wrote (overflow pages).
			w.Buf = w.Buf[:pages*w.PageLen()]
			return false, nil
		}
		b.add(c)
	}
	b.write(w.Page(1), PageTableLeaf, 0)
	return true, nil
}

// child is a page of a table b-tree and the largest rowid under it.
type child struct {
	page   int
	maxKey int64
}

// writeTableLevels writes the interior pages of a table b-tree above the
// pages of level, and returns the root.
func (w *Writer) writeTableLevels(level []child) int {
	// Interior levels: cells (child, key) + right-most child.
	for len(level) > 1 {
		var next []child
		ib := pageBuilder{size: w.PageLen()}
		start := 0
		for start < len(level) {
			ib.reset()
			i := start
			var cellBuf []byte
			for ; i < len(level)-1; i++ {
				cellBuf = binary.BigEndian.AppendUint32(cellBuf[:0], uint32(level[i].page))
				cellBuf = PutVarint(cellBuf, uint64(level[i].maxKey))
				c := w.cell(cellBuf, nil, true)
				if !ib.fits(c) {
					break
				}
				ib.add(c)
			}
			if i == len(level)-2 && len(ib.cells) > 1 {
				// The next page would hold no cell: end one cell earlier.
				ib.cells = ib.cells[:len(ib.cells)-1]
				i--
			}
			// level[i] is the right-most child of this page.
			pg, p := w.newPage()
			ib.write(p, PageTableInterior, uint32(level[i].page))
			next = append(next, child{pg, level[i].maxKey})
			start = i + 1
		}
		level = next
	}
	return level[0].page
}

// writeIndex writes an index b-tree holding the records (sorted in index
// order) and returns its root page. Interior cells of an index b-tree are
// entries themselves, so each entry appears once in the tree.
func (w *Writer) writeIndex(entries [][]byte) int {
	// Build the leaf level: leaves and the separator entries between them.
	var children []int
	var seps [][]byte // seps[i] lies between children[i] and children[i+1]
	b := pageBuilder{leaf: true, size: w.PageLen()}
	cells := make([][]byte, len(entries))
	w.Arena = slices.Grow(w.Arena[:0], len(entries)*32)
	var pfx []byte
	for i, e := range entries {
		pfx = PutVarint(pfx[:0], uint64(len(e)))
		cells[i] = w.cell(pfx, e, false)
	}
	start := 0
	for start < len(cells) {
		b.reset()
		i := start
		for ; i < len(cells) && b.fits(cells[i]); i++ {
			b.add(cells[i])
		}
		if i < len(cells) && i == len(cells)-1 && len(b.cells) > 1 {
			// Only one entry would be left for the next leaf and it is
			// needed as the separator: end this leaf one entry earlier.
			b.cells = b.cells[:len(b.cells)-1]
			i--
		}
		pg, p := w.newPage()
		b.write(p, PageIndexLeaf, 0)
		children = append(children, pg)
		if i < len(cells) {
			seps = append(seps, entries[i])
			i++
		}
		start = i
	}
	if len(children) == 0 { // empty index: one empty leaf as root
		pg, p := w.newPage()
		b.reset()
		b.write(p, PageIndexLeaf, 0)
		return pg
	}
	return w.writeIndexLevels(children, seps)
}

// writeIndexLevels writes the interior pages of an index b-tree above the
// pages children, separated by the entries seps (seps[i] lies between
// children[i] and children[i+1]), and returns the root.
func (w *Writer) writeIndexLevels(children []int, seps [][]byte) int {
	// A trailing separator with no leaf after it cannot happen: the loop
	// above only takes a separator when entries follow it.
	for len(children) > 1 {
		var nchildren []int
		var nseps [][]byte
		ib := pageBuilder{size: w.PageLen()}
		start := 0
		for start < len(children) {
			ib.reset()
			i := start
			for ; i < len(children)-1; i++ {
				pfx := binary.BigEndian.AppendUint32(nil, uint32(children[i]))
				pfx = PutVarint(pfx, uint64(len(seps[i])))
				c := w.cell(pfx, seps[i], false)
				if !ib.fits(c) {
					break
				}
				ib.add(c)
			}
			if i == len(children)-2 && len(ib.cells) > 1 {
				// The next page would hold no cell: end one cell earlier.
				ib.cells = ib.cells[:len(ib.cells)-1]
				i--
			}
			pg, p := w.newPage()
			ib.write(p, PageIndexInterior, uint32(children[i]))
			nchildren = append(nchildren, pg)
			if i < len(children)-1 {
				nseps = append(nseps, seps[i])
			}
			start = i + 1
		}
		children, seps = nchildren, nseps
	}
	return children[0]
}

// SchemaEntry is one row of sqlite_master.
type SchemaEntry struct {
	Type, Name, Table string
	Root              int
	SQL               string
}

// finish writes sqlite_master onto page 1 and the file header, and returns
// the database bytes.
func (w *Writer) Finish(schema []SchemaEntry) ([]byte, error) {
	rows := make([]TableRow, len(schema))
	for i, e := range schema {
		var root Value
		root = Int(int64(e.Root))
		rows[i] = TableRow{Rowid: int64(i + 1), Record: AppendRecord(nil, Text(e.Type), Text(e.Name), Text(e.Table), root, Text(e.SQL))}
	}
	if _, err := w.WriteTable(rows, true); err != nil {
		return nil, err
	}
	if w.NPages() > maxPages {
		return nil, errors.New("storage: image too large")
	}
	h := w.Page(1)[:100]
	copy(h, "SQLite format 3\x00")
	binary.BigEndian.PutUint16(h[16:], uint16(w.PageLen())) // 65536 would be 1: never used
	h[18], h[19] = 1, 1                                     // legacy (rollback journal) read/write versions
	h[20] = 0                                               // reserved bytes per page
	h[21], h[22], h[23] = 64, 32, 32
	binary.BigEndian.PutUint32(h[24:], 1) // file change counter
	binary.BigEndian.PutUint32(h[28:], uint32(w.NPages()))
	binary.BigEndian.PutUint32(h[40:], 1) // schema cookie
	binary.BigEndian.PutUint32(h[44:], 4) // schema format
	binary.BigEndian.PutUint32(h[56:], 1) // UTF-8
	binary.BigEndian.PutUint32(h[92:], 1) // version-valid-for = change counter
	binary.BigEndian.PutUint32(h[96:], sqliteVersionNo)
	return w.Buf, nil
}

// --- reader ---------------------------------------------------------------

// Reader reads table b-trees of a database image.
type Reader struct {
	data   []byte
	Psize  int
	usable int
	NPages int
}

func NewReader(data []byte) (*Reader, error) {
	if len(data) < 100 || !bytes.HasPrefix(data, []byte("SQLite format 3\x00")) {
		return nil, corruptf("not an SQLite database")
	}
	ps := int(binary.BigEndian.Uint16(data[16:]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps&(ps-1) != 0 {
		return nil, corruptf("bad page size")
	}
	if data[18] != 1 || data[19] != 1 {
		return nil, unsupportedf("database is in WAL mode")
	}
	us := ps - int(data[20])
	if us < 480 {
		return nil, corruptf("bad reserved space")
	}
	if len(data)%ps != 0 {
		return nil, corruptf("truncated database")
	}
	return &Reader{data: data, Psize: ps, usable: us, NPages: len(data) / ps}, nil
}

func (r *Reader) Page(n uint32) ([]byte, error) {
	if n < 1 || int(n) > r.NPages {
		return nil, corruptf("page %d out of range", n)
	}
	off := int(n-1) * r.Psize
	return r.data[off : off+r.Psize], nil
}

// payload returns the payload of a cell whose payload starts at c: part
// of the page, or with overflow pages, a copy in *scratch (kept for the
// next cell). Only a copy may be reused: appending to a slice of the page
// would write into the database.
func (r *Reader) payload(c []byte, size uint64, table bool, scratch *[]byte) ([]byte, error) {
	if size > uint64(len(r.data)) {
		return nil, corruptf("cell too large")
	}
	local, ovf := r.maxLocal(int(size), table)
	if !ovf {
		if len(c) < local {
			return nil, corruptf("cell overruns page")
		}
		return c[:local], nil
	}
	if len(c) < local+4 {
		return nil, corruptf("cell overruns page")
	}
	out := append((*scratch)[:0], c[:local]...)
	next := binary.BigEndian.Uint32(c[local:])
	for steps := 0; len(out) < int(size); steps++ {
		if next == 0 || steps > r.NPages {
			return nil, corruptf("broken overflow chain")
		}
		p, err := r.Page(next)
		if err != nil {
			return nil, err
		}
		n := min(int(size)-len(out), r.usable-4)
		out = append(out, p[4:4+n]...)
		next = binary.BigEndian.Uint32(p)
	}
	*scratch = out[:0]
	return out, nil
}

func (r *Reader) maxLocal(payload int, table bool) (int, bool) {
	return maxLocalFor(r.usable, payload, table)
}

// scanTable calls fn for every row of the table b-tree rooted at root, in
// rowid order. The record passed to fn is only valid during the call.
func (r *Reader) ScanTable(root uint32, fn func(rowid int64, rec []byte) error) error {
	var scratch []byte
	visited := 0
	var walk func(pg uint32, depth int) error
	walk = func(pg uint32, depth int) error {
		if depth > 40 {
			return corruptf("b-tree too deep")
		}
		if visited++; visited > r.NPages {
			return corruptf("b-tree loop")
		}
		p, err := r.Page(pg)
		if err != nil {
			return err
		}
		h := p
		if pg == 1 {
			h = p[100:]
		}
		if len(h) < 8 {
			return corruptf("short page")
		}
		typ := h[0]
		n := int(binary.BigEndian.Uint16(h[3:]))
		hs := 8
		if typ == PageTableInterior {
			hs = 12
		} else if typ != PageTableLeaf {
			return corruptf("page %d is not a table page", pg)
		}
		if len(h) < hs+2*n {
			return corruptf("cell pointers overrun page")
		}
		for i := 0; i < n; i++ {
			off := int(binary.BigEndian.Uint16(h[hs+2*i:]))
			if off < 8 || off >= r.usable {
				return corruptf("cell pointer out of range")
			}
			c := p[off:r.usable]
			if typ == PageTableInterior {
				if len(c) < 4 {
					return corruptf("short cell")
				}
				if err := walk(binary.BigEndian.Uint32(c), depth+1); err != nil {
					return err
				}
				continue
			}
			size, m := GetVarint(c)
			if m == 0 {
				return corruptf("bad cell")
			}
			rowid, k := GetVarint(c[m:])
			if k == 0 {
				return corruptf("bad cell")
			}
			pl, err := r.payload(c[m+k:], size, true, &scratch)
			if err != nil {
				return err
			}
			if err := fn(int64(rowid), pl); err != nil {
				return err
			}
		}
		if typ == PageTableInterior {
			return walk(binary.BigEndian.Uint32(h[8:]), depth+1)
		}
		return nil
	}
	return walk(root, 0)
}

// schema reads sqlite_master.
func (r *Reader) Schema() ([]SchemaEntry, error) {
	var out []SchemaEntry
	var vals []Value
	err := r.ScanTable(1, func(_ int64, rec []byte) error {
		var err error
		vals, err = DecodeRecord(rec, vals)
		if err != nil || len(vals) < 5 {
			return corruptf("bad schema row")
		}
		out = append(out, SchemaEntry{
			Type: string(vals[0].b), Name: string(vals[1].b), Table: string(vals[2].b),
			Root: int(vals[3].i), SQL: string(vals[4].b),
		})
		return nil
	})
	return out, err
}

// --- streaming writers of large trees ---------------------------------------

// LeafStream fills the leaf pages of one b-tree a cell at a time, straight
// into the pages (no buffer of all the cells first), and remembers what
// the level above needs.
type LeafStream struct {
	W     *Writer
	Type  byte // PageTableLeaf or PageIndexLeaf
	pg    int  // the page being filled, 0 when none
	ncell int
	top   int    // start of the cell content area of pg
	cell  []byte // scratch
	// The level above: the leaves, with their largest rowid (tables) or
	// the entries between them (indexes).
	level []child
	seps  [][]byte
	last  int64 // a table's last rowid
	// An index's last entry added and its cell, for ending a leaf one
	// entry early.
	prev []byte
}

func (s *LeafStream) fits(n int) bool { return s.pg != 0 && 8+2*(s.ncell+1)+n <= s.top }

func (s *LeafStream) open() {
	s.pg, _ = s.W.newPage()
	s.ncell, s.top = 0, s.W.PageLen()
}

func (s *LeafStream) put(cell []byte) {
	p := s.W.Page(s.pg)
	s.top -= len(cell)
	copy(p[s.top:], cell)
	binary.BigEndian.PutUint16(p[8+2*s.ncell:], uint16(s.top))
	s.ncell++
}

// close writes the header of the page being filled.
func (s *LeafStream) close(maxKey int64) {
	p := s.W.Page(s.pg)
	p[0] = s.Type
	binary.BigEndian.PutUint16(p[3:], uint16(s.ncell))
	binary.BigEndian.PutUint16(p[5:], uint16(s.top))
	s.level = append(s.level, child{s.pg, maxKey})
	s.pg = 0
}

// addRow adds a table row; rows come in rowid order and never overflow.
func (s *LeafStream) AddRow(rowid int64, rec []byte) error {
	if _, ovf := maxLocalFor(s.W.PageLen(), len(rec), true); ovf {
		return errors.New("storage: peer row too large")
	}
	s.cell = PutVarint(s.cell[:0], uint64(len(rec)))
	s.cell = PutVarint(s.cell, uint64(rowid))
	s.cell = append(s.cell, rec...)
	if !s.fits(len(s.cell)) {
		if s.pg != 0 {
			s.close(s.last)
		}
		s.open()
	}
	s.put(s.cell)
	s.last = rowid
	return nil
}

// finishTable ends a table and returns its root.
func (s *LeafStream) FinishTable() int {
	if s.pg == 0 { // no rows: one empty leaf
		s.open()
	}
	s.close(s.last)
	clear(s.cell)
	return s.W.writeTableLevels(s.level)
}

// addEntry adds entry i of n of an index, in index order (entries never
// overflow). A leaf ends where the next cell does not fit, that entry
// going up as the separator; the last entry cannot go up (no leaf would
// follow it), so then the one before it does.
func (s *LeafStream) AddEntry(e []byte, i, n int) error {
	if _, ovf := maxLocalFor(s.W.PageLen(), len(e), false); ovf {
		return errors.New("storage: index entry too large")
	}
	s.cell = PutVarint(s.cell[:0], uint64(len(e)))
	s.cell = append(s.cell, e...)
	switch {
	case s.pg == 0:
		s.open()
	case !s.fits(len(s.cell)) && i < n-1:
		s.close(0)
		s.seps = append(s.seps, bytes.Clone(e))
		return nil // the next entry opens the next leaf
	case !s.fits(len(s.cell)):
		if s.ncell < 2 {
			return errors.New("storage: index entries too large")
		}
		// Take the previous entry back off this leaf: it goes up.
		p := s.W.Page(s.pg)
		plen := VarintLen(uint64(len(s.prev))) + len(s.prev)
		clear(p[s.top : s.top+plen])
		s.top += plen
		s.ncell--
		binary.BigEndian.PutUint16(p[8+2*s.ncell:], 0)
		s.close(0)
		s.seps = append(s.seps, bytes.Clone(s.prev))
		s.open()
	}
	s.put(s.cell)
	s.prev = append(s.prev[:0], e...)
	return nil
}

// finishIndex ends an index and returns its root.
func (s *LeafStream) FinishIndex() int {
	if s.pg == 0 && len(s.level) == 0 { // no entries: one empty leaf
		s.open()
	}
	if s.pg != 0 {
		s.close(0)
	}
	pages := make([]int, len(s.level))
	for i, c := range s.level {
		pages[i] = c.page
	}
	clear(s.cell)
	clear(s.prev)
	return s.W.writeIndexLevels(pages, s.seps)
}
