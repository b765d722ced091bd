package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	agetest "c2sp.org/CCTV/age"
)

// fuzzIdentity is the fixed identity FuzzOpen opens with (a test key, not a
// secret).
const fuzzIdentity = "AGE-SECRET-KEY-1GKD4QNN5S20UGN0MR83T0QD3KDWR698X3SYRUUFE2HYGKL7AKYTS4V400J"

// addVectorSeeds adds the age project's vector files (without their header)
// as fuzz seeds.
func addVectorSeeds(f *testing.F, match func(name string) bool) {
	entries, err := fs.ReadDir(agetest.Vectors, ".")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if !match(e.Name()) {
			continue
		}
		data, err := fs.ReadFile(agetest.Vectors, e.Name())
		if err != nil {
			f.Fatal(err)
		}
		if _, file, ok := bytes.Cut(data, []byte("\n\n")); ok {
			f.Add(file)
		}
	}
}

func checkFuzzOpen(t *testing.T, pt []byte, err error) {
	t.Helper()
	if err == nil {
		if pt == nil {
			t.Fatal("nil plaintext without error")
		}
		return
	}
	if pt != nil {
		t.Fatalf("plaintext with error %v", err)
	}
	if c := class(err); c != "wrong key" && c != "corrupt" {
		t.Fatalf("error %v is %s, want wrong key or corrupt", err, c)
	}
}

func FuzzOpen(f *testing.F) {
	id, err := ParseIdentity(fuzzIdentity)
	if err != nil {
		f.Fatal(err)
	}
	other := newIdentity(f)
	for _, n := range []int{0, 1, 100, chunkSize + 1} {
		pt := payload(n)
		for _, r := range []*Recipient{id.Recipient(), other.Recipient()} {
			for _, form := range forms[:3] {
				sealed, err := form.seal(pt, r)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(sealed)
			}
		}
	}
	addVectorSeeds(f, func(name string) bool { return !strings.HasPrefix(name, "stream_") })
	ids, err := ageIdentities([]*Identity{id})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := Open(data, id)
		checkFuzzOpen(t, pt, err)
		// Differential: our payload decryption against age's reader.
		if bin, derr := detect(data); derr == nil {
			ref, refErr := openStream(bytes.NewReader(bin), len(bin), ids)
			if class(refErr) != class(err) || !bytes.Equal(ref, pt) {
				t.Fatalf("Open: %s (%v); age's reader: %s (%v)", class(err), err, class(refErr), refErr)
			}
		}
	})
}

func FuzzOpenPassphrase(f *testing.F) {
	TestingSetScryptWorkFactor(f, testWorkFactor)
	p := Passphrase("fuzz passphrase")
	for _, n := range []int{0, 1, 100} {
		sealed, err := SealPassphrase(payload(n), p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sealed)
		sealed, err = SealPassphrase(payload(n), Passphrase("other"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sealed)
	}
	addVectorSeeds(f, func(name string) bool { return strings.Contains(name, "scrypt") })
	// The cap is lowered so that no mutated work factor costs seconds.
	const fuzzMaxWorkFactor = testWorkFactor + 2
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := openPassphrase(data, p, fuzzMaxWorkFactor)
		checkFuzzOpen(t, pt, err)
		if errors.Is(err, ErrWorkFactor) && !errors.Is(err, ErrCorrupt) {
			t.Fatal("ErrWorkFactor without ErrCorrupt")
		}
	})
}

func FuzzParseRecipient(f *testing.F) {
	for _, k := range kinds(f) {
		f.Add(k.id.Recipient().String())
		f.Add(k.id.Recipient().String() + " comment")
		f.Add(k.id.Reveal())
	}
	f.Add("age1")
	f.Add("ssh-ed25519 ")
	f.Add("ssh-rsa AAAA\nssh-ed25519 AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecipient(s)
		if err != nil {
			if r != nil {
				t.Fatal("recipient with error")
			}
			// Only public-key-looking input may be echoed.
			trimmed := strings.TrimSpace(s)
			public := strings.HasPrefix(trimmed, "age1") || strings.HasPrefix(trimmed, "ssh-")
			if !public && len(trimmed) >= 8 && strings.Contains(err.Error(), trimmed) {
				t.Fatalf("error echoes non-public input: %v", err)
			}
			return
		}
		again, err := ParseRecipient(r.String())
		if err != nil {
			t.Fatalf("ParseRecipient(%q) of its own String: %v", r, err)
		}
		if again.String() != r.String() {
			t.Fatalf("String not stable: %q then %q", r, again)
		}
	})
}

func FuzzParseIdentity(f *testing.F) {
	for _, k := range kinds(f) {
		f.Add(k.id.Reveal())
		f.Add(k.id.Recipient().String())
	}
	f.Add("AGE-SECRET-KEY-1")
	f.Add("AGE-SECRET-KEY-PQ-1")
	f.Add("-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----\n")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentity(s)
		if err != nil {
			if id != nil {
				t.Fatal("identity with error")
			}
			if len(s) >= 12 && leaks(err.Error(), s) {
				t.Fatalf("error echoes the input: %v", err)
			}
			return
		}
		again, err := ParseIdentity(id.Reveal())
		if err != nil {
			t.Fatalf("ParseIdentity of its own Reveal: %v", err)
		}
		if again.Reveal() != id.Reveal() || again.Recipient().String() != id.Recipient().String() {
			t.Fatal("Reveal does not round-trip")
		}
		if fmt.Sprint(id) != redacted {
			t.Fatal("identity prints")
		}
	})
}
