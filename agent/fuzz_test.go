package agent

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzAnswer: whatever a client sends, the agent answers within one frame
// and never panics; a secret it stores answers Get byte for byte, and
// nothing but Set stores one.
func FuzzAnswer(f *testing.F) {
	req := func(op byte, fields ...string) []byte {
		b := []byte{protoVersion, op}
		for _, s := range fields {
			b = appendField(b, []byte(s))
		}
		return b
	}
	var exp [8]byte
	f.Add(req(opGet, "tgvault", "v"))
	f.Add(req(opSet, "tgvault", "v", "AGE-SECRET-KEY-1", string(exp[:])))
	f.Add(req(opDelete, "tgvault", "v"))
	f.Add(req(opInfo))
	f.Add([]byte{2, opGet})
	f.Add([]byte{protoVersion, opSet, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) < 2 || len(body) > maxBody {
			return // serveConn reads no such frame
		}
		s := &server{uid: 0, entries: map[string]*entry{}, stop: make(chan struct{}), pageLk: true}
		defer s.wipeAll()
		page := newLockedBuf(pageSize)
		defer page.free()
		in := append([]byte(nil), body...)
		ans, _ := s.answer(in, page.b[frameSize+2:frameSize+2])
		if len(ans) == 0 || len(ans) > maxBody {
			t.Fatalf("answer of %d bytes", len(ans))
		}
		if _, err := fields(ans[1:]); err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
		stored := len(s.entries)
		if stored > 0 && body[1] != opSet {
			t.Fatalf("a %q request stored a secret", body[1])
		}
		if stored == 1 && ans[0] == statusOK {
			fv, _ := fields(body[2:])
			// Get gives back exactly what Set stored.
			get := append([]byte{protoVersion, opGet}, appendField(appendField(nil, fv[0]), fv[1])...)
			got, _ := s.answer(get, nil)
			gv, err := fields(got[1:])
			if err != nil || got[0] != statusOK || len(gv) != 1 || string(gv[0]) != string(fv[2]) {
				t.Fatalf("Get after Set = %v %q, want %q", got[0], gv, fv[2])
			}
			if e := binary.BigEndian.Uint64(fv[3]); e != 0 && time.Now().UnixNano() >= int64(e) {
				t.Fatal("a secret with an expiry in the past was stored")
			}
		}
	})
}
