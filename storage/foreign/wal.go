package foreign

import (
	"encoding/binary"

	"github.com/tgvault/tgvault/storage"
)

// SQLite write-ahead log layout (https://www.sqlite.org/fileformat2.html#walformat).
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
	walMagicLE         = 0x377f0682 // checksums over little-endian words
	walMagicBE         = 0x377f0683 // checksums over big-endian words
	walFormatVersion   = 3007000

	sqliteHeaderSize = 100
	sqliteMagic      = "SQLite format 3\x00"
)

// IsSQLite reports whether data starts as an SQLite database file does:
// such a source is read as a .session file (Read), not as a string.
func IsSQLite(data []byte) bool {
	return len(data) >= len(sqliteMagic) && string(data[:len(sqliteMagic)]) == sqliteMagic
}

// applyWAL returns the database image that a reader would see with wal
// beside db: db with the frames of every complete, valid transaction in wal
// written over it. It never changes db; the result is a new slice unless
// the WAL contributes nothing, in which case db itself is returned
// (copied=false).
//
// It follows SQLite's own recovery: a WAL whose header is unknown or fails
// its checksum is ignored (SQLite treats it as empty), frames are read in
// order while their salts match the header and their cumulative checksum is
// right, and only frames up to the last valid commit frame count. A WAL
// whose page size differs from the database's is corrupt.
//
// Long: SQLite's recovery rules above, step by step over the same header
// and frames; the sequence mirrors SQLite's documentation, and split up it
// would no longer read against it.
func applyWAL(db, wal []byte) (img []byte, copied bool, err error) {
	if len(wal) < walHeaderSize {
		return db, false, nil
	}
	magic := binary.BigEndian.Uint32(wal[0:])
	var order binary.ByteOrder
	switch magic {
	case walMagicLE:
		order = binary.LittleEndian
	case walMagicBE:
		order = binary.BigEndian
	default:
		return db, false, nil
	}
	if binary.BigEndian.Uint32(wal[4:]) != walFormatVersion {
		return db, false, nil
	}
	pageSize := int(binary.BigEndian.Uint32(wal[8:]))
	if !validPageSize(pageSize) {
		return db, false, nil
	}
	s0, s1 := walChecksum(order, wal[:24], 0, 0)
	if s0 != binary.BigEndian.Uint32(wal[24:]) || s1 != binary.BigEndian.Uint32(wal[28:]) {
		return db, false, nil
	}
	salt1, salt2 := binary.BigEndian.Uint32(wal[16:]), binary.BigEndian.Uint32(wal[20:])

	// committed maps a page number to the offset of its page data in wal,
	// from the newest committed frame; pending holds the frames of the
	// transaction being read.
	committed := map[uint32]int{}
	pending := map[uint32]int{}
	var dbPages uint32 // database size in pages after the last commit
	for off := walHeaderSize; off+walFrameHeaderSize+pageSize <= len(wal); off += walFrameHeaderSize + pageSize {
		fh := wal[off : off+walFrameHeaderSize]
		pgno := binary.BigEndian.Uint32(fh[0:])
		commit := binary.BigEndian.Uint32(fh[4:])
		if pgno == 0 || binary.BigEndian.Uint32(fh[8:]) != salt1 || binary.BigEndian.Uint32(fh[12:]) != salt2 {
			break
		}
		data := wal[off+walFrameHeaderSize : off+walFrameHeaderSize+pageSize]
		s0, s1 = walChecksum(order, fh[:8], s0, s1)
		s0, s1 = walChecksum(order, data, s0, s1)
		if s0 != binary.BigEndian.Uint32(fh[16:]) || s1 != binary.BigEndian.Uint32(fh[20:]) {
			break
		}
		pending[pgno] = off + walFrameHeaderSize
		if commit != 0 {
			for p, o := range pending {
				committed[p] = o
			}
			clear(pending)
			dbPages = commit
		}
	}
	if dbPages == 0 {
		return db, false, nil
	}

	if len(db) > 0 {
		dbPageSize, ok := headerPageSize(db)
		if !ok {
			return nil, false, newError("", storage.ErrCorrupt, "the database header is not valid")
		}
		if dbPageSize != pageSize {
			return nil, false, newError("", storage.ErrCorrupt, "the WAL page size differs from the database's")
		}
	}
	size := int64(dbPages) * int64(pageSize)
	if size > MaxSize {
		return nil, false, newError("", storage.ErrUnsupported, "the database with its WAL is larger than the size limit")
	}
	img = make([]byte, size)
	copy(img, db)
	for p, o := range committed {
		if p > dbPages {
			continue // truncated away by a later commit
		}
		copy(img[int64(p-1)*int64(pageSize):], wal[o:o+pageSize])
	}
	if len(img) >= sqliteHeaderSize {
		// The in-header database size, made valid (version-valid-for =
		// change counter), so that SQLite sizes the database as the WAL says.
		binary.BigEndian.PutUint32(img[28:], dbPages)
		copy(img[92:96], img[24:28])
	}
	return img, true, nil
}

// walChecksum continues SQLite's WAL checksum over b (a multiple of 8 bytes).
func walChecksum(order binary.ByteOrder, b []byte, s0, s1 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}

// validPageSize reports whether n is a power of two between 512 and 65536.
func validPageSize(n int) bool {
	return n >= 512 && n <= 65536 && n&(n-1) == 0
}

// headerPageSize reads the page size from an SQLite database header.
func headerPageSize(db []byte) (int, bool) {
	if len(db) < sqliteHeaderSize || string(db[:16]) != sqliteMagic {
		return 0, false
	}
	n := int(binary.BigEndian.Uint16(db[16:]))
	if n == 1 {
		n = 65536
	}
	return n, validPageSize(n)
}
