package storage

import (
	"testing"
)

// FuzzImage feeds arbitrary bytes to the reader of decrypted images (what
// the sealed-file opener parses once the seal is open). It must never
// panic, and whatever it accepts must encode again.
func FuzzImage(f *testing.F) {
	snap := &Snapshot{Session: testRow(f), Peers: randomPeers(200, 1), Meta: map[string][]byte{"k": make([]byte, 5000)}}
	img, err := encodeImage(snap, &Binding{"v", "a", 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(img)
	small, _ := encodeImage(&Snapshot{Session: testRow(f), Peers: vectorPeers()}, &Binding{"v", "a", 1})
	f.Add(small)
	plain, _ := PlainPyrogram(&Snapshot{Session: testRow(f)})
	f.Add(plain)
	f.Add([]byte("SQLite format 3\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		head, err := decodeImageHead(data)
		if err != nil {
			return
		}
		peers, err := head.readPeers()
		if err != nil {
			return
		}
		snap := &Snapshot{Session: head.session, Peers: peers, Meta: head.meta, UpdateState: head.updates}
		if head.session.DCID <= 0 {
			t.Fatal("accepted a session without a dc id")
		}
		// Duplicate ids or invalid rows may make encoding refuse; it must
		// not panic.
		_, _ = encodeImage(snap, head.binding)
	})
}

// FuzzRecord checks the record decoder against its encoder.
func FuzzRecord(f *testing.F) {
	f.Add(appendRecord(nil, vNull(), vInt(-1), vText("user"), vTextOpt("alice"), vInt(1<<40)))
	f.Add([]byte{0x02, 0x0c})
	f.Fuzz(func(t *testing.T, rec []byte) {
		vals, err := decodeRecord(rec, nil)
		if err != nil {
			return
		}
		again, err := decodeRecord(appendRecord(nil, vals...), nil)
		if err != nil || len(again) != len(vals) {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		for i := range vals {
			a, b := vals[i], again[i]
			if a.kind != b.kind || a.i != b.i || string(a.b) != string(b.b) || (a.f != b.f && a.f == a.f) {
				t.Fatalf("value %d changed: %+v -> %+v", i, a, b)
			}
		}
	})
}
