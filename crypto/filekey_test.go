package crypto

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// headerOf returns the header of a binary age file (up to the payload
// nonce).
func headerOf(t *testing.T, ct []byte) []byte {
	t.Helper()
	hdr, err := age.ExtractHeader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	return hdr
}

// TestSealKeepingReusesHeader: a file opened with OpenKeeping is sealed
// again under its own header with a fresh nonce, and the result is a file
// every reader opens: the sealer (authenticated), age itself, and a second
// OpenKeeping, which keeps the same header again.
func TestSealKeepingReusesHeader(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	s := mustVaultSealer(t, []*Identity{id}, []*Identity{id}, "v/accounts/a.age")
	first := s.mustSeal(t, payload(1000))
	pt, k, err := s.OpenKeeping(bytes.Clone(first))
	if err != nil || k == nil || !bytes.Equal(pt, payload(1000)) {
		t.Fatalf("OpenKeeping = %v, %v", k, err)
	}
	for _, n := range []int{0, 1, 1000, chunkSize, 3*chunkSize + 7} {
		want := payload(n)
		a, ka, err := s.SealKeeping(want, k)
		if err != nil || ka != k {
			t.Fatalf("%d bytes: SealKeeping kept %v (want the same key), %v", n, ka == k, err)
		}
		b, _, err := s.SealKeeping(want, k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(headerOf(t, a), headerOf(t, first)) {
			t.Fatalf("%d bytes: the header changed", n)
		}
		// A fresh payload nonce each time: two seals of the same plaintext
		// differ right after the header.
		h := len(headerOf(t, a))
		if bytes.Equal(a[h:h+nonceSize], b[h:h+nonceSize]) || bytes.Equal(a[h:h+nonceSize], first[h:h+nonceSize]) {
			t.Fatalf("%d bytes: payload nonce reused", n)
		}
		got, ok, err := s.OpenChecked(a)
		if err != nil || !ok || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: OpenChecked = %v, %v", n, ok, err)
		}
		r, err := age.Decrypt(bytes.NewReader(a), id.id)
		if err != nil {
			t.Fatalf("age.Decrypt: %v", err)
		}
		if got, _ := io.ReadAll(r); !bytes.Equal(got, want) {
			t.Fatal("age.Decrypt: plaintext differs")
		}
		got, k2, err := s.OpenKeeping(bytes.Clone(b))
		if err != nil || k2 == nil || !bytes.Equal(got, want) || !bytes.Equal(k2.header, k.header) || !bytes.Equal(k2.key, k.key) {
			t.Fatalf("%d bytes: OpenKeeping of a resealed file: %v", n, err)
		}
	}
}

// TestSealKeepingNewHeader: SealKeeping makes a new header (a new file key,
// as Seal does) whenever the one it is given is not this sealer's own, and
// OpenKeeping keeps nothing of a header this sealer would not write.
func TestSealKeepingNewHeader(t *testing.T) {
	t.Parallel()
	id, next, other := newIdentity(t), newIdentity(t), newIdentity(t)
	const ctx = "v/accounts/a.age"
	s := mustVaultSealer(t, []*Identity{id}, []*Identity{id}, ctx)
	pt := payload(700)
	_, own, err := s.SealKeeping(pt, nil)
	if err != nil || own == nil {
		t.Fatalf("SealKeeping(nil): %v", err)
	}
	otherCtx := mustVaultSealer(t, []*Identity{id}, []*Identity{id}, "v/accounts/b.age")
	_, foreign, _ := otherCtx.SealKeeping(pt, nil)
	dead := &FileKey{s: s, header: bytes.Clone(own.header), key: bytes.Clone(own.key)}
	dead.Destroy()
	// The key of a fresh seal serves the next one.
	again, k, err := s.SealKeeping(payload(90), own)
	if err != nil || k != own {
		t.Fatalf("SealKeeping with its own new key: kept %v, %v", k == own, err)
	}
	if got, err := s.Open(again); err != nil || !bytes.Equal(got, payload(90)) || !bytes.Equal(headerOf(t, again), own.header) {
		t.Fatalf("a seal under a fresh seal's key: %v", err)
	}
	for _, c := range []struct {
		name string
		k    *FileKey
	}{{"nil", nil}, {"another context's", foreign}, {"destroyed", dead}} {
		ct, k, err := s.SealKeeping(pt, c.k)
		if err != nil || k == nil || k == c.k {
			t.Fatalf("%s: SealKeeping = %v, %v; want a new key", c.name, k, err)
		}
		if c.k != nil && c.k.header != nil && bytes.Equal(headerOf(t, ct), c.k.header) {
			t.Fatalf("%s: header reused", c.name)
		}
		if got, err := s.Open(ct); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: Open: %v", c.name, err)
		}
	}

	// Files whose header the sealer must not reuse.
	legacy := s.AcceptUnauthenticated()
	rekeying := mustVaultSealer(t, []*Identity{id, next}, []*Identity{id, next}, ctx)
	afterRekey := mustVaultSealer(t, []*Identity{id, next}, []*Identity{next}, ctx)
	for _, c := range []struct {
		name string
		s    *VaultSealer
		ct   []byte
	}{
		{"no auth stanza (format 1)", legacy, mustSeal(t, pt, id.Recipient())},
		{"a rekey's two recipients", rekeying, rekeying.mustSeal(t, pt)},
		{"sealed to the key before a rekey", afterRekey, s.mustSeal(t, pt)},
		{"armored", s, armored(t, s.mustSeal(t, pt))},
	} {
		got, k, err := c.s.OpenKeeping(c.ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: OpenKeeping: %v", c.name, err)
		}
		if k != nil {
			t.Errorf("%s: OpenKeeping kept the header", c.name)
		}
	}
	// After a rekey the new header is sealed to the new key only.
	ct, _, err := afterRekey.SealKeeping(pt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ct, id); err == nil {
		t.Error("a seal after the rekey opens with the old key")
	}

	// A forged file is refused, and nothing is kept.
	if got, k, err := s.OpenKeeping(forge(t, pt, id.Recipient(), ctx, []*Identity{other})); err == nil || k != nil || got != nil {
		t.Errorf("forged file: OpenKeeping = %v, %v, %v", got != nil, k, err)
	}
}

func mustSeal(t *testing.T, pt []byte, r *Recipient) []byte {
	t.Helper()
	ct, err := Seal(pt, r)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// armored returns the armored form of a binary age file.
func armored(t *testing.T, bin []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := armor.NewWriter(&buf)
	if _, err := w.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFileKeyRedacted(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	s := mustVaultSealer(t, []*Identity{id}, []*Identity{id}, "v/accounts/a.age")
	_, k, err := s.SealKeeping(payload(10), nil)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "k", k)
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x", k, k, k, k, k), logged.String()} {
		if strings.Contains(out, fmt.Sprintf("%x", k.key)) || !strings.Contains(out, redacted) {
			t.Errorf("printed as %q", out)
		}
	}
}

// BenchmarkSealKeeping is a save of an account-sized file under its kept
// header (no X25519), beside BenchmarkSealAuthenticated's auth rows (a new
// file key each save).
func BenchmarkSealKeeping(b *testing.B) {
	id, err := GenerateIdentity()
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
		_, k, err := vs.SealKeeping(pt, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := vs.SealKeeping(pt, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
