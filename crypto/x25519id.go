package crypto

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// x25519Identity is age's X25519 identity (age.X25519Identity, the
// age-encryption.org/v1 "X25519" stanza) with its private key made once:
// age's unwrap calls x/crypto's curve25519.X25519 (v0.58.0), which makes an
// ecdh.PrivateKey from the scalar on every call, and that computes its
// public key: a second scalar multiplication as costly as the one the
// unwrap needs. `tgvault run` unwraps one stanza per account file it opens:
// this halves the X25519 work of opening a vault. The unwrap is age's,
// step by step (x25519.go of filippo.io/age v1.3.2); TestX25519IdentityAsAge
// checks it against age's own on good and bad stanzas.
type x25519Identity struct {
	priv *ecdh.PrivateKey
	pub  []byte // the recipient's 32 bytes, the second half of the HKDF salt
}

var _ age.Identity = (*x25519Identity)(nil)

const (
	x25519Label      = "age-encryption.org/v1/X25519"
	x25519StanzaType = "X25519"
	ageFileKeySize   = 16
)

var stanzaB64 = base64.RawStdEncoding.Strict()

// fastX25519 returns k as an x25519Identity, or k itself when its text does
// not decode to a key whose public half is k's recipient (never for a key
// age parsed or made; the check keeps a decoding slip from ever opening
// files with another key).
func fastX25519(k *age.X25519Identity) age.Identity {
	scalar, ok := bech32Data(k.String(), "age-secret-key-")
	if !ok || len(scalar) != 32 {
		return k
	}
	defer clear(scalar)
	priv, err := ecdh.X25519().NewPrivateKey(scalar)
	if err != nil {
		return k
	}
	pub, ok := bech32Data(k.Recipient().String(), "age")
	if !ok || string(priv.PublicKey().Bytes()) != string(pub) {
		return k
	}
	return &x25519Identity{priv: priv, pub: pub}
}

// Unwrap implements age.Identity as age.X25519Identity does.
func (i *x25519Identity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		fileKey, err := i.unwrap(s)
		if errors.Is(err, age.ErrIncorrectIdentity) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return fileKey, nil
	}
	return nil, age.ErrIncorrectIdentity
}

func (i *x25519Identity) unwrap(s *age.Stanza) ([]byte, error) {
	if s.Type != x25519StanzaType {
		return nil, age.ErrIncorrectIdentity
	}
	if len(s.Args) != 1 || strings.ContainsAny(s.Args[0], "\n\r") {
		return nil, errors.New("invalid X25519 recipient block")
	}
	share, err := stanzaB64.DecodeString(s.Args[0])
	if err != nil || len(share) != 32 {
		return nil, errors.New("invalid X25519 recipient block")
	}
	peer, err := ecdh.X25519().NewPublicKey(share)
	if err != nil {
		return nil, errors.New("invalid X25519 recipient block")
	}
	shared, err := i.priv.ECDH(peer) // fails on a low-order share, as curve25519.X25519
	if err != nil {
		return nil, errors.New("invalid X25519 recipient: bad input point: low order point")
	}
	defer clear(shared)
	salt := make([]byte, 0, 64)
	salt = append(salt, share...)
	salt = append(salt, i.pub...)
	wrap, err := hkdf.Key(sha256.New, shared, salt, x25519Label, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(wrap)
	aead, err := chacha20poly1305.New(wrap)
	if err != nil {
		return nil, err
	}
	if len(s.Body) != ageFileKeySize+aead.Overhead() {
		return nil, errors.New("invalid X25519 recipient block: incorrect file key size")
	}
	var nonce [chacha20poly1305.NonceSize]byte
	fileKey, err := aead.Open(nil, nonce[:], s.Body, nil)
	if err != nil {
		return nil, age.ErrIncorrectIdentity
	}
	return fileKey, nil
}

// bech32Data returns the data of a bech32 string with human-readable part
// hrp (any case), without checking the checksum: the callers give it only
// strings age made or checked, and check what it returns against age.
func bech32Data(s, hrp string) ([]byte, bool) {
	s = strings.ToLower(s)
	if !strings.HasPrefix(s, hrp+"1") || len(s) < len(hrp)+1+6 {
		return nil, false
	}
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	data := s[len(hrp)+1 : len(s)-6] // the last six characters are the checksum
	out := make([]byte, 0, len(data)*5/8)
	var acc uint32
	var bits uint
	for i := 0; i < len(data); i++ {
		v := strings.IndexByte(charset, data[i])
		if v < 0 {
			return nil, false
		}
		acc = acc<<5 | uint32(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	if bits >= 5 || acc&(1<<bits-1) != 0 {
		return nil, false // padding must be fewer than 5 zero bits
	}
	return out, true
}

// String keeps the key out of prints.
func (i *x25519Identity) String() string { return "(redacted)" }
