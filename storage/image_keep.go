package storage

// Saving a changed store by patching the last image, as SQLite itself
// changes a database: the rows that changed are written into the leaf
// pages of the peers table and of its three indexes that hold them, a
// page that overflows is split and the new page is linked from its
// parent (which may split in turn, up to the root, whose page number
// stays), and every other page of the image stays as it was. A save after
// 100 changed peers in a store of 100,000 then writes a few hundred cells
// instead of building 2,300 pages and sorting three indexes.
//
// The kept image holds the peer trees on pages 2..end, where a full build
// puts them; new pages are added after them, and each save writes the
// small tables (sessions, version, binding, meta, update state) and page
// 1 after the peer trees again, so the image never has a free page. Rows
// are never deleted; an index entry is deleted when a row's username or
// phone changes. The few cases patching does not handle (a deletion that
// would empty a page, an overflowing cell, anything unexpected in the
// image) return sqlitefile.ErrNoPatch, and the save builds the whole image instead:
// patching never has to be complete, only right when it succeeds, which
// the tests check against a full build and against SQLite.

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/tgvault/tgvault/storage/internal/sqlitefile"
)

// patchesDone and patchFallbacks count the saves that patched the kept
// image and those that had to build it whole instead (tests and
// benchmarks read them).
var patchesDone, patchFallbacks atomic.Int64

// keptImage is the image of the last save, kept for the next one to
// patch. Its pages 2..end hold the peers table and its indexes, whose root
// pages are roots; what follows is rewritten by every save (and cleared
// after sealing: it holds the session row with the auth key).
type keptImage struct {
	buf   []byte
	end   int       // last page of the peer trees
	roots [4]uint32 // peers, idx_peers_id, idx_peers_username, idx_peers_phone_number
	psize int       // its page size; only sqlitefile.PageSize images are patched
}

// tail returns what follows the peer trees in img: the small tables, with
// the session row.
func (k *keptImage) tail(img []byte) []byte { return img[k.end*k.psize:] }

// keep reports whether a File keeps the image for the next save.
func (k *keptImage) keep() bool { return k.psize == sqlitefile.PageSize && k.end >= keepMinPages }

// Which tree of roots.
const (
	treePeers = iota
	treeIdxID
	treeIdxUsername
	treeIdxPhone
)

// keepMinPages is the smallest image whose peer trees a File keeps between
// saves: below it a full build costs less than holding the pages (an
// account of `tgvault run` with a handful of peers has about ten pages).
const keepMinPages = 64

// patchLimit reports whether changing dirty rows of a store of n rows is
// cheaper patched than built whole: a patched row costs about as much as
// building a dozen rows does.
func patchLimit(dirty, n int) bool { return dirty*12 <= n }

// peers returns the image's peer pages (page 1 cleared: it is rewritten).
func (k *keptImage) peerPages() []byte { return k.buf[:k.end*sqlitefile.PageSize] }

// drop clears the kept pages.
func (k *keptImage) drop() { clear(k.buf[:cap(k.buf)]) }

// patch writes the rows of c marked dirty into the peer trees. On error
// the image is unusable (partly patched) and must be dropped.
func (k *keptImage) patch(c *core) error {
	if k.psize != sqlitefile.PageSize {
		return sqlitefile.ErrNoPatch
	}
	pt := &sqlitefile.Patcher{Buf: k.buf[:k.end*sqlitefile.PageSize]}
	var rec []byte
	var vals []sqlitefile.Value
	err := c.eachDirty(func(p *Peer) error {
		rec = sqlitefile.AppendRecord(rec[:0], sqlitefile.Null(), sqlitefile.Int(p.AccessHash), sqlitefile.Text(string(p.Type)),
			sqlitefile.TextOpt(p.Username), sqlitefile.TextOpt(p.Phone), sqlitefile.Int(p.LastUpdateOn))
		old, found, err := pt.TableUpsert(k.roots[treePeers], p.ID, rec)
		if err != nil {
			return err
		}
		if !found {
			for _, e := range []struct {
				tree int
				v    sqlitefile.Value
			}{{treeIdxID, sqlitefile.Int(p.ID)}, {treeIdxUsername, sqlitefile.TextOpt(p.Username)}, {treeIdxPhone, sqlitefile.TextOpt(p.Phone)}} {
				if err := pt.IndexInsert(k.roots[e.tree], sqlitefile.AppendRecord(nil, e.v, sqlitefile.Int(p.ID))); err != nil {
					return err
				}
			}
			return nil
		}
		if vals, err = sqlitefile.DecodeRecord(old, vals); err != nil || len(vals) != 6 {
			return sqlitefile.ErrNoPatch
		}
		oldUser, oldPhone := textOf(vals[3]), textOf(vals[4])
		for _, e := range []struct {
			tree     int
			old, new string
		}{{treeIdxUsername, oldUser, p.Username}, {treeIdxPhone, oldPhone, p.Phone}} {
			if e.old == e.new {
				continue
			}
			if err := pt.IndexDelete(k.roots[e.tree], sqlitefile.AppendRecord(nil, sqlitefile.TextOpt(e.old), sqlitefile.Int(p.ID))); err != nil {
				return err
			}
			if err := pt.IndexInsert(k.roots[e.tree], sqlitefile.AppendRecord(nil, sqlitefile.TextOpt(e.new), sqlitefile.Int(p.ID))); err != nil {
				return err
			}
		}
		return nil
	})
	k.buf = pt.Buf
	k.end = len(pt.Buf) / sqlitefile.PageSize
	return err
}

// textOf returns a decoded text value, "" for NULL (or anything else).
func textOf(v sqlitefile.Value) string {
	if v.Kind() == sqlitefile.KindText {
		return string(v.Bytes())
	}
	return ""
}

// adoptImage returns img as a kept image when it is one a File can patch:
// 4096-byte pages, no free pages, and the peer trees (whose roots head
// read) on exactly the pages 2..end for some end, the small tables after
// them. Images this package wrote are; anything else is built whole at the
// next save.
func adoptImage(img []byte, head *imageHead) (*keptImage, bool) {
	if len(img) < 2*sqlitefile.PageSize || len(img)%sqlitefile.PageSize != 0 ||
		binary.BigEndian.Uint16(img[16:]) != sqlitefile.PageSize || img[20] != 0 ||
		binary.BigEndian.Uint32(img[32:]) != 0 || binary.BigEndian.Uint32(img[36:]) != 0 ||
		int(binary.BigEndian.Uint32(img[28:])) != len(img)/sqlitefile.PageSize {
		return nil, false
	}
	n := len(img) / sqlitefile.PageSize
	seen := make([]bool, n+1)
	end := 0
	for _, root := range head.peerRoots {
		pages, err := sqlitefile.TreePages(img, root, n)
		if err != nil {
			return nil, false
		}
		for _, pg := range pages {
			if pg < 2 || seen[pg] {
				return nil, false
			}
			seen[pg] = true
			end = max(end, int(pg))
		}
	}
	for pg := 2; pg <= end; pg++ {
		if !seen[pg] {
			return nil, false
		}
	}
	if end < keepMinPages {
		return nil, false
	}
	return &keptImage{buf: img, end: end, roots: head.peerRoots, psize: sqlitefile.PageSize}, true
}
