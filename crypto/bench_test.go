package crypto

import (
	"crypto/rand"
	"testing"

	"filippo.io/age"
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

// accountSizes are plaintext sizes of account images: an image with no
// peers (the vault's smallest file is 40 KiB sealed), one with about
// 2,000 peers, and one with about 100,000.
var accountSizes = []struct {
	name string
	n    int
}{{"40KiB", 40 << 10}, {"1MiB", 1 << 20}, {"10MiB", benchSize}}

// BenchmarkOpenAuthenticated opens an account-sized file two ways in the
// same run: "plain" is the format-1 open (age header + payload, the
// yardstick), "auth" the format-2 open of a VaultSealer file (the same,
// plus catching the stanzas and checking one HMAC tag). The difference is
// the cost of authentication; BenchmarkAuthCheck measures it alone.
func BenchmarkOpenAuthenticated(b *testing.B) {
	id, err := GenerateIdentity()
	if err != nil {
		b.Fatal(err)
	}
	plain, err := NewSealer([]*Identity{id}, []*Recipient{id.Recipient()})
	if err != nil {
		b.Fatal(err)
	}
	vs, err := NewVaultSealer([]*Identity{id}, []*Identity{id})
	if err != nil {
		b.Fatal(err)
	}
	vs = vs.For("0123456789abcdef0123456789abcdef/accounts/0123456789abcdef0123456789abcdef.age")
	for _, sz := range accountSizes {
		pt := payload(sz.n)
		for _, c := range []struct {
			name string
			s    interface {
				Seal([]byte) ([]byte, error)
				OpenInPlace([]byte) ([]byte, error)
			}
		}{{"plain", plain}, {"auth", vs}} {
			ct, err := c.s.Seal(pt)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, len(ct))
			b.Run(sz.name+"/"+c.name, func(b *testing.B) {
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				for b.Loop() {
					copy(buf, ct) // what the vault does: the file is read into a buffer
					if _, err := c.s.OpenInPlace(buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSealAuthenticated is BenchmarkOpenAuthenticated for a save.
func BenchmarkSealAuthenticated(b *testing.B) {
	id, err := GenerateIdentity()
	if err != nil {
		b.Fatal(err)
	}
	plain, err := NewSealer([]*Identity{id}, []*Recipient{id.Recipient()})
	if err != nil {
		b.Fatal(err)
	}
	vs, err := NewVaultSealer([]*Identity{id}, []*Identity{id})
	if err != nil {
		b.Fatal(err)
	}
	vs = vs.For("0123456789abcdef0123456789abcdef/accounts/0123456789abcdef0123456789abcdef.age")
	for _, sz := range accountSizes {
		pt := payload(sz.n)
		for _, c := range []struct {
			name string
			seal func([]byte) ([]byte, error)
		}{{"plain", plain.Seal}, {"auth", vs.Seal}} {
			b.Run(sz.name+"/"+c.name, func(b *testing.B) {
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.seal(pt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAuthCheck is the authentication alone, as an open of a
// format-2 file pays it on top of a format-1 open: the tag computed and
// compared (the stanzas themselves are parsed by age in both formats).
func BenchmarkAuthCheck(b *testing.B) {
	id, err := GenerateIdentity()
	if err != nil {
		b.Fatal(err)
	}
	k, err := authKeyOf(id)
	if err != nil {
		b.Fatal(err)
	}
	fileKey := make([]byte, fileKeySize)
	const ctx = "0123456789abcdef0123456789abcdef/accounts/0123456789abcdef0123456789abcdef.age"
	stanzas := []*age.Stanza{{Type: "X25519"}, {Type: authStanzaType, Args: []string{authVersion}, Body: k.tag(ctx, fileKey)}}
	p := &authPolicy{keys: []*authKey{k}, ctx: ctx}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := p.check(stanzas, fileKey); !ok || err != nil {
			b.Fatal(err)
		}
	}
}
