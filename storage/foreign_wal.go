package storage

import (
	"encoding/binary"
)

// SQLite write-ahead log layout (https://www.sqlite.org/fileformat2.html#walformat).
const (
	fgnWalHeaderSize      = 32
	fgnWalFrameHeaderSize = 24
	fgnWalMagicLE         = 0x377f0682 // checksums over little-endian words
	fgnWalMagicBE         = 0x377f0683 // checksums over big-endian words
	fgnWalFormatVersion   = 3007000

	fgnSqliteHeaderSize = 100
	fgnSqliteMagic      = "SQLite format 3\x00"
)

// fgnApplyWAL returns the database image that a reader would see with wal
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
func fgnApplyWAL(db, wal []byte) (img []byte, copied bool, err error) {
	if len(wal) < fgnWalHeaderSize {
		return db, false, nil
	}
	magic := binary.BigEndian.Uint32(wal[0:])
	var order binary.ByteOrder
	switch magic {
	case fgnWalMagicLE:
		order = binary.LittleEndian
	case fgnWalMagicBE:
		order = binary.BigEndian
	default:
		return db, false, nil
	}
	if binary.BigEndian.Uint32(wal[4:]) != fgnWalFormatVersion {
		return db, false, nil
	}
	pageSize := int(binary.BigEndian.Uint32(wal[8:]))
	if !fgnValidPageSize(pageSize) {
		return db, false, nil
	}
	s0, s1 := fgnWalChecksum(order, wal[:24], 0, 0)
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
	for off := fgnWalHeaderSize; off+fgnWalFrameHeaderSize+pageSize <= len(wal); off += fgnWalFrameHeaderSize + pageSize {
		fh := wal[off : off+fgnWalFrameHeaderSize]
		pgno := binary.BigEndian.Uint32(fh[0:])
		commit := binary.BigEndian.Uint32(fh[4:])
		if pgno == 0 || binary.BigEndian.Uint32(fh[8:]) != salt1 || binary.BigEndian.Uint32(fh[12:]) != salt2 {
			break
		}
		data := wal[off+fgnWalFrameHeaderSize : off+fgnWalFrameHeaderSize+pageSize]
		s0, s1 = fgnWalChecksum(order, fh[:8], s0, s1)
		s0, s1 = fgnWalChecksum(order, data, s0, s1)
		if s0 != binary.BigEndian.Uint32(fh[16:]) || s1 != binary.BigEndian.Uint32(fh[20:]) {
			break
		}
		pending[pgno] = off + fgnWalFrameHeaderSize
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
		dbPageSize, ok := fgnHeaderPageSize(db)
		if !ok {
			return nil, false, fgnForeignErr("", ErrCorrupt, "the database header is not valid")
		}
		if dbPageSize != pageSize {
			return nil, false, fgnForeignErr("", ErrCorrupt, "the WAL page size differs from the database's")
		}
	}
	size := int64(dbPages) * int64(pageSize)
	if size > MaxForeignSize {
		return nil, false, fgnForeignErr("", ErrUnsupported, "the database with its WAL is larger than the size limit")
	}
	img = make([]byte, size)
	copy(img, db)
	for p, o := range committed {
		if p > dbPages {
			continue // truncated away by a later commit
		}
		copy(img[int64(p-1)*int64(pageSize):], wal[o:o+pageSize])
	}
	if len(img) >= fgnSqliteHeaderSize {
		// The in-header database size, made valid (version-valid-for =
		// change counter), so that SQLite sizes the database as the WAL says.
		binary.BigEndian.PutUint32(img[28:], dbPages)
		copy(img[92:96], img[24:28])
	}
	return img, true, nil
}

// fgnWalChecksum continues SQLite's WAL checksum over b (a multiple of 8 bytes).
func fgnWalChecksum(order binary.ByteOrder, b []byte, s0, s1 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}

// fgnValidPageSize reports whether n is a power of two between 512 and 65536.
func fgnValidPageSize(n int) bool {
	return n >= 512 && n <= 65536 && n&(n-1) == 0
}

// fgnHeaderPageSize reads the page size from an SQLite database header.
func fgnHeaderPageSize(db []byte) (int, bool) {
	if len(db) < fgnSqliteHeaderSize || string(db[:16]) != fgnSqliteMagic {
		return 0, false
	}
	n := int(binary.BigEndian.Uint16(db[16:]))
	if n == 1 {
		n = 65536
	}
	return n, fgnValidPageSize(n)
}
