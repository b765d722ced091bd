package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"filippo.io/age"

	agetest "c2sp.org/CCTV/age"

	"github.com/tgvault/tgvault/internal/testhooks"
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
	testhooks.SetScryptWorkFactor(f, testWorkFactor)
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

// FuzzVaultOpen: a VaultSealer's Open on any input gives plaintext only
// for a file it authenticated, and otherwise no plaintext and an error
// that is the wrong key or corrupt; the legacy sealer differs only on a
// file with no auth stanza at all.
func FuzzVaultOpen(f *testing.F) {
	id, err := ParseIdentity(fuzzIdentity)
	if err != nil {
		f.Fatal(err)
	}
	other := newIdentity(f)
	const ctx = "fuzz/accounts/a.age"
	s, err := NewVaultSealer([]*Identity{id}, []*Identity{id})
	if err != nil {
		f.Fatal(err)
	}
	s = s.For(ctx)
	both, err := NewVaultSealer([]*Identity{id, other}, []*Identity{id, other})
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{0, 1, 100, chunkSize + 1} {
		pt := payload(n)
		for _, vs := range []*VaultSealer{s, both.For(ctx), s.For("fuzz/index.age")} {
			ct, err := vs.Seal(pt)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(ct)
		}
		plain, err := Seal(pt, id.Recipient())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(plain)
		f.Add(forge(f, pt, id.Recipient(), ctx, []*Identity{other}))
	}
	legacy := s.AcceptUnauthenticated()
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, ok, err := s.OpenChecked(data)
		checkFuzzOpen(t, pt, err)
		if err == nil && !ok {
			t.Fatal("opened without authentication")
		}
		lpt, lok, lerr := legacy.OpenChecked(data)
		checkFuzzOpen(t, lpt, lerr)
		switch {
		case err == nil && (lerr != nil || !lok || !bytes.Equal(pt, lpt)):
			t.Fatalf("the legacy sealer differs on an authenticated file: %v", lerr)
		case err != nil && lerr == nil && lok:
			t.Fatal("the legacy sealer authenticated what the strict one refused")
		case err != nil && lerr == nil && !errors.Is(err, ErrUnauthenticated):
			t.Fatalf("the legacy sealer opened a file refused for another reason: %v", err)
		case lerr == nil && !lok && Authenticated(data):
			t.Fatal("the legacy sealer opened a file with an auth stanza as unauthenticated")
		}
	})
}

// FuzzAuthStanzas: the check of the auth stanzas, over any stanzas a
// header can hold, accepts exactly when one stanza is well formed and
// carries the tag of a key in the policy, and never panics.
func FuzzAuthStanzas(f *testing.F) {
	id := newIdentity(f)
	k, err := authKeyOf(id)
	if err != nil {
		f.Fatal(err)
	}
	fileKey := bytes.Repeat([]byte{7}, fileKeySize)
	good := k.tag("ctx", fileKey)
	f.Add(authStanzaType, authVersion, good, "X25519", false)
	f.Add(authStanzaType, authVersion, good[:31], "", true)
	f.Add(authStanzaType, "2", good, "", false)
	f.Add(authStanzaType, "", []byte{}, "scrypt", true)
	f.Add("X25519", authVersion, good, authStanzaType, true)
	f.Fuzz(func(t *testing.T, typ, arg string, body []byte, otherType string, legacy bool) {
		var args []string
		if arg != "" {
			args = strings.Split(arg, " ")
		}
		stanzas := []*age.Stanza{{Type: otherType, Body: body}, {Type: typ, Args: args, Body: body}}
		p := &authPolicy{keys: []*authKey{k}, ctx: "ctx", legacy: legacy}
		ok, err := p.check(stanzas, fileKey)
		valid := func(s *age.Stanza) bool {
			return s.Type == authStanzaType && len(s.Args) == 1 && s.Args[0] == authVersion && bytes.Equal(s.Body, good)
		}
		anyAuth := typ == authStanzaType || otherType == authStanzaType
		wellFormed := true
		for _, s := range stanzas {
			if s.Type == authStanzaType {
				if _, err := parseAuthStanza(s); err != nil {
					wellFormed = false
				}
			}
		}
		want := wellFormed && (valid(stanzas[0]) || valid(stanzas[1]))
		switch {
		case ok != want:
			t.Fatalf("check = %v, want %v (%v)", ok, want, err)
		case ok && err != nil:
			t.Fatal("ok with an error")
		case !ok && err == nil && (anyAuth || !legacy):
			t.Fatal("refusal without an error")
		case err != nil && !errors.Is(err, ErrCorrupt):
			t.Fatalf("error %v is not corrupt", err)
		}
	})
}
