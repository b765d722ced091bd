package storage

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage/internal/sqlitefile"
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

func optInt[T int32 | int64](o sessionstring.Opt[T]) sqlitefile.Value {
	if v, ok := o.Get(); ok {
		return sqlitefile.Int(int64(v))
	}
	return sqlitefile.Null()
}

func optBool(o sessionstring.Opt[bool]) sqlitefile.Value {
	if v, ok := o.Get(); ok {
		if v {
			return sqlitefile.Int(1)
		}
		return sqlitefile.Int(0)
	}
	return sqlitefile.Null()
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
//
// Long: it lays the pages out in the order above, the kept peer trees or
// new ones first; the steps share the page counter and the buffer, and the
// order is the format.
func buildImage(snap *Snapshot, b *Binding, kept *keptImage, psize int) ([]byte, *keptImage, error) {
	r := snap.Session
	if r.DCID <= 0 {
		return nil, nil, fmt.Errorf("storage: session has no dc id")
	}
	var w *sqlitefile.Writer
	if kept != nil {
		w = &sqlitefile.Writer{Buf: kept.peerPages(), Psize: sqlitefile.PageSize}
		clear(w.Page(1))
	} else {
		ps := psize
		if ps == 0 {
			ps = imagePageSize(snap.Peers)
		}
		w = sqlitefile.NewWriter(len(snap.Peers)*110+16*ps, ps)
		roots, err := writePeerTrees(w, snap.Peers)
		if err != nil {
			return nil, nil, err
		}
		kept = &keptImage{end: w.NPages(), psize: ps}
		for i, r := range roots {
			kept.roots[i] = uint32(r)
		}
	}
	defer func() { clear(w.Arena) }()

	var key sqlitefile.Value
	if !r.AuthKey.IsZero() {
		key = sqlitefile.Blob(r.AuthKey.AppendTo(nil))
	}
	sess := sqlitefile.AppendRecord(nil, sqlitefile.Null(), optInt(r.APIID), optBool(r.TestMode), key,
		sqlitefile.Int(r.Date), optInt(r.UserID), optBool(r.IsBot))
	clear(key.Bytes())
	rootSessions, err := w.WriteTable([]sqlitefile.TableRow{{Rowid: int64(r.DCID), Record: sess}}, false)
	clear(sess)
	if err != nil {
		return nil, nil, err
	}
	rootVersion, err := w.WriteTable([]sqlitefile.TableRow{{Rowid: schemaVersion, Record: sqlitefile.AppendRecord(nil, sqlitefile.Null())}}, false)
	if err != nil {
		return nil, nil, err
	}
	schema := []sqlitefile.SchemaEntry{
		{Type: "table", Name: "sessions", Table: "sessions", Root: rootSessions, SQL: sqlSessions},
		{Type: "table", Name: "peers", Table: "peers", Root: int(kept.roots[treePeers]), SQL: sqlPeers},
		{Type: "table", Name: "version", Table: "version", Root: rootVersion, SQL: sqlVersion},
		{Type: "index", Name: "idx_peers_id", Table: "peers", Root: int(kept.roots[treeIdxID]), SQL: sqlIdxID},
		{Type: "index", Name: "idx_peers_username", Table: "peers", Root: int(kept.roots[treeIdxUsername]), SQL: sqlIdxUser},
		{Type: "index", Name: "idx_peers_phone_number", Table: "peers", Root: int(kept.roots[treeIdxPhone]), SQL: sqlIdxPhone},
		{Type: "trigger", Name: "trg_peers_last_update_on", Table: "peers", Root: 0, SQL: sqlTrigger},
	}
	if b != nil {
		root, err := w.WriteTable([]sqlitefile.TableRow{{Rowid: 1, Record: sqlitefile.AppendRecord(nil, sqlitefile.Text(b.VaultID), sqlitefile.Text(b.AccountID), sqlitefile.Int(int64(b.Revision)))}}, false)
		if err != nil {
			return nil, nil, err
		}
		schema = append(schema, sqlitefile.SchemaEntry{Type: "table", Name: "tgvault_binding", Table: "tgvault_binding", Root: root, SQL: sqlBinding})

		keys := make([]string, 0, len(snap.Meta))
		for k := range snap.Meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		metaRows := make([]sqlitefile.TableRow, len(keys))
		for i, k := range keys {
			metaRows[i] = sqlitefile.TableRow{Rowid: int64(i + 1), Record: sqlitefile.AppendRecord(nil, sqlitefile.Text(k), sqlitefile.Blob(snap.Meta[k]))}
		}
		if root, err = w.WriteTable(metaRows, false); err != nil {
			return nil, nil, err
		}
		schema = append(schema, sqlitefile.SchemaEntry{Type: "table", Name: "tgvault_meta", Table: "tgvault_meta", Root: root, SQL: sqlMeta})

		ups := slices.Clone(snap.UpdateState)
		slices.SortFunc(ups, func(a, b UpdateState) int { return cmp.Compare(a.ID, b.ID) })
		upRows := make([]sqlitefile.TableRow, len(ups))
		for i, u := range ups {
			if i > 0 && ups[i-1].ID == u.ID {
				return nil, nil, fmt.Errorf("storage: duplicate update state id")
			}
			upRows[i] = sqlitefile.TableRow{Rowid: u.ID, Record: sqlitefile.AppendRecord(nil, sqlitefile.Null(), optInt(u.Pts), optInt(u.Qts), optInt(u.Date), optInt(u.Seq))}
		}
		if root, err = w.WriteTable(upRows, false); err != nil {
			return nil, nil, err
		}
		schema = append(schema, sqlitefile.SchemaEntry{Type: "table", Name: "tgvault_update_state", Table: "tgvault_update_state", Root: root, SQL: sqlUpdates})
	}
	out, err := w.Finish(schema)
	if err != nil {
		return nil, nil, err
	}
	kept.buf = out
	return out, kept, nil
}

// smallImagePeers is the most peers an image of small pages holds.
const smallImagePeers = 1000

// imagePageSize is the page size of a new image of peers: small pages
// (sqlitefile.SmallPageSize) for a store of a few peers, such as almost every account
// of `tgvault run` holds, whose ten tables would otherwise take ten 4 KiB
// pages (40 KiB to seal, write and fsync at every save, where 1 KiB pages
// take 10 KiB); sqlitefile.PageSize for larger stores (the only ones kept and
// patched) and for any key too long for an index cell of a small page.
func imagePageSize(peers []Peer) int {
	if len(peers) > smallImagePeers {
		return sqlitefile.PageSize
	}
	for i := range peers {
		if len(peers[i].Username) > smallPageMaxKey || len(peers[i].Phone) > smallPageMaxKey {
			return sqlitefile.PageSize
		}
	}
	return sqlitefile.SmallPageSize
}

// smallPageMaxKey keeps every index entry of a small page on the page
// (entries of the leaf streams never overflow): its record is the key, the
// rowid and a header of a few bytes, under maxLocalFor(sqlitefile.SmallPageSize).
const smallPageMaxKey = 200

// writePeerTrees writes the peers table and its indexes, from page 2, and
// returns their roots. Cells are written straight into their pages; the
// username and phone indexes are built on a second core meanwhile (into
// pages of their own, appended after the others).
func writePeerTrees(w *sqlitefile.Writer, peers []Peer) (roots [4]int, err error) {
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
		w     *sqlitefile.Writer
		roots [2]int
		err   error
	}
	done := make(chan textIndexes, 1)
	go func() {
		// Index entries: (column, rowid), in SQLite's order: NULL first,
		// then text by bytes (BINARY collation), ties by rowid. The keys
		// are in rowid order, so ties in position order are by rowid; ""
		// (NULL) sorts before every non-empty string, as NULL does.
		t := textIndexes{w: &sqlitefile.Writer{Buf: make([]byte, 0, (n*48/w.PageLen()+8)*w.PageLen()), Psize: w.PageLen()}}
		var e []byte
		for j, keys := range [][]string{users, phones} {
			idx := sqlitefile.LeafStream{W: t.w, Type: sqlitefile.PageIndexLeaf}
			for i, k := range textOrder(keys) {
				e = appendTextEntry(e[:0], keys[k], ids[k])
				if t.err = idx.AddEntry(e, i, n); t.err != nil {
					break
				}
			}
			t.roots[j] = idx.FinishIndex()
		}
		clear(e)
		done <- t
	}()

	table := sqlitefile.LeafStream{W: w, Type: sqlitefile.PageTableLeaf}
	var rec []byte
	for _, o := range order {
		rec = appendPeerRecord(rec[:0], &peers[o])
		if err == nil {
			err = table.AddRow(peers[o].ID, rec)
		}
	}
	clear(rec)
	roots[treePeers] = table.FinishTable()
	idx := sqlitefile.LeafStream{W: w, Type: sqlitefile.PageIndexLeaf}
	for i, id := range ids {
		rec = appendIntEntry(rec[:0], id, id)
		if err == nil {
			err = idx.AddEntry(rec, i, n)
		}
	}
	roots[treeIdxID] = idx.FinishIndex()

	t := <-done
	if err != nil || t.err != nil {
		return roots, errors.Join(err, t.err)
	}
	base := w.NPages()
	if err := relocateIndexPages(t.w.Buf, base, w.PageLen()); err != nil {
		return roots, err
	}
	w.Buf = append(w.Buf, t.w.Buf...)
	clear(t.w.Buf)
	roots[treeIdxUsername], roots[treeIdxPhone] = t.roots[0]+base, t.roots[1]+base
	return roots, nil
}

// relocateIndexPages adds offset to every page number in pages, which are
// index b-tree pages numbered from 1, about to become pages offset+1...
func relocateIndexPages(pages []byte, offset, psize int) error {
	for p := pages; len(p) >= psize; p = p[psize:] {
		switch p[0] {
		case sqlitefile.PageIndexLeaf:
			continue
		case sqlitefile.PageIndexInterior:
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
	r         *sqlitefile.Reader
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
	h, err := readImageHead(data)
	if err != nil {
		return nil, fileErr(err)
	}
	return h, nil
}

// fileErr translates the SQLite codec's *sqlitefile.Error into this
// package's sentinels (ErrCorrupt, ErrUnsupported), keeping its detail.
func fileErr(err error) error {
	var fe *sqlitefile.Error
	if !errors.As(err, &fe) {
		return err
	}
	if fe.Unsupported {
		return fmt.Errorf("%w: %s", ErrUnsupported, fe.Detail)
	}
	return fmt.Errorf("%w: %s", ErrCorrupt, fe.Detail)
}

// readImageHead reads what an image holds besides its peer rows: the
// schema's table roots, the peer trees, the one session row, the schema
// version and tgvault's own tables (binding, meta, update state), each
// checked.
//
// Long: one check per table of Pyrogram's schema and of tgvault's, in the
// schema's order; each is a few lines over the same reader and roots, and
// the function reads as the list of what an image must hold.
func readImageHead(data []byte) (*imageHead, error) {
	r, err := sqlitefile.NewReader(data)
	if err != nil {
		return nil, err
	}
	schema, err := r.Schema()
	if err != nil {
		return nil, err
	}
	roots := map[string]uint32{}
	var peerRoots [4]uint32
	for _, e := range schema {
		if ix, ok := peerIndexes[e.Name]; ok && e.Type == "index" && e.SQL == ix.sql && e.Root > 1 && e.Root <= r.NPages {
			peerRoots[ix.tree] = uint32(e.Root)
		}
		if e.Type != "table" {
			continue
		}
		want := map[string]string{"sessions": sqlSessions, "peers": sqlPeers, "version": sqlVersion, "tgvault_binding": sqlBinding, "tgvault_meta": sqlMeta, "tgvault_update_state": sqlUpdates}[e.Name]
		if want == "" {
			continue
		}
		if e.SQL != want || e.Root < 1 {
			return nil, fmt.Errorf("%w: table %s: %v", ErrUnsupported, e.Name, errSchema)
		}
		roots[e.Name] = uint32(e.Root)
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
	var vals []sqlitefile.Value
	rows := 0
	err = r.ScanTable(roots["sessions"], func(rowid int64, rec []byte) error {
		rows++
		var err error
		if vals, err = sqlitefile.DecodeRecord(rec, vals); err != nil || len(vals) != 7 {
			return fmt.Errorf("%w: sessions row", ErrCorrupt)
		}
		s := SessionRow{DCID: int(rowid)}
		if rowid < 1 || rowid > 255 {
			return fmt.Errorf("%w: dc id out of range", ErrCorrupt)
		}
		if v := vals[1]; v.Kind() == sqlitefile.KindInt {
			s.APIID = sessionstring.Some(int32(v.Int64()))
		}
		if v := vals[2]; v.Kind() == sqlitefile.KindInt {
			s.TestMode = sessionstring.Some(v.Int64() != 0)
		}
		if v := vals[3]; v.Kind() == sqlitefile.KindBlob {
			k, err := sessionstring.NewAuthKey(v.Bytes())
			if err != nil {
				return fmt.Errorf("%w: bad auth key", ErrCorrupt)
			}
			s.AuthKey = k
		}
		if v := vals[4]; v.Kind() == sqlitefile.KindInt {
			s.Date = v.Int64()
		}
		if v := vals[5]; v.Kind() == sqlitefile.KindInt {
			s.UserID = sessionstring.Some(v.Int64())
		}
		if v := vals[6]; v.Kind() == sqlitefile.KindInt {
			s.IsBot = sessionstring.Some(v.Int64() != 0)
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
	if err := r.ScanTable(roots["version"], func(rowid int64, _ []byte) error { version = int(rowid); return nil }); err != nil {
		return nil, err
	}
	if version != schemaVersion {
		return nil, fmt.Errorf("%w: schema version %d", ErrUnsupported, version)
	}
	if root := roots["tgvault_binding"]; root != 0 {
		err := r.ScanTable(root, func(_ int64, rec []byte) error {
			var err error
			if vals, err = sqlitefile.DecodeRecord(rec, vals); err != nil || len(vals) != 3 || vals[0].Kind() != sqlitefile.KindText || vals[1].Kind() != sqlitefile.KindText || vals[2].Kind() != sqlitefile.KindInt {
				return fmt.Errorf("%w: binding row", ErrCorrupt)
			}
			if h.binding != nil {
				return fmt.Errorf("%w: two binding rows", ErrCorrupt)
			}
			h.binding = &Binding{VaultID: string(vals[0].Bytes()), AccountID: string(vals[1].Bytes()), Revision: uint64(vals[2].Int64())}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if root := roots["tgvault_meta"]; root != 0 {
		err := r.ScanTable(root, func(_ int64, rec []byte) error {
			var err error
			if vals, err = sqlitefile.DecodeRecord(rec, vals); err != nil || len(vals) != 2 || vals[0].Kind() != sqlitefile.KindText {
				return fmt.Errorf("%w: meta row", ErrCorrupt)
			}
			h.meta[string(vals[0].Bytes())] = bytes.Clone(vals[1].Bytes())
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if root := roots["tgvault_update_state"]; root != 0 {
		err := r.ScanTable(root, func(rowid int64, rec []byte) error {
			var err error
			if vals, err = sqlitefile.DecodeRecord(rec, vals); err != nil || len(vals) != 5 {
				return fmt.Errorf("%w: update state row", ErrCorrupt)
			}
			u := UpdateState{ID: rowid}
			opt := func(v sqlitefile.Value) sessionstring.Opt[int64] {
				if v.Kind() == sqlitefile.KindInt {
					return sessionstring.Some(v.Int64())
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
	var vals []sqlitefile.Value
	// Interning the handful of type names saves an allocation per row.
	types := map[string]PeerType{}
	err := h.r.ScanTable(h.peersRoot, func(rowid int64, rec []byte) error {
		var err error
		if vals, err = sqlitefile.DecodeRecord(rec, vals); err != nil || len(vals) != 6 {
			return fmt.Errorf("%w: peers row", ErrCorrupt)
		}
		p := Peer{ID: rowid}
		if vals[1].Kind() == sqlitefile.KindInt {
			p.AccessHash = vals[1].Int64()
		}
		if vals[2].Kind() != sqlitefile.KindText {
			return fmt.Errorf("%w: peer type", ErrCorrupt)
		}
		t, ok := types[string(vals[2].Bytes())]
		if !ok {
			t = PeerType(vals[2].Bytes())
			types[string(t)] = t
		}
		p.Type = t
		if vals[3].Kind() == sqlitefile.KindText {
			p.Username = string(vals[3].Bytes())
		}
		if vals[4].Kind() == sqlitefile.KindText {
			p.Phone = string(vals[4].Bytes())
		}
		if vals[5].Kind() == sqlitefile.KindInt {
			p.LastUpdateOn = vals[5].Int64()
		}
		peers = append(peers, p)
		return nil
	})
	if err != nil {
		return nil, fileErr(err)
	}
	h.peerRows = len(peers)
	return peers, nil
}
