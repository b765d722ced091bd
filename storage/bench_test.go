package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// benchSealer is what the sealed benchmarks seal with. sealed_age_test.go
// swaps in the age sealer from package crypto (the one the vault uses).
var benchSealer = func(b *testing.B) Sealer { return newTestSealer(b) }

const benchPeers = 100_000

// benchStore returns a file store holding 100,000 peers, plus the peers.
func benchStore(b *testing.B) (*File, []Peer) {
	b.Helper()
	peers := randomPeers(benchPeers, 42)
	// The clock is the peers' own time, so usernames are within the TTL.
	now := func() time.Time { return time.Unix(1700000500, 0) }
	f, err := CreateFile(filepath.Join(b.TempDir(), "a.age"), benchSealer(b), Binding{"v", "a", 1}, &Snapshot{Session: testRow(b), Peers: peers}, Options{Now: now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f, peers
}

// BenchmarkUpdatePeers stores 100,000 peers in batches of 100, as API
// results arrive. The figure to read is ns/peer (and peers/s).
func BenchmarkUpdatePeers(b *testing.B) {
	peers := randomPeers(benchPeers, 7)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		f, err := NewMemory(nil, Options{})
		if err != nil {
			b.Fatal(err)
		}
		st := &fileless{f.core}
		b.StartTimer()
		for i := 0; i < len(peers); i += 100 {
			if err := st.UpdatePeers(peers[i : i+100]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		f.Close()
		b.StartTimer()
	}
	perPeer := float64(b.Elapsed().Nanoseconds()) / float64(b.N*benchPeers)
	b.ReportMetric(perPeer, "ns/peer")
	b.ReportMetric(1e9/perPeer, "peers/s")
}

// fileless exposes the shared write-back index: the hot path of both
// engines, before any flush.
type fileless struct{ *core }

func benchLookup(b *testing.B, fn func(s *File, p Peer) error) {
	s, peers := benchStore(b)
	if _, err := s.PeerCount(); err != nil { // load the index first
		b.Fatal(err)
	}
	var withKey []Peer
	for _, p := range peers {
		if fn(s, p) == nil {
			withKey = append(withKey, p)
		}
	}
	if len(withKey) == 0 {
		b.Fatal("no peer answers the lookup")
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if err := fn(s, withKey[i%len(withKey)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/lookup")
}

func BenchmarkPeerByID(b *testing.B) {
	benchLookup(b, func(s *File, p Peer) error { _, err := s.PeerByID(p.ID); return err })
}

func BenchmarkPeerByUsername(b *testing.B) {
	// The benchmark's clock stays within the TTL of the stored rows.
	benchLookup(b, func(s *File, p Peer) error {
		if p.Username == "" || p.Username == "shared_name" {
			return ErrNotFound
		}
		_, err := s.PeerByUsername(p.Username)
		return err
	})
}

func BenchmarkPeerByPhone(b *testing.B) {
	benchLookup(b, func(s *File, p Peer) error {
		if p.Phone == "" {
			return ErrNotFound
		}
		_, err := s.PeerByPhone(p.Phone)
		return err
	})
}

// BenchmarkSaveSealed saves a 100,000-peer store (about 10 MB): build the
// SQLite image, seal it, write a temp file, fsync, rename, fsync the dir.
// MB/s is over the image's plaintext size.
func BenchmarkSaveSealed(b *testing.B) {
	s, _ := benchStore(b)
	snap, _ := s.Snapshot()
	img, _ := encodeImage(snap, &s.binding)
	b.SetBytes(int64(len(img)))
	b.ReportMetric(float64(len(img))/1e6, "MB-image")
	b.ReportAllocs()
	for b.Loop() {
		s.mu.Lock()
		err := s.saveLocked()
		s.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenSealed opens that file: read, decrypt, check the binding,
// and read the session row; the peers are read on first use, which
// BenchmarkOpenSealed/peers includes.
func BenchmarkOpenSealed(b *testing.B) {
	s, _ := benchStore(b)
	sealer := s.sealer
	s.Close()
	st, _ := os.Stat(s.Path())
	for _, withPeers := range []bool{false, true} {
		b.Run(map[bool]string{false: "head", true: "peers"}[withPeers], func(b *testing.B) {
			b.SetBytes(st.Size())
			b.ReportAllocs()
			for b.Loop() {
				f, err := OpenFile(s.Path(), sealer, Binding{"v", "a", 0}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if withPeers {
					if n, err := f.PeerCount(); err != nil || n != benchPeers {
						b.Fatal(n, err)
					}
				}
				f.Close()
			}
		})
	}
}

// BenchmarkUpdateAndSaveSealed is the end-to-end figure: 100,000 peers
// stored in batches of 100 and durably saved sealed, from an empty store.
func BenchmarkUpdateAndSaveSealed(b *testing.B) {
	peers := randomPeers(benchPeers, 11)
	dir := b.TempDir()
	sealer := benchSealer(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		f, err := CreateFile(filepath.Join(dir, fmt.Sprint(i, ".age")), sealer, Binding{"v", "a", 1}, &Snapshot{Session: testRow(b)}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < len(peers); j += 100 {
			if err := f.UpdatePeers(peers[j : j+100]); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/100k-peers")
}

// BenchmarkRawChaCha20Poly1305 is the yardstick for the sealed figures:
// ChaCha20-Poly1305 over a 10 MB buffer in age's 64 KiB chunks.
func BenchmarkRawChaCha20Poly1305(b *testing.B) {
	buf := make([]byte, 10<<20)
	out := make([]byte, 0, len(buf)+len(buf)/(64<<10)*16+16)
	a, _ := chacha20poly1305.New(make([]byte, 32))
	nonce := make([]byte, 12)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		out = out[:0]
		for off := 0; off < len(buf); off += 64 << 10 {
			out = a.Seal(out, nonce, buf[off:min(off+64<<10, len(buf))], nil)
		}
	}
}

// BenchmarkEncodeImage builds the SQLite image of a 100,000-peer store:
// the part of a save before sealing.
func BenchmarkEncodeImage(b *testing.B) {
	snap := &Snapshot{Session: testRow(b), Peers: randomPeers(benchPeers, 42)}
	img, _ := encodeImage(snap, &Binding{"v", "a", 1})
	b.SetBytes(int64(len(img)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeImage(snap, &Binding{"v", "a", 1}); err != nil {
			b.Fatal(err)
		}
	}
}
