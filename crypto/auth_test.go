package crypto

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"filippo.io/age"
)

func mustVaultSealer(t testing.TB, open, sealWith []*Identity, ctx string) *VaultSealer {
	t.Helper()
	s, err := NewVaultSealer(open, sealWith)
	if err != nil {
		t.Fatal(err)
	}
	return s.For(ctx)
}

// forge seals pt to r with auth stanzas made by whoever holds keys (the
// attacker's own identities), and extra stanzas as given: what someone
// without the vault key can write.
func forge(t testing.TB, pt []byte, r *Recipient, ctx string, keys []*Identity, extra ...*age.Stanza) []byte {
	t.Helper()
	var ak []*authKey
	for _, id := range keys {
		k, err := authKeyOf(id)
		if err != nil {
			t.Fatal(err)
		}
		ak = append(ak, k)
	}
	rcpt := age.Recipient(authRecipient{r: r.r, keys: ak, ctx: ctx})
	if len(extra) > 0 {
		rcpt = extraStanzas{rcpt, extra}
	}
	out, err := seal(pt, []age.Recipient{rcpt})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// extraStanzas adds fixed stanzas to a recipient's.
type extraStanzas struct {
	r     age.Recipient
	extra []*age.Stanza
}

func (e extraStanzas) Wrap(fk []byte) ([]*age.Stanza, error) {
	s, err := e.r.Wrap(fk)
	return append(s, e.extra...), err
}

func TestVaultSealerRoundTrip(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	s := mustVaultSealer(t, []*Identity{id}, []*Identity{id}, "v/accounts/a.age")
	for _, n := range []int{0, 1, 1000, chunkSize, 3*chunkSize + 7} {
		pt := payload(n)
		ct, err := s.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		if !Authenticated(ct) {
			t.Errorf("%d bytes: Authenticated = false", n)
		}
		got, ok, err := s.OpenChecked(ct)
		if err != nil || !ok || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: OpenChecked = %v, %v", n, ok, err)
		}
		in := bytes.Clone(ct)
		got, err = s.OpenInPlace(in)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: OpenInPlace: %v", n, err)
		}
		// Plain age (and the plain Open) ignore the stanza.
		r, err := age.Decrypt(bytes.NewReader(ct), id.id)
		if err != nil {
			t.Fatalf("age.Decrypt: %v", err)
		}
		if got, _ := io.ReadAll(r); !bytes.Equal(got, pt) {
			t.Fatal("age.Decrypt: plaintext differs")
		}
		if got, err := Open(ct, id); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open: %v", err)
		}
	}
}

// TestVaultSealerRefuses: every file not authenticated by the vault key in
// this context is refused, with ErrUnauthenticated where the file is
// otherwise intact, and no plaintext.
func TestVaultSealerRefuses(t *testing.T) {
	t.Parallel()
	id, attacker, other := newIdentity(t), newIdentity(t), newIdentity(t)
	const ctx = "v/accounts/a.age"
	s := mustVaultSealer(t, []*Identity{id}, []*Identity{id}, ctx)
	pt := payload(500)
	good, _ := s.Seal(pt)
	hdrEnd := bytes.Index(good, []byte("\n--- ")) + 1
	plain, _ := Seal(pt, id.Recipient())
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"plain age file (format 1)", plain, ErrUnauthenticated},
		{"tagged by the attacker's key", forge(t, pt, id.Recipient(), ctx, []*Identity{attacker}), ErrUnauthenticated},
		{"tagged for another context", mustVaultSealer(t, []*Identity{id}, []*Identity{id}, "v/index.age").mustSeal(t, pt), ErrUnauthenticated},
		{"tagged for another vault id", mustVaultSealer(t, []*Identity{id}, []*Identity{id}, "w/accounts/a.age").mustSeal(t, pt), ErrUnauthenticated},
		{"garbage tag", forge(t, pt, id.Recipient(), ctx, nil, &age.Stanza{Type: authStanzaType, Args: []string{authVersion}, Body: make([]byte, authTagSize)}), ErrUnauthenticated},
		{"short tag", forge(t, pt, id.Recipient(), ctx, nil, &age.Stanza{Type: authStanzaType, Args: []string{authVersion}, Body: make([]byte, 31)}), errMalformedAuth},
		{"unknown version", forge(t, pt, id.Recipient(), ctx, nil, &age.Stanza{Type: authStanzaType, Args: []string{"2"}, Body: make([]byte, authTagSize)}), errMalformedAuth},
		{"extra argument", forge(t, pt, id.Recipient(), ctx, nil, &age.Stanza{Type: authStanzaType, Args: []string{authVersion, "x"}, Body: make([]byte, authTagSize)}), errMalformedAuth},
		{"stanza dropped from a good file", dropAuthStanza(t, good), ErrCorrupt},
		{"tag flipped in a good file", flipInAuthStanza(t, good), ErrCorrupt},
		{"header MAC flipped", flipAt(good, hdrEnd+6), ErrCorrupt},
		{"sealed to another key", mustVaultSealer(t, []*Identity{other}, []*Identity{other}, ctx).mustSeal(t, pt), ErrWrongKey},
	}
	// Five stanzas, every one of them valid: more than a file may carry.
	many := make([]*Identity, maxAuthStanzas+1)
	for i := range many {
		many[i] = id
	}
	tests = append(tests, struct {
		name string
		data []byte
		want error
	}{"too many stanzas", forge(t, pt, id.Recipient(), ctx, many), errMalformedAuth})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Open(tc.data)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("Open = %v (plaintext %v), want %v", err, got != nil, tc.want)
			}
			if class(err) != "corrupt" && class(err) != "wrong key" {
				t.Fatalf("error %v classifies as %s", err, class(err))
			}
			// A sealer for a format-1 vault takes a file with no stanza,
			// nothing else.
			got, ok, err := s.AcceptUnauthenticated().OpenChecked(tc.data)
			if tc.name == "plain age file (format 1)" {
				if err != nil || ok || !bytes.Equal(got, pt) {
					t.Fatalf("legacy OpenChecked = %v, %v", ok, err)
				}
			} else if err == nil {
				t.Fatal("the legacy sealer opens it")
			}
		})
	}
}

func (s *VaultSealer) mustSeal(t testing.TB, pt []byte) []byte {
	t.Helper()
	ct, err := s.Seal(pt)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func flipAt(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

// authStanzaLines returns the offsets of the auth stanza's line and body.
func authStanzaLines(t testing.TB, b []byte) (line, body, end int) {
	t.Helper()
	line = bytes.Index(b, []byte("\n-> "+authStanzaType)) + 1
	if line == 0 {
		t.Fatal("no auth stanza")
	}
	body = bytes.IndexByte(b[line:], '\n') + line + 1
	end = bytes.IndexByte(b[body:], '\n') + body + 1
	return
}

func dropAuthStanza(t testing.TB, b []byte) []byte {
	line, _, end := authStanzaLines(t, b)
	return append(bytes.Clone(b[:line]), b[end:]...)
}

func flipInAuthStanza(t testing.TB, b []byte) []byte {
	_, body, _ := authStanzaLines(t, b)
	c := bytes.Clone(b)
	// Stay in the base64 alphabet: A <-> B.
	if c[body] == 'A' {
		c[body] = 'B'
	} else {
		c[body] = 'A'
	}
	return c
}

// TestVaultSealerTwoKeys: a file sealed during a rekey, to the old key and
// the new, with a tag by each, opens with either alone.
func TestVaultSealerTwoKeys(t *testing.T) {
	t.Parallel()
	old, next := newIdentity(t), newIdentity(t)
	both := mustVaultSealer(t, []*Identity{old, next}, []*Identity{old, next}, "v/index.age")
	ct := both.mustSeal(t, []byte("index"))
	if n := bytes.Count(ct, []byte("\n-> "+authStanzaType+" ")); n != 2 {
		t.Fatalf("%d auth stanzas, want 2", n)
	}
	for _, id := range []*Identity{old, next} {
		if _, err := mustVaultSealer(t, []*Identity{id}, []*Identity{id}, "v/index.age").Open(ct); err != nil {
			t.Errorf("open with one key: %v", err)
		}
	}
	// Opened with both, a file tagged by the new key alone is fine.
	only := mustVaultSealer(t, []*Identity{next}, []*Identity{next}, "v/index.age").mustSeal(t, []byte("index"))
	if _, err := both.Open(only); err != nil {
		t.Errorf("open with both keys: %v", err)
	}
}

// TestVaultSealerKinds: the post-quantum and SSH identities seal and open
// authenticated files too (labels still checked by age).
func TestVaultSealerKinds(t *testing.T) {
	t.Parallel()
	for _, k := range kinds(t) {
		t.Run(k.name, func(t *testing.T) {
			s := mustVaultSealer(t, []*Identity{k.id}, []*Identity{k.id}, "ctx")
			ct := s.mustSeal(t, []byte("x"))
			if got, err := s.Open(ct); err != nil || string(got) != "x" {
				t.Fatalf("Open: %v", err)
			}
		})
	}
	kk := kinds(t)
	if _, err := NewVaultSealer([]*Identity{kk[0].id}, []*Identity{kk[0].id, kk[1].id}); err == nil {
		t.Error("a classic and a post-quantum key mixed")
	}
	if _, err := NewVaultSealer(nil, []*Identity{kk[0].id}); err == nil {
		t.Error("no identity to open with")
	}
	if _, err := NewVaultSealer([]*Identity{kk[0].id}, nil); err == nil {
		t.Error("no identity to seal with")
	}
}

func TestAuthenticatedPeek(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	s := mustVaultSealer(t, []*Identity{id}, []*Identity{id}, "c")
	ct := s.mustSeal(t, []byte("x"))
	plain, _ := Seal([]byte("x"), id.Recipient())
	armored, _ := SealArmored([]byte("x"), id.Recipient())
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"authenticated", ct, true},
		{"plain", plain, false},
		{"armored plain", armored, false},
		{"garbage", []byte("not age"), false},
		{"empty", nil, false},
		{"truncated header", ct[:20], false},
	} {
		if got := Authenticated(tc.data); got != tc.want {
			t.Errorf("%s: Authenticated = %v", tc.name, got)
		}
	}
}

// TestAuthKeyIndependent: the auth key and DeriveKey's keys differ by
// purpose and by identity, and are stable.
func TestAuthKeyIndependent(t *testing.T) {
	t.Parallel()
	a, b := newIdentity(t), newIdentity(t)
	again, _ := ParseIdentity(a.Reveal())
	ka, _ := authKeyOf(a)
	ka2, _ := authKeyOf(again)
	kb, _ := authKeyOf(b)
	fk := bytes.Repeat([]byte{1}, fileKeySize)
	ta, ta2, tb := ka.tag("c", fk), ka2.tag("c", fk), kb.tag("c", fk)
	if !bytes.Equal(ta, ta2) || bytes.Equal(ta, tb) || bytes.Equal(ta, ka.tag("d", fk)) {
		t.Error("auth keys: not stable per identity, shared between identities, or blind to the context")
	}
	// The tag is the documented construction (docs/design.md §6.1).
	ikm, _ := hkdf.Key(sha256.New, []byte(a.Reveal()), nil, "tgvault file authentication 1", 32)
	m := hmac.New(sha256.New, ikm)
	m.Write([]byte("tgvault-auth 1\x00\x01c"))
	m.Write(fk)
	if !bytes.Equal(ta, m.Sum(nil)) {
		t.Error("the tag differs from the construction docs/design.md states")
	}
	x, y := a.DeriveKey("p1"), a.DeriveKey("p2")
	if bytes.Equal(x, y) || bytes.Equal(x, ikm) || !bytes.Equal(x, again.DeriveKey("p1")) {
		t.Error("DeriveKey: not independent per purpose, or not stable")
	}
	defer func() {
		if recover() == nil {
			t.Error("DeriveKey of the auth key's purpose did not panic")
		}
	}()
	a.DeriveKey(authKeyInfo)
}

func TestVaultSealerRedacted(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	s := mustVaultSealer(t, []*Identity{id}, []*Identity{id}, "c")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "sealer", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), fmt.Sprintf("%x", s)} {
		if out != redacted {
			t.Errorf("a VaultSealer prints %q", out)
		}
	}
	if out := fmt.Sprintf("%v %+v", s.seal, s.policy.keys); out != "[(redacted)] [(redacted)]" {
		t.Errorf("auth keys print %q", out)
	}
	if !strings.Contains(buf.String(), "sealer="+redacted) || strings.Contains(buf.String(), id.Reveal()) {
		t.Errorf("slog: %s", buf.String())
	}
}

// TestReadHeaderAuthStanza: ReadHeader does not count the auth stanzas as
// recipients, and says they are there.
func TestReadHeaderAuthStanza(t *testing.T) {
	t.Parallel()
	old, next := newIdentity(t), newIdentity(t)
	both := mustVaultSealer(t, []*Identity{old, next}, []*Identity{old, next}, "c")
	h, err := ReadHeader(both.mustSeal(t, []byte("x")))
	if err != nil || !h.Authenticated || len(h.Stanzas) != 2 || h.Stanzas[0].Type != "X25519" || h.Stanzas[1].Type != "X25519" {
		t.Fatalf("ReadHeader = %+v, %v", h, err)
	}
	plain, _ := Seal([]byte("x"), old.Recipient())
	if h, err := ReadHeader(plain); err != nil || h.Authenticated {
		t.Fatalf("ReadHeader of a plain file = %+v, %v", h, err)
	}
}
