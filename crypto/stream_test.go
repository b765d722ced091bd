package crypto

import (
	"bytes"
	"io"
	"io/fs"
	"testing"

	agetest "c2sp.org/CCTV/age"
	"filippo.io/age"
)

// Seal and Open do the STREAM payload themselves; these tests hold them to
// age's own writer and reader.

var streamSizes = []int{0, 1, 15, 16, 17, chunkSize - 1, chunkSize, chunkSize + 1,
	2*chunkSize - 1, 2 * chunkSize, 2*chunkSize + 1, 5*chunkSize + 12345}

func TestSealReadByAge(t *testing.T) {
	t.Parallel()
	for _, k := range kinds(t) {
		for _, n := range streamSizes {
			pt := payload(n)
			sealed, err := Seal(pt, k.id.Recipient())
			if err != nil {
				t.Fatal(err)
			}
			r, err := age.Decrypt(bytes.NewReader(sealed), k.id.id)
			if err != nil {
				t.Fatalf("%s size %d: age.Decrypt: %v", k.name, n, err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%s size %d: age reads back %d bytes, %v", k.name, n, len(got), err)
			}
			// The exact size age's writer would produce.
			chunks := max(1, (n+chunkSize-1)/chunkSize)
			hdr, err := age.ExtractHeader(bytes.NewReader(sealed))
			if err != nil {
				t.Fatal(err)
			}
			if want := len(hdr) + nonceSize + n + chunks*tagSize; len(sealed) != want {
				t.Errorf("%s size %d: sealed %d bytes, want %d", k.name, n, len(sealed), want)
			}
		}
	}
}

func TestOpenAgeWritten(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	for _, n := range streamSizes {
		pt := payload(n)
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, id.Recipient().r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(pt); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := Open(buf.Bytes(), id)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("size %d: Open of age.Encrypt output: %v", n, err)
		}
	}
}

// TestOpenMatchesAgeReader checks that our payload decryption classifies
// every CCTV vector as age's own reader does.
func TestOpenMatchesAgeReader(t *testing.T) {
	t.Parallel()
	entries, err := fs.ReadDir(agetest.Vectors, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(agetest.Vectors, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		v := parseVector(t, data)
		if len(v.identities) == 0 {
			continue
		}
		ids, err := ageIdentities(v.identities)
		if err != nil {
			t.Fatal(err)
		}
		bin, err := detect(v.file)
		if err != nil {
			continue // armor failures: not about the payload
		}
		fast, fastErr := openBinary(bin, ids, false)
		slow, slowErr := openStream(bytes.NewReader(bin), len(bin), ids)
		if class(fastErr) != class(slowErr) || !bytes.Equal(fast, slow) {
			t.Errorf("%s: ours %s (%v), age's reader %s (%v)", e.Name(), class(fastErr), fastErr, class(slowErr), slowErr)
		}
	}
}
