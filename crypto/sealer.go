package crypto

import (
	"bytes"
	"fmt"

	"filippo.io/age"
)

// A Sealer seals to a fixed set of recipients and opens with a fixed set of
// identities. Its Seal and Open methods are the two-method interface the
// storage package defines; it is safe for concurrent use.
type Sealer struct {
	ids []age.Identity
	rs  []age.Recipient
}

// NewSealer returns a Sealer that seals binary age files to every one of rs
// and opens files sealed to any of ids. Both must be non-empty, and rs must
// not mix post-quantum and classic recipients.
func NewSealer(ids []*Identity, rs []*Recipient) (*Sealer, error) {
	aids, err := ageIdentities(ids)
	if err != nil {
		return nil, err
	}
	ars, err := ageRecipients(rs)
	if err != nil {
		return nil, err
	}
	// Catch an unusable combination of recipients now, not at the first save.
	if _, err := seal(nil, ars); err != nil {
		return nil, fmt.Errorf("crypto: unusable recipients: %w", err)
	}
	return &Sealer{ids: aids, rs: ars}, nil
}

// Seal returns plaintext sealed as a binary age file, as [Seal] does.
func (s *Sealer) Seal(plaintext []byte) ([]byte, error) {
	return seal(plaintext, s.rs)
}

// Open returns the plaintext of ciphertext, as [Open] does: nil on any
// error, which matches [ErrWrongKey] or [ErrCorrupt].
func (s *Sealer) Open(ciphertext []byte) ([]byte, error) {
	return open(ciphertext, s.ids)
}

// OpenInPlace is like Open, but decrypts a binary age file into
// ciphertext's own memory: the plaintext returned shares it, and the
// ciphertext is gone. That saves allocating (and faulting in) a second
// buffer as large as the file. On error ciphertext is cleared of whatever
// was decrypted. The armored and text forms are decoded into a new buffer,
// as Open does.
func (s *Sealer) OpenInPlace(ciphertext []byte) ([]byte, error) {
	if !bytes.HasPrefix(ciphertext, []byte(magic)) {
		return open(ciphertext, s.ids)
	}
	return openBinary(ciphertext, s.ids, true)
}
