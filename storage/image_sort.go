package storage

// Sorting the rows and index keys of a full image build. A comparison
// sort of 100,000 strings costs tens of milliseconds (and a write barrier
// per swap of a struct holding a string while the collector runs); a
// radix sort of 8-byte keys without pointers costs about one.

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/tgvault/tgvault/storage/internal/sqlitefile"
)

// keyed is a sort key and the position of what it belongs to.
type keyed struct {
	key uint64
	pos int32
}

// radixSort sorts a by key, stably (equal keys keep their order), using
// tmp (as long as a) as scratch; it returns whichever of the two holds the
// result. Byte positions where every key agrees are skipped.
func radixSort(a, tmp []keyed) []keyed {
	if len(a) < 2 {
		return a
	}
	for shift := uint(0); shift < 64; shift += 8 {
		var count [256]int
		for _, x := range a {
			count[byte(x.key>>shift)]++
		}
		if count[byte(a[0].key>>shift)] == len(a) {
			continue
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, x := range a {
			b := byte(x.key >> shift)
			tmp[count[b]] = x
			count[b]++
		}
		a, tmp = tmp, a
	}
	return a
}

// idOrder returns the positions of peers in order of id.
func idOrder(peers []Peer) []int32 {
	a := make([]keyed, len(peers))
	for i := range peers {
		a[i] = keyed{uint64(peers[i].ID) ^ 1<<63, int32(i)} // signed order
	}
	a = radixSort(a, make([]keyed, len(a)))
	out := make([]int32, len(a))
	for i, x := range a {
		out[i] = x.pos
	}
	return out
}

// prefixKey is the first 8 bytes of s, big-endian, zero-padded: the order
// of the keys is the order of the strings, except between strings that
// share their first 8 bytes (or differ only by trailing zero bytes).
func prefixKey(s string) uint64 {
	if len(s) >= 8 {
		return binary.BigEndian.Uint64([]byte(s[:8]))
	}
	var b [8]byte
	copy(b[:], s)
	return binary.BigEndian.Uint64(b[:])
}

// textOrder returns 0..len(keys)-1 in the order of keys[i] by bytes (""
// first), ties in position order: the order of an index of text keys
// whose rows are in rowid order.
func textOrder(keys []string) []int32 {
	a := make([]keyed, len(keys))
	for i, s := range keys {
		a[i] = keyed{prefixKey(s), int32(i)}
	}
	a = radixSort(a, make([]keyed, len(a)))
	// Keys sharing a prefix: order them by the whole string (stably).
	for i := 0; i < len(a); {
		j := i + 1
		for j < len(a) && a[j].key == a[i].key {
			j++
		}
		if run := a[i:j]; len(run) > 1 && !slices.IsSortedFunc(run, func(x, y keyed) int { return strings.Compare(keys[x.pos], keys[y.pos]) }) {
			slices.SortStableFunc(run, func(x, y keyed) int { return strings.Compare(keys[x.pos], keys[y.pos]) })
		}
		i = j
	}
	out := make([]int32, len(a))
	for i, x := range a {
		out[i] = x.pos
	}
	return out
}

// appendPeerRecord appends the record of p's row, as sqlitefile.AppendRecord does
// for (NULL, access_hash, type, username, phone_number, last_update_on).
func appendPeerRecord(dst []byte, p *Peer) []byte {
	th, ah := sqlitefile.IntSerial(p.AccessHash)
	tl, al := sqlitefile.IntSerial(p.LastUpdateOn)
	tt := 13 + 2*uint64(len(p.Type))
	var tu, tp uint64
	if p.Username != "" {
		tu = 13 + 2*uint64(len(p.Username))
	}
	if p.Phone != "" {
		tp = 13 + 2*uint64(len(p.Phone))
	}
	hdr := 1 + 1 + sqlitefile.VarintLen(th) + sqlitefile.VarintLen(tt) + sqlitefile.VarintLen(tu) + sqlitefile.VarintLen(tp) + sqlitefile.VarintLen(tl)
	dst = slices.Grow(dst, hdr+ah+al+len(p.Type)+len(p.Username)+len(p.Phone))
	dst = append(dst, byte(hdr), 0) // hdr < 128: one byte
	dst = sqlitefile.PutVarint(dst, th)
	dst = sqlitefile.PutVarint(dst, tt)
	dst = sqlitefile.PutVarint(dst, tu)
	dst = sqlitefile.PutVarint(dst, tp)
	dst = sqlitefile.PutVarint(dst, tl)
	dst = appendIntBody(dst, p.AccessHash, ah)
	dst = append(dst, p.Type...)
	dst = append(dst, p.Username...)
	dst = append(dst, p.Phone...)
	return appendIntBody(dst, p.LastUpdateOn, al)
}

func appendIntBody(dst []byte, v int64, size int) []byte {
	for s := size - 1; s >= 0; s-- {
		dst = append(dst, byte(uint64(v)>>(8*uint(s))))
	}
	return dst
}

// appendTextEntry appends the index record (s or NULL for "", rowid).
func appendTextEntry(dst []byte, s string, rowid int64) []byte {
	var ts uint64
	if s != "" {
		ts = 13 + 2*uint64(len(s))
	}
	tr, rl := sqlitefile.IntSerial(rowid)
	hdr := 1 + sqlitefile.VarintLen(ts) + sqlitefile.VarintLen(tr)
	dst = append(dst, byte(hdr))
	dst = sqlitefile.PutVarint(dst, ts)
	dst = sqlitefile.PutVarint(dst, tr)
	dst = append(dst, s...)
	return appendIntBody(dst, rowid, rl)
}

// appendIntEntry appends the index record (v, rowid).
func appendIntEntry(dst []byte, v, rowid int64) []byte {
	tv, vl := sqlitefile.IntSerial(v)
	tr, rl := sqlitefile.IntSerial(rowid)
	dst = append(dst, byte(1+sqlitefile.VarintLen(tv)+sqlitefile.VarintLen(tr)))
	dst = sqlitefile.PutVarint(dst, tv)
	dst = sqlitefile.PutVarint(dst, tr)
	dst = appendIntBody(dst, v, vl)
	return appendIntBody(dst, rowid, rl)
}
