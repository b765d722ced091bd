package crypto

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"

	"filippo.io/age"
)

// File authentication.
//
// age encrypts *to* a recipient and says nothing about who sealed: anyone
// who knows a vault's public key can seal a file that the vault key opens.
// A [VaultSealer] adds to every file it seals one stanza per sealing
// identity:
//
//	-> tgvault-auth 1
//	base64(HMAC-SHA-256(auth key, "tgvault-auth 1" || 0x00 || uvarint(len(context)) || context || file key))
//
// where the auth key is HKDF-SHA-256 of the identity's secret text (info
// "tgvault file authentication 1") and the context names the file (the
// vault id and the blob's name, so a file cannot be moved to another
// role). age's header MAC (HMAC keyed from the file key, over every stanza)
// and the payload AEAD (keyed from the file key) bind the file key to the
// whole file, so a tag over the file key authenticates the whole file: to
// make an accepted file one must know both the file key and the auth key.
// age's X25519 identities skip stanza types they do not know, so `age -d
// -i identity` still opens every file.

// ErrUnauthenticated means that a file opens with the vault key but does
// not carry that key's authentication: anyone who knows the public key
// could have sealed it. It matches [ErrCorrupt].
var ErrUnauthenticated = fmt.Errorf("%w: not authenticated by the vault key", ErrCorrupt)

const (
	authStanzaType = "tgvault-auth"
	authVersion    = "1"
	authTagSize    = sha256.Size
	authKeyInfo    = "tgvault file authentication " + authVersion
	authTagLabel   = authStanzaType + " " + authVersion
	// maxAuthStanzas bounds the stanzas a file may carry: a rekey seals to
	// two keys.
	maxAuthStanzas = 4
)

// authKey is the key that authenticates files for one identity: HMAC-SHA-256
// states keyed with it, each of which remembers the padded key's state
// (FIPS 198-1 allows keeping these intermediate values; they are as secret
// as the key). States are pooled: a tag costs three SHA-256 blocks and no
// allocation. Safe for concurrent use.
type authKey struct{ pool sync.Pool }

// newAuthKey keys the HMAC states with key (a copy is kept by them).
func newAuthKey(key []byte) *authKey {
	k := bytes.Clone(key)
	a := &authKey{}
	a.pool.New = func() any {
		h := hmac.New(sha256.New, k)
		h.Reset() // keeps the padded key's state for Sum and Reset
		return h
	}
	return a
}

// authKeyOf returns id's auth key: HKDF-SHA-256(secret = the identity's
// text, salt = none, info = authKeyInfo), derived once per Identity.
func authKeyOf(id *Identity) (*authKey, error) {
	if id == nil || id.id == nil {
		return nil, errors.New("crypto: nil identity")
	}
	id.authOnce.Do(func() {
		b, err := hkdf.Key(sha256.New, []byte(id.Reveal()), nil, authKeyInfo, 32)
		if err != nil {
			id.authErr = fmt.Errorf("crypto: auth key: %v", err)
			return
		}
		id.auth = newAuthKey(b)
		clear(b)
	})
	return id.auth, id.authErr
}

// tag returns the authentication tag of a file with fileKey in ctx:
// HMAC-SHA-256(key, label || 0x00 || uvarint(len(ctx)) || ctx || fileKey).
func (k *authKey) tag(ctx string, fileKey []byte) []byte {
	out := make([]byte, 0, authTagSize)
	return k.appendTag(out, ctx, fileKey)
}

// appendTag appends the tag to out.
func (k *authKey) appendTag(out []byte, ctx string, fileKey []byte) []byte {
	h := k.pool.Get().(hash.Hash)
	defer k.pool.Put(h)
	h.Reset()
	var buf [64]byte
	b := append(buf[:0], authTagLabel...)
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(ctx)))
	h.Write(b)
	h.Write([]byte(ctx))
	h.Write(fileKey)
	return h.Sum(out)
}

// DeriveKey returns a 32-byte key for purpose, derived from the identity
// with HKDF-SHA-256 (secret = the identity's text, info = purpose). Every
// purpose gets an independent key; the caller must treat it as a secret.
func (i *Identity) DeriveKey(purpose string) []byte {
	if purpose == authKeyInfo {
		panic("crypto: DeriveKey: reserved purpose")
	}
	b, err := hkdf.Key(sha256.New, []byte(i.Reveal()), nil, purpose, 32)
	if err != nil {
		panic("crypto: DeriveKey: " + err.Error())
	}
	return b
}

// authRecipient adds the auth stanzas to what the first recipient wraps.
// It forwards WrapWithLabels, so age's label rules still see the wrapped
// recipient's labels.
type authRecipient struct {
	r    age.Recipient
	keys []*authKey
	ctx  string
}

var _ age.RecipientWithLabels = authRecipient{}

func (a authRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	s, _, err := a.WrapWithLabels(fileKey)
	return s, err
}

func (a authRecipient) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	var (
		s      []*age.Stanza
		labels []string
		err    error
	)
	if rl, ok := a.r.(age.RecipientWithLabels); ok {
		s, labels, err = rl.WrapWithLabels(fileKey)
	} else {
		s, err = a.r.Wrap(fileKey)
	}
	if err != nil {
		return nil, nil, err
	}
	for _, k := range a.keys {
		s = append(s, &age.Stanza{Type: authStanzaType, Args: []string{authVersion}, Body: k.tag(a.ctx, fileKey)})
	}
	return s, labels, nil
}

// stanzaCatcher passes the header's stanzas on to an identity and keeps
// them, so that the auth stanzas can be checked once age has checked the
// header MAC.
type stanzaCatcher struct {
	age.Identity
	got *[]*age.Stanza
	i   int  // the identity's index among the sealer's
	by  *int // set to i when this identity unwraps the file key
}

func (c stanzaCatcher) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	*c.got = stanzas
	fk, err := c.Identity.Unwrap(stanzas)
	if err == nil && c.by != nil {
		*c.by = c.i
	}
	return fk, err
}

// errMalformedAuth: an auth stanza that is not one this version writes.
var errMalformedAuth = fmt.Errorf("%w: malformed authentication stanza", ErrCorrupt)

// parseAuthStanza returns the tag of an auth stanza.
func parseAuthStanza(s *age.Stanza) ([]byte, error) {
	if s.Type != authStanzaType || len(s.Args) != 1 || s.Args[0] != authVersion || len(s.Body) != authTagSize {
		return nil, errMalformedAuth
	}
	return s.Body, nil
}

// authPolicy is how a VaultSealer checks the auth stanzas of a file.
type authPolicy struct {
	keys   []*authKey // a tag made with any of them is accepted
	ctx    string
	legacy bool // a file with no auth stanza at all is accepted (format 1)
}

// check checks the auth stanzas of a file whose header age authenticated
// with fileKey. It reports whether the file carries a valid tag; without
// one the file is refused unless p.legacy and the file has no auth stanza
// at all.
func (p *authPolicy) check(stanzas []*age.Stanza, fileKey []byte) (bool, error) {
	var (
		buf  [2 * authTagSize]byte // the tags of up to two keys without allocating
		want [][]byte
	)
	n, ok := 0, false
	for _, s := range stanzas {
		if s.Type != authStanzaType {
			continue
		}
		if n++; n > maxAuthStanzas {
			return false, errMalformedAuth
		}
		tag, err := parseAuthStanza(s)
		if err != nil {
			return false, err
		}
		if want == nil {
			want = make([][]byte, 0, len(p.keys))
			for i, k := range p.keys {
				var out []byte
				if i < 2 {
					out = buf[i*authTagSize : i*authTagSize]
				}
				want = append(want, k.appendTag(out, p.ctx, fileKey))
			}
		}
		for _, w := range want {
			ok = ok || hmac.Equal(tag, w)
		}
	}
	switch {
	case ok:
		return true, nil
	case n == 0 && p.legacy:
		return false, nil
	default:
		return false, ErrUnauthenticated
	}
}

// A VaultSealer seals files that prove who sealed them, and opens only
// such files. It seals to the public keys of its sealing identities and
// adds an authentication stanza for each (see the package's file
// authentication above); it opens files sealed to any of its opening
// identities, and only if one of them authenticated the file in the same
// context. Files that lack the stanza are refused with
// [ErrUnauthenticated], unless [VaultSealer.AcceptUnauthenticated] made a
// sealer for a vault that predates authentication.
//
// It implements the storage package's Sealer. It is immutable and safe for
// concurrent use.
type VaultSealer struct {
	ids     []age.Identity // open with
	sealsTo []bool         // ids[i] opens what is sealed to rs[0]
	rs      []age.Recipient
	policy  authPolicy
	seal    []*authKey
}

// NewVaultSealer returns a VaultSealer that seals to the recipients of
// sealWith, authenticated by each of them, and opens files that any of open
// opens and authenticated. Both must be non-empty; the context is empty
// until [VaultSealer.For] sets one.
func NewVaultSealer(open, sealWith []*Identity) (*VaultSealer, error) {
	aids, err := ageIdentities(open)
	if err != nil {
		return nil, err
	}
	if len(sealWith) == 0 {
		return nil, errNoRecipient
	}
	s := &VaultSealer{ids: aids}
	for _, id := range open {
		k, err := authKeyOf(id)
		if err != nil {
			return nil, err
		}
		s.policy.keys = append(s.policy.keys, k)
	}
	for _, id := range sealWith {
		if id == nil || id.rcpt == nil {
			return nil, errors.New("crypto: nil identity")
		}
		k, err := authKeyOf(id)
		if err != nil {
			return nil, err
		}
		s.seal = append(s.seal, k)
		s.rs = append(s.rs, id.rcpt.r)
	}
	for _, id := range open {
		s.sealsTo = append(s.sealsTo, id.rcpt != nil && id.rcpt.text == sealWith[0].rcpt.text)
	}
	if _, err := seal(nil, s.recipients()); err != nil {
		return nil, fmt.Errorf("crypto: unusable recipients: %w", err)
	}
	return s, nil
}

// For returns a copy of s for the file named ctx (what the tag binds the
// file to, such as "<vault id>/accounts/<id>.age").
func (s *VaultSealer) For(ctx string) *VaultSealer {
	c := *s
	c.policy.ctx = ctx
	return &c
}

// AcceptUnauthenticated returns a copy of s that also opens files with no
// authentication stanza at all (written before authentication existed). A
// file whose stanza is there but wrong is still refused.
func (s *VaultSealer) AcceptUnauthenticated() *VaultSealer {
	c := *s
	c.policy.legacy = true
	return &c
}

// recipients are the age recipients of a seal: the first one also writes
// the auth stanzas.
func (s *VaultSealer) recipients() []age.Recipient {
	rs := make([]age.Recipient, len(s.rs))
	copy(rs, s.rs)
	rs[0] = authRecipient{r: rs[0], keys: s.seal, ctx: s.policy.ctx}
	return rs
}

// Seal returns plaintext sealed as a binary age file with the auth
// stanzas.
func (s *VaultSealer) Seal(plaintext []byte) ([]byte, error) {
	return seal(plaintext, s.recipients())
}

// Open returns the plaintext of an authenticated file: nil on any error,
// which matches [ErrWrongKey] or [ErrCorrupt] ([ErrUnauthenticated] for a
// file the vault key did not authenticate).
func (s *VaultSealer) Open(ciphertext []byte) ([]byte, error) {
	pt, _, err := s.open(ciphertext, false)
	return pt, err
}

// OpenInPlace is Open decrypting into ciphertext's own memory, as
// [Sealer.OpenInPlace] does.
func (s *VaultSealer) OpenInPlace(ciphertext []byte) ([]byte, error) {
	pt, _, err := s.open(ciphertext, true)
	return pt, err
}

// OpenChecked is Open that also reports whether the file was
// authenticated: false only for a file without any auth stanza that an
// AcceptUnauthenticated sealer opened.
func (s *VaultSealer) OpenChecked(ciphertext []byte) (plaintext []byte, authenticated bool, err error) {
	return s.open(ciphertext, false)
}

func (s *VaultSealer) open(data []byte, inPlace bool) ([]byte, bool, error) {
	bin := data
	if !bytes.HasPrefix(data, []byte(magic)) {
		var err error
		if bin, err = detect(data); err != nil {
			return nil, false, err
		}
		inPlace = false
	}
	c := &authCheck{policy: &s.policy}
	pt, err := openBinaryAuth(bin, s.ids, inPlace, c)
	if err != nil {
		return nil, false, err
	}
	return pt, c.authenticated, nil
}

// authCheck is one file's check: the policy, and what it found. With
// keeper set, it also keeps the file's header and key for the keeper's
// next seal of the same file (OpenKeeping), when the header is one the
// keeper itself would write.
type authCheck struct {
	policy        *authPolicy
	authenticated bool

	keeper *VaultSealer
	by     int // the index of the identity that unwrapped the file key
	kept   *FileKey
}

// wrap makes ids keep the stanzas they are shown in *got, and record in
// c.by which of them unwrapped the file key.
func (c *authCheck) wrap(ids []age.Identity, got *[]*age.Stanza) []age.Identity {
	c.by = -1
	out := make([]age.Identity, len(ids))
	for i, id := range ids {
		out[i] = stanzaCatcher{Identity: id, got: got, i: i, by: &c.by}
	}
	return out
}

// keepHeader keeps hdr and fileKey in c.kept when c has a keeper and the
// file is authenticated with a header that keeper would write: see
// VaultSealer.reusable.
func (c *authCheck) keepHeader(hdr []byte, stanzas []*age.Stanza, fileKey []byte) {
	if c.keeper == nil || !c.authenticated || !c.keeper.reusable(stanzas, c.by, fileKey) {
		return
	}
	c.kept = &FileKey{s: c.keeper, header: bytes.Clone(hdr), key: bytes.Clone(fileKey)}
}

// verify runs the policy over the stanzas of a header age authenticated.
func (c *authCheck) verify(stanzas []*age.Stanza, fileKey []byte) error {
	ok, err := c.policy.check(stanzas, fileKey)
	c.authenticated = ok
	return err
}

// Authenticated reports whether data is an age file whose header carries
// an authentication stanza. Only the public header is read ([ReadHeader])
// and nothing is verified: a true answer says the file claims to be
// authenticated, and opening it is what checks that claim.
func Authenticated(data []byte) bool {
	h, err := ReadHeader(data)
	return err == nil && h.Authenticated
}

var (
	_ fmt.Formatter  = (*VaultSealer)(nil)
	_ fmt.Stringer   = (*VaultSealer)(nil)
	_ fmt.GoStringer = (*VaultSealer)(nil)
	_ slog.LogValuer = (*VaultSealer)(nil)
	_ fmt.Formatter  = (*authKey)(nil)
)

// String returns "(redacted)": a sealer holds secret keys.
func (s *VaultSealer) String() string { return redacted }

// GoString returns "(redacted)".
func (s *VaultSealer) GoString() string { return redacted }

// Format writes "(redacted)" whatever the verb.
func (s *VaultSealer) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// Format writes "(redacted)" whatever the verb.
func (k *authKey) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// LogValue keeps the sealer's keys out of slog records.
func (s *VaultSealer) LogValue() slog.Value { return slog.StringValue(redacted) }
