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
