package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

// catchStanzas is an identity that keeps the stanzas of the header it is
// given and unwraps nothing.
type catchStanzas struct{ got []*age.Stanza }

func (c *catchStanzas) Unwrap(s []*age.Stanza) ([]byte, error) {
	c.got = s
	return nil, age.ErrIncorrectIdentity
}

// stanzasTo returns the header stanzas of a file age seals to rs.
func stanzasTo(t testing.TB, rs ...age.Recipient) []*age.Stanza {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "payload"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c := &catchStanzas{}
	_, _ = age.Decrypt(&buf, c)
	if len(c.got) == 0 {
		t.Fatal("no stanzas caught")
	}
	return c.got
}

func cloneStanza(s *age.Stanza) *age.Stanza {
	return &age.Stanza{Type: s.Type, Args: append([]string(nil), s.Args...), Body: bytes.Clone(s.Body)}
}

// TestX25519IdentityAsAge: the X25519 identity tgvault unwraps with
// (x25519Identity, one scalar multiplication per stanza) gives the same
// file key as age's own on good stanzas, and the same kind of answer on
// bad ones: ErrIncorrectIdentity where age says it (another recipient's
// stanza, a forged body), a hard error where age gives one (a malformed
// stanza, a low-order share).
func TestX25519IdentityAsAge(t *testing.T) {
	t.Parallel()
	k, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	fast, ok := fastX25519(k).(*x25519Identity)
	if !ok {
		t.Fatal("fastX25519 gave age's identity back for a key age made")
	}
	for _, id := range []*Identity{mustGenerate(t), mustParse(t, k.String()), mustParse(t, strings.ToUpper(k.String()))} {
		if _, ok := id.id.(*x25519Identity); !ok {
			t.Fatalf("an X25519 Identity unwraps with %T, not x25519Identity", id.id)
		}
	}
	good := stanzasTo(t, k.Recipient())[0]
	mine := stanzasTo(t, other.Recipient())[0]
	zero := cloneStanza(good)
	zero.Args[0] = stanzaB64.EncodeToString(make([]byte, 32)) // a low-order point
	mutate := func(f func(s *age.Stanza)) *age.Stanza { s := cloneStanza(good); f(s); return s }
	cases := []struct {
		name    string
		stanzas []*age.Stanza
	}{
		{"own stanza", []*age.Stanza{good}},
		{"after another's", []*age.Stanza{mine, good}},
		{"another's only", []*age.Stanza{mine}},
		{"other type", []*age.Stanza{mutate(func(s *age.Stanza) { s.Type = "scrypt" })}},
		{"two args", []*age.Stanza{mutate(func(s *age.Stanza) { s.Args = append(s.Args, "x") })}},
		{"no args", []*age.Stanza{mutate(func(s *age.Stanza) { s.Args = nil })}},
		{"bad base64", []*age.Stanza{mutate(func(s *age.Stanza) { s.Args[0] = "!!" + s.Args[0][2:] })}},
		{"padded base64", []*age.Stanza{mutate(func(s *age.Stanza) { s.Args[0] += "=" })}},
		{"short share", []*age.Stanza{mutate(func(s *age.Stanza) { s.Args[0] = s.Args[0][:40] })}},
		{"low-order share", []*age.Stanza{zero}},
		{"forged body", []*age.Stanza{mutate(func(s *age.Stanza) { s.Body[3] ^= 1 })}},
		{"short body", []*age.Stanza{mutate(func(s *age.Stanza) { s.Body = s.Body[:20] })}},
		{"other share", []*age.Stanza{mutate(func(s *age.Stanza) { s.Args[0] = mine.Args[0] })}},
	}
	for _, c := range cases {
		want, wantErr := k.Unwrap(c.stanzas)
		got, gotErr := fast.Unwrap(c.stanzas)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: file key %x, age's %x", c.name, got, want)
		}
		if (gotErr == nil) != (wantErr == nil) || errors.Is(gotErr, age.ErrIncorrectIdentity) != errors.Is(wantErr, age.ErrIncorrectIdentity) {
			t.Errorf("%s: error %v, age's %v", c.name, gotErr, wantErr)
		}
		if c.name == "own stanza" && (gotErr != nil || len(got) != ageFileKeySize) {
			t.Errorf("own stanza: %x, %v", got, gotErr)
		}
	}
	if s := fmt.Sprintf("%v %s", fast, fast); strings.Contains(s, strings.ToLower(k.String()[15:25])) || !strings.Contains(s, "(redacted)") {
		t.Errorf("x25519Identity prints %q", s)
	}
}

// TestBech32Data: the decoder fastX25519 uses gives the 32 bytes of a
// key, and no 32 bytes for what is not its hrp's bech32 (fastX25519 then
// keeps age's identity).
func TestBech32Data(t *testing.T) {
	t.Parallel()
	k, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	sk := k.String()
	for _, c := range []struct {
		name, s, hrp string
		ok           bool
	}{
		{"secret key", sk, "age-secret-key-", true},
		{"secret key, lower case", strings.ToLower(sk), "age-secret-key-", true},
		{"recipient", k.Recipient().String(), "age", true},
		{"empty", "", "age", false},
		{"hrp only", "age1", "age", false},
		{"other hrp", k.Recipient().String(), "age-secret-key-", false},
		{"bad character", sk[:20] + "b" + sk[21:], "age-secret-key-", false},   // 'b' is not in bech32's charset
		{"extra character", sk[:20] + "q" + sk[20:], "age-secret-key-", false}, // 33 bytes
	} {
		b, ok := bech32Data(c.s, c.hrp)
		if got := ok && len(b) == 32; got != c.ok {
			t.Errorf("%s: %d bytes, ok %v; want 32 bytes: %v", c.name, len(b), ok, c.ok)
		}
	}
}

func mustGenerate(t *testing.T) *Identity {
	t.Helper()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustParse(t *testing.T, s string) *Identity {
	t.Helper()
	id, err := ParseIdentity(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// BenchmarkX25519Unwrap: one stanza unwrapped by age's X25519 identity and
// by tgvault's (one scalar multiplication instead of two), as `run` does
// once per account file it opens.
func BenchmarkX25519Unwrap(b *testing.B) {
	k, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	st := stanzasTo(b, k.Recipient())
	for _, c := range []struct {
		name string
		id   age.Identity
	}{{"age", k}, {"tgvault", fastX25519(k)}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.id.Unwrap(st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
