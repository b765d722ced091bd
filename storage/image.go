package storage

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/tgvault/tgvault/sessionstring"
)

// Pyrogram's schema version 3, with the exact SQL text Pyrogram creates it
// with (sqlite_master keeps the text; Pyrogram never reads it, but a file
// that looks like Pyrogram's own is easiest to trust).
const (
	sqlSessions = "CREATE TABLE sessions\n(\n    dc_id     INTEGER PRIMARY KEY,\n    api_id    INTEGER,\n    test_mode INTEGER,\n    auth_key  BLOB,\n    date      INTEGER NOT NULL,\n    user_id   INTEGER,\n    is_bot    INTEGER\n)"
	sqlPeers    = "CREATE TABLE peers\n(\n    id             INTEGER PRIMARY KEY,\n    access_hash    INTEGER,\n    type           INTEGER NOT NULL,\n    username       TEXT,\n    phone_number   TEXT,\n    last_update_on INTEGER NOT NULL DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER))\n)"
	sqlVersion  = "CREATE TABLE version\n(\n    number INTEGER PRIMARY KEY\n)"
	sqlIdxID    = "CREATE INDEX idx_peers_id ON peers (id)"
	sqlIdxUser  = "CREATE INDEX idx_peers_username ON peers (username)"
	sqlIdxPhone = "CREATE INDEX idx_peers_phone_number ON peers (phone_number)"
	sqlTrigger  = "CREATE TRIGGER trg_peers_last_update_on\n    AFTER UPDATE\n    ON peers\nBEGIN\n    UPDATE peers\n    SET last_update_on = CAST(STRFTIME('%s', 'now') AS INTEGER)\n    WHERE id = NEW.id;\nEND"

	// tgvault's own tables. Pyrogram ignores tables it does not know, and
	// the names cannot clash with PyroFork's or Kurigram's migrations.
	sqlBinding = "CREATE TABLE tgvault_binding\n(\n    vault_id   TEXT    NOT NULL,\n    account_id TEXT    NOT NULL,\n    revision   INTEGER NOT NULL\n)"
	sqlMeta    = "CREATE TABLE tgvault_meta\n(\n    key   TEXT NOT NULL,\n    value BLOB\n)"
	sqlUpdates = "CREATE TABLE tgvault_update_state\n(\n    id   INTEGER PRIMARY KEY,\n    pts  INTEGER,\n    qts  INTEGER,\n    date INTEGER,\n    seq  INTEGER\n)"

	schemaVersion = 3
)

// schemaSQL lists every statement of our image, in creation order; the
// memory engine runs the same statements.
var schemaSQL = []string{sqlSessions, sqlPeers, sqlVersion, sqlIdxID, sqlIdxUser, sqlIdxPhone, sqlTrigger, sqlBinding, sqlMeta, sqlUpdates}

// Binding ties a sealed image to one account of one vault at one revision.
// age has no associated data, so without it a sealed file could be swapped
// for another account's or rolled back to an older copy unnoticed.
type Binding struct {
	VaultID   string
	AccountID string
	Revision  uint64
}

// Snapshot is everything a session database holds.
type Snapshot struct {
	Session     SessionRow
	Peers       []Peer
	UpdateState []UpdateState
	Meta        map[string][]byte
}

func optInt[T int32 | int64](o sessionstring.Opt[T]) val {
	if v, ok := o.Get(); ok {
		return vInt(int64(v))
	}
	return vNull()
}

func optBool(o sessionstring.Opt[bool]) val {
	if v, ok := o.Get(); ok {
		if v {
			return vInt(1)
		}
		return vInt(0)
	}
	return vNull()
}

// encodeImage writes snap as a Pyrogram v3 database. A nil binding gives a
// plain Pyrogram file with none of tgvault's tables.
func encodeImage(snap *Snapshot, b *Binding) ([]byte, error) {
	img, _, err := buildImage(snap, b, nil, 0)
	return img, err
}

// buildImage writes snap as encodeImage does: page 1 (sqlite_master), the
// peers table and its three indexes from page 2, then the small tables.
// With kept (the peer trees of exactly snap.Peers: an image patched to
// them, or one whose peers did not change) it starts from its pages
// instead of writing the peers again, and overwrites what followed them.
// It returns the image and its peer trees, which share the image's buffer.
// A new image has pages of psize bytes, or when psize is 0 the size
// imagePageSize picks.
func buildImage(snap *Snapshot, b *Binding, kept *keptImage, psize int) ([]byte, *keptImage, error) {
	r := snap.Session
	if r.DCID <= 0 {
		return nil, nil, fmt.Errorf("storage: session has no dc id")
	}
	var w *dbWriter
	if kept != nil {
		w = &dbWriter{buf: kept.peerPages(), psize: pageSize}
		clear(w.page(1))
	} else {
		ps := psize
		if ps == 0 {
			ps = imagePageSize(snap.Peers)
		}
		w = newDBWriter(len(snap.Peers)*110+16*ps, ps)
		roots, err := w.writePeerTrees(snap.Peers)
		if err != nil {
			return nil, nil, err
		}
		kept = &keptImage{end: w.npages(), psize: ps}
		for i, r := range roots {
			kept.roots[i] = uint32(r)
		}
	}
	defer func() { clear(w.arena) }()

	var key val
	if !r.AuthKey.IsZero() {
		key = vBlob(r.AuthKey.AppendTo(nil))
	}
	sess := appendRecord(nil, vNull(), optInt(r.APIID), optBool(r.TestMode), key,
		vInt(r.Date), optInt(r.UserID), optBool(r.IsBot))
	clear(key.b)
	rootSessions, err := w.writeTable([]tableRow{{rowid: int64(r.DCID), record: sess}}, false)
	clear(sess)
	if err != nil {
		return nil, nil, err
	}
	rootVersion, err := w.writeTable([]tableRow{{rowid: schemaVersion, record: appendRecord(nil, vNull())}}, false)
	if err != nil {
		return nil, nil, err
	}
	schema := []schemaEntry{
		{"table", "sessions", "sessions", rootSessions, sqlSessions},
		{"table", "peers", "peers", int(kept.roots[treePeers]), sqlPeers},
		{"table", "version", "version", rootVersion, sqlVersion},
		{"index", "idx_peers_id", "peers", int(kept.roots[treeIdxID]), sqlIdxID},
		{"index", "idx_peers_username", "peers", int(kept.roots[treeIdxUsername]), sqlIdxUser},
		{"index", "idx_peers_phone_number", "peers", int(kept.roots[treeIdxPhone]), sqlIdxPhone},
		{"trigger", "trg_peers_last_update_on", "peers", 0, sqlTrigger},
	}
	if b != nil {
		root, err := w.writeTable([]tableRow{{rowid: 1, record: appendRecord(nil, vText(b.VaultID), vText(b.AccountID), vInt(int64(b.Revision)))}}, false)
		if err != nil {
			return nil, nil, err
		}
		schema = append(schema, schemaEntry{"table", "tgvault_binding", "tgvault_binding", root, sqlBinding})

		keys := make([]string, 0, len(snap.Meta))
		for k := range snap.Meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		metaRows := make([]tableRow, len(keys))
		for i, k := range keys {
			metaRows[i] = tableRow{rowid: int64(i + 1), record: appendRecord(nil, vText(k), vBlob(snap.Meta[k]))}
		}
		if root, err = w.writeTable(metaRows, false); err != nil {
			return nil, nil, err
		}
		schema = append(schema, schemaEntry{"table", "tgvault_meta", "tgvault_meta", root, sqlMeta})

		ups := slices.Clone(snap.UpdateState)
		slices.SortFunc(ups, func(a, b UpdateState) int { return cmp.Compare(a.ID, b.ID) })
		upRows := make([]tableRow, len(ups))
		for i, u := range ups {
			if i > 0 && ups[i-1].ID == u.ID {
				return nil, nil, fmt.Errorf("storage: duplicate update state id")
			}
			upRows[i] = tableRow{rowid: u.ID, record: appendRecord(nil, vNull(), optInt(u.Pts), optInt(u.Qts), optInt(u.Date), optInt(u.Seq))}
		}
		if root, err = w.writeTable(upRows, false); err != nil {
			return nil, nil, err
		}
		schema = append(schema, schemaEntry{"table", "tgvault_update_state", "tgvault_update_state", root, sqlUpdates})
	}
	out, err := w.finish(schema)
	if err != nil {
		return nil, nil, err
	}
	kept.buf = out
	return out, kept, nil
}

// smallImagePeers is the most peers an image of small pages holds.
const smallImagePeers = 1000

// imagePageSize is the page size of a new image of peers: small pages
// (smallPageSize) for a store of a few peers, such as almost every account
// of `tgvault run` holds, whose ten tables would otherwise take ten 4 KiB
// pages (40 KiB to seal, write and fsync at every save, where 1 KiB pages
// take 10 KiB); pageSize for larger stores (the only ones kept and
// patched) and for any key too long for an index cell of a small page.
func imagePageSize(peers []Peer) int {
	if len(peers) > smallImagePeers {
		return pageSize
	}
	for i := range peers {
		if len(peers[i].Username) > smallPageMaxKey || len(peers[i].Phone) > smallPageMaxKey {
			return pageSize
		}
	}
	return smallPageSize
}

// smallPageMaxKey keeps every index entry of a small page on the page
// (entries of the leaf streams never overflow): its record is the key, the
// rowid and a header of a few bytes, under maxLocalFor(smallPageSize).
const smallPageMaxKey = 200

// writePeerTrees writes the peers table and its indexes, from page 2, and
// returns their roots. Cells are written straight into their pages; the
// username and phone indexes are built on a second core meanwhile (into
// pages of their own, appended after the others).
func (w *dbWriter) writePeerTrees(peers []Peer) (roots [4]int, err error) {
	order := idOrder(peers)
	n := len(order)
	// The index keys in rowid order. (A loop this short keeps many cache
	// misses in flight: the rows are read out of their order in memory.)
	ids := make([]int64, n)
	users, phones := make([]string, n), make([]string, n)
	for i, o := range order {
		p := &peers[o]
		ids[i], users[i], phones[i] = p.ID, p.Username, p.Phone
		if i > 0 && ids[i-1] == p.ID {
			return roots, fmt.Errorf("storage: duplicate peer id")
		}
	}
	type textIndexes struct {
		w     *dbWriter
		roots [2]int
		err   error
	}
	done := make(chan textIndexes, 1)
	go func() {
		// Index entries: (column, rowid), in SQLite's order: NULL first,
		// then text by bytes (BINARY collation), ties by rowid. The keys
		// are in rowid order, so ties in position order are by rowid; ""
		// (NULL) sorts before every non-empty string, as NULL does.
		t := textIndexes{w: &dbWriter{buf: make([]byte, 0, (n*48/w.ps()+8)*w.ps()), psize: w.ps()}}
		var e []byte
		for j, keys := range [][]string{users, phones} {
			idx := leafStream{w: t.w, typ: pgIndexLeaf}
			for i, k := range textOrder(keys) {
				e = appendTextEntry(e[:0], keys[k], ids[k])
				if t.err = idx.addEntry(e, i, n); t.err != nil {
					break
				}
			}
			t.roots[j] = idx.finishIndex()
		}
		clear(e)
		done <- t
	}()

	table := leafStream{w: w, typ: pgTableLeaf}
	var rec []byte
	for _, o := range order {
		rec = appendPeerRecord(rec[:0], &peers[o])
		if err == nil {
			err = table.addRow(peers[o].ID, rec)
		}
	}
	clear(rec)
	roots[treePeers] = table.finishTable()
	idx := leafStream{w: w, typ: pgIndexLeaf}
	for i, id := range ids {
		rec = appendIntEntry(rec[:0], id, id)
		if err == nil {
			err = idx.addEntry(rec, i, n)
		}
	}
	roots[treeIdxID] = idx.finishIndex()

	t := <-done
	if err != nil || t.err != nil {
		return roots, errors.Join(err, t.err)
	}
	base := w.npages()
	if err := relocateIndexPages(t.w.buf, base, w.ps()); err != nil {
		return roots, err
	}
	w.buf = append(w.buf, t.w.buf...)
	clear(t.w.buf)
	roots[treeIdxUsername], roots[treeIdxPhone] = t.roots[0]+base, t.roots[1]+base
	return roots, nil
}

// relocateIndexPages adds offset to every page number in pages, which are
// index b-tree pages numbered from 1, about to become pages offset+1...
func relocateIndexPages(pages []byte, offset, psize int) error {
	for p := pages; len(p) >= psize; p = p[psize:] {
		switch p[0] {
		case pgIndexLeaf:
			continue
		case pgIndexInterior:
		default:
			return errors.New("storage: internal error: not an index page")
		}
		n := int(binary.BigEndian.Uint16(p[3:]))
		for i := range n {
			c := int(binary.BigEndian.Uint16(p[12+2*i:]))
			binary.BigEndian.PutUint32(p[c:], binary.BigEndian.Uint32(p[c:])+uint32(offset))
		}
		binary.BigEndian.PutUint32(p[8:], binary.BigEndian.Uint32(p[8:])+uint32(offset))
	}
	return nil
}

// imageHead is a decoded image without its peers, which are read on demand
// (opening stays as fast as decrypting).
type imageHead struct {
	r         *dbReader
	session   SessionRow
	binding   *Binding
	meta      map[string][]byte
	updates   []UpdateState
	peersRoot uint32
	peerRows  int // unknown (-1) until peers are read
	// peerRoots are the roots of the peers table and its indexes (as
	// keptImage.roots), zero when the schema has not exactly ours.
	peerRoots [4]uint32
}

var errSchema = errors.New("unexpected schema")

// peerIndexes are the indexes of the peers table, by name.
var peerIndexes = map[string]struct {
	tree int
	sql  string
}{
	"idx_peers_id":           {treeIdxID, sqlIdxID},
	"idx_peers_username":     {treeIdxUsername, sqlIdxUser},
	"idx_peers_phone_number": {treeIdxPhone, sqlIdxPhone},
}

// decodeImageHead reads an image written by encodeImage. It insists on the
// exact schema text of our tables, since columns are read by position.
func decodeImageHead(data []byte) (*imageHead, error) {
	r, err := newDBReader(data)
	if err != nil {
		return nil, err
	}
	schema, err := r.schema()
	if err != nil {
		return nil, err
	}
	roots := map[string]uint32{}
	var peerRoots [4]uint32
	for _, e := range schema {
		if ix, ok := peerIndexes[e.name]; ok && e.typ == "index" && e.sql == ix.sql && e.root > 1 && e.root <= r.npages {
			peerRoots[ix.tree] = uint32(e.root)
		}
		if e.typ != "table" {
			continue
		}
		want := map[string]string{"sessions": sqlSessions, "peers": sqlPeers, "version": sqlVersion, "tgvault_binding": sqlBinding, "tgvault_meta": sqlMeta, "tgvault_update_state": sqlUpdates}[e.name]
		if want == "" {
			continue
		}
		if e.sql != want || e.root < 1 {
			return nil, fmt.Errorf("%w: table %s: %v", ErrUnsupported, e.name, errSchema)
		}
		roots[e.name] = uint32(e.root)
	}
	for _, t := range []string{"sessions", "peers", "version"} {
		if roots[t] == 0 {
			return nil, fmt.Errorf("%w: no %s table", ErrUnsupported, t)
		}
	}
	h := &imageHead{r: r, peersRoot: roots["peers"], peerRows: -1, meta: map[string][]byte{}}
	if peerRoots[treeIdxID] != 0 && peerRoots[treeIdxUsername] != 0 && peerRoots[treeIdxPhone] != 0 {
		h.peerRoots = peerRoots
		h.peerRoots[treePeers] = h.peersRoot
	}
	var vals []val
	rows := 0
	err = r.scanTable(roots["sessions"], func(rowid int64, rec []byte) error {
		rows++
		var err error
		if vals, err = decodeRecord(rec, vals); err != nil || len(vals) != 7 {
			return fmt.Errorf("%w: sessions row", ErrCorrupt)
		}
		s := SessionRow{DCID: int(rowid)}
		if rowid < 1 || rowid > 255 {
			return fmt.Errorf("%w: dc id out of range", ErrCorrupt)
		}
		if v := vals[1]; v.kind == valInt {
			s.APIID = sessionstring.Some(int32(v.i))
		}
		if v := vals[2]; v.kind == valInt {
			s.TestMode = sessionstring.Some(v.i != 0)
		}
		if v := vals[3]; v.kind == valBlob {
			k, err := sessionstring.NewAuthKey(v.b)
			if err != nil {
				return fmt.Errorf("%w: bad auth key", ErrCorrupt)
			}
			s.AuthKey = k
		}
		if v := vals[4]; v.kind == valInt {
			s.Date = v.i
		}
		if v := vals[5]; v.kind == valInt {
			s.UserID = sessionstring.Some(v.i)
		}
		if v := vals[6]; v.kind == valInt {
			s.IsBot = sessionstring.Some(v.i != 0)
		}
		h.session = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rows != 1 {
		return nil, fmt.Errorf("%w: %d session rows", ErrCorrupt, rows)
	}
	version := 0
	if err := r.scanTable(roots["version"], func(rowid int64, _ []byte) error { version = int(rowid); return nil }); err != nil {
		return nil, err
	}
	if version != schemaVersion {
		return nil, fmt.Errorf("%w: schema version %d", ErrUnsupported, version)
	}
	if root := roots["tgvault_binding"]; root != 0 {
		err := r.scanTable(root, func(_ int64, rec []byte) error {
			var err error
			if vals, err = decodeRecord(rec, vals); err != nil || len(vals) != 3 || vals[0].kind != valText || vals[1].kind != valText || vals[2].kind != valInt {
				return fmt.Errorf("%w: binding row", ErrCorrupt)
			}
			if h.binding != nil {
				return fmt.Errorf("%w: two binding rows", ErrCorrupt)
			}
			h.binding = &Binding{VaultID: string(vals[0].b), AccountID: string(vals[1].b), Revision: uint64(vals[2].i)}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if root := roots["tgvault_meta"]; root != 0 {
		err := r.scanTable(root, func(_ int64, rec []byte) error {
			var err error
			if vals, err = decodeRecord(rec, vals); err != nil || len(vals) != 2 || vals[0].kind != valText {
				return fmt.Errorf("%w: meta row", ErrCorrupt)
			}
			h.meta[string(vals[0].b)] = bytes.Clone(vals[1].b)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if root := roots["tgvault_update_state"]; root != 0 {
		err := r.scanTable(root, func(rowid int64, rec []byte) error {
			var err error
			if vals, err = decodeRecord(rec, vals); err != nil || len(vals) != 5 {
				return fmt.Errorf("%w: update state row", ErrCorrupt)
			}
			u := UpdateState{ID: rowid}
			opt := func(v val) sessionstring.Opt[int64] {
				if v.kind == valInt {
					return sessionstring.Some(v.i)
				}
				return sessionstring.None[int64]()
			}
			u.Pts, u.Qts, u.Date, u.Seq = opt(vals[1]), opt(vals[2]), opt(vals[3]), opt(vals[4])
			h.updates = append(h.updates, u)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

// readPeers reads every row of the peers table.
func (h *imageHead) readPeers() ([]Peer, error) {
	var peers []Peer
	var vals []val
	// Interning the handful of type names saves an allocation per row.
	types := map[string]PeerType{}
	err := h.r.scanTable(h.peersRoot, func(rowid int64, rec []byte) error {
		var err error
		if vals, err = decodeRecord(rec, vals); err != nil || len(vals) != 6 {
			return fmt.Errorf("%w: peers row", ErrCorrupt)
		}
		p := Peer{ID: rowid}
		if vals[1].kind == valInt {
			p.AccessHash = vals[1].i
		}
		if vals[2].kind != valText {
			return fmt.Errorf("%w: peer type", ErrCorrupt)
		}
		t, ok := types[string(vals[2].b)]
		if !ok {
			t = PeerType(vals[2].b)
			types[string(t)] = t
		}
		p.Type = t
		if vals[3].kind == valText {
			p.Username = string(vals[3].b)
		}
		if vals[4].kind == valText {
			p.Phone = string(vals[4].b)
		}
		if vals[5].kind == valInt {
			p.LastUpdateOn = vals[5].i
		}
		peers = append(peers, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.peerRows = len(peers)
	return peers, nil
}
