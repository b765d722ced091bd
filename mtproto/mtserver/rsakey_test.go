package mtserver

import (
	"crypto/rand"
	"testing"
)

// TestFingerprintFindable: a fingerprint whose hex starts with a zero
// nibble is one mtcute 0.29.7 cannot find (it looks the key up by the hex
// without leading zeros: "c9336ea9953dd35", seen in a relay test that
// looped on the key exchange); every other one is findable, a negative
// one (top bit set) too; GenerateKey gives only findable keys.
func TestFingerprintFindable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fp   uint64
		want bool
	}{
		{0x0c9336ea9953dd35, false},
		{0x0000000000000001, false},
		{0x0fffffffffffffff, false},
		{0x1000000000000000, true},
		{0xc9336ea9953dd350, true},
		{0xffffffffffffffff, true},
	} {
		if got := fingerprintFindable(int64(tc.fp)); got != tc.want {
			t.Errorf("fingerprintFindable(%016x) = %v, want %v", tc.fp, got, tc.want)
		}
	}
	k, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !FingerprintFindable(&k.PublicKey) || k.N.BitLen() != 2048 {
		t.Errorf("GenerateKey: a %d-bit key, findable %v", k.N.BitLen(), FingerprintFindable(&k.PublicKey))
	}
}
