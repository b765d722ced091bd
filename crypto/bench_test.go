package crypto

import (
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// benchSize is the size of a large session image.
const benchSize = 10 << 20

func benchSealer(b *testing.B) *Sealer {
	id, err := GenerateIdentity()
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSealer([]*Identity{id}, []*Recipient{id.Recipient()})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkSeal(b *testing.B) {
	s := benchSealer(b)
	pt := payload(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := benchSealer(b)
	ct, err := s.Seal(payload(benchSize))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealText(b *testing.B) {
	id, err := GenerateIdentity()
	if err != nil {
		b.Fatal(err)
	}
	pt := payload(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SealText(pt, id.Recipient()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawChaCha20Poly1305 is the floor: the same 10 MB sealed in 64 KiB
// chunks into a preallocated buffer, with no age framing and no copies.
func BenchmarkRawChaCha20Poly1305(b *testing.B) { benchRaw(b, false) }

// BenchmarkRawChaCha20Poly1305Alloc is the floor for Seal, which must return
// a new buffer: the same, with the output allocated on each run.
func BenchmarkRawChaCha20Poly1305Alloc(b *testing.B) { benchRaw(b, true) }

func benchRaw(b *testing.B, alloc bool) {
	key := make([]byte, chacha20poly1305.KeySize)
	rand.Read(key)
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		b.Fatal(err)
	}
	pt := payload(benchSize)
	out := make([]byte, 0, benchSize+(benchSize/chunkSize+1)*tagSize)
	nonce := make([]byte, chacha20poly1305.NonceSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		out = out[:0]
		if alloc {
			out = make([]byte, 0, cap(out))
		}
		for i := 0; i < len(pt); i += chunkSize {
			nonce[10]++
			out = aead.Seal(out, nonce, pt[i:min(i+chunkSize, len(pt))], nil)
		}
	}
}
