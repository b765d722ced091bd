package crypto

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"

	agetest "c2sp.org/CCTV/age"
)

// vector is one of the age project's test vectors (c2sp.org/CCTV/age): a
// "key: value" header, an empty line, then the age file.
type vector struct {
	expect      string
	payloadHash []byte
	identities  []*Identity
	passphrases []Passphrase
	armored     bool
	file        []byte
}

func parseVector(t *testing.T, data []byte) *vector {
	t.Helper()
	v := &vector{}
	compressed := false
	for {
		line, rest, ok := bytes.Cut(data, []byte("\n"))
		if !ok {
			t.Fatal("invalid vector: no empty line before the file")
		}
		data = rest
		if len(line) == 0 {
			break
		}
		key, value, _ := strings.Cut(string(line), ": ")
		switch key {
		case "expect":
			v.expect = value
		case "payload":
			h, err := hex.DecodeString(value)
			if err != nil {
				t.Fatal(err)
			}
			v.payloadHash = h
		case "identity":
			id, err := ParseIdentity(value)
			if err != nil {
				t.Fatalf("identity: %v", err)
			}
			v.identities = append(v.identities, id)
		case "passphrase":
			v.passphrases = append(v.passphrases, Passphrase(value))
		case "armored":
			v.armored = true
		case "compressed":
			if value != "zlib" {
				t.Fatalf("unknown compression %q", value)
			}
			compressed = true
		case "file key", "comment":
		default:
			t.Fatalf("unknown header key %q", key)
		}
	}
	if compressed {
		r, err := zlib.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
	}
	v.file = data
	return v
}

// wantClass maps a vector's expectation to our error classes. age's header,
// HMAC, payload and armor failures are all ErrCorrupt to us.
func wantClass(expect string) string {
	switch expect {
	case "success":
		return "ok"
	case "no match":
		return "wrong key"
	case "header failure", "HMAC failure", "payload failure", "armor failure":
		return "corrupt"
	}
	return "unknown expectation " + expect
}

func TestCCTVVectors(t *testing.T) {
	t.Parallel()
	entries, err := fs.ReadDir(agetest.Vectors, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 147 {
		t.Errorf("found %d vectors, want 147", len(entries))
	}
	var (
		mu     sync.Mutex
		counts = map[string]int{}
	)
	t.Cleanup(func() {
		t.Logf("CCTV age vectors by expectation → our class: %v", counts)
	})
	for _, e := range entries {
		data, err := fs.ReadFile(agetest.Vectors, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			v := parseVector(t, data)
			want := wantClass(v.expect)
			// Our API opens with either identities or one passphrase,
			// never both at once: try every slot the vector gives.
			type attempt struct {
				what string
				open func() ([]byte, error)
			}
			var attempts []attempt
			if len(v.identities) > 0 {
				attempts = append(attempts, attempt{"identities", func() ([]byte, error) { return Open(v.file, v.identities...) }})
			}
			for _, p := range v.passphrases {
				attempts = append(attempts, attempt{"passphrase", func() ([]byte, error) { return OpenPassphrase(v.file, p) }})
			}
			if len(attempts) == 0 {
				// Files broken before any key is needed come without one.
				other := newIdentity(t)
				attempts = append(attempts, attempt{"unrelated identity", func() ([]byte, error) { return Open(v.file, other) }})
			}
			for _, a := range attempts {
				pt, err := a.open()
				got := class(err)
				mu.Lock()
				counts[v.expect+" → "+got]++
				mu.Unlock()
				if got != want {
					t.Errorf("%s: expect %q: got %s (%v), want %s", a.what, v.expect, got, err, want)
					continue
				}
				if err != nil {
					if pt != nil {
						t.Errorf("%s: plaintext returned with error %v", a.what, err)
					}
					continue
				}
				if sum := sha256.Sum256(pt); !bytes.Equal(sum[:], v.payloadHash) {
					t.Errorf("%s: payload hash mismatch", a.what)
				}
			}
		})
	}
}
