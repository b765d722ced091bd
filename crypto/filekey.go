package crypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"

	"filippo.io/age"
)

// Reusing a file's header.
//
// Every Seal wraps a fresh file key to the recipient: for an X25519 vault
// key that is two X25519 operations (a new ephemeral key and the shared
// secret), most of the CPU a save of a small account file costs. A file
// that is saved again and again (an account `tgvault run` holds) does not
// need a new file key each time: [VaultSealer.SealKeeping] seals the new
// plaintext under the header the file already has (the wrapped file key,
// the auth stanzas and the header MAC, byte for byte) with a fresh random
// payload nonce, and so a fresh payload key (HKDF of the file key and the
// nonce, as age derives it). The result is an ordinary age file that age
// and [VaultSealer.Open] open as before:
//
//   - authentication is unchanged: the auth tag covers the file key and
//     the file's context, the header MAC covers every stanza, and the
//     payload AEAD is keyed from the file key, so only a holder of the
//     vault key can make a file this sealer accepts;
//   - the versions of one file share a file key, so the payload of one
//     version under the header of another opens: that is the same as
//     putting an older version of the whole file back, which is what the
//     revision inside the payload (storage's binding) refuses;
//   - a header is reused only by the sealer that checked it (the same
//     context, the same recipients), and only when it is exactly what
//     that sealer writes: one stanza to its one recipient and its own auth
//     stanzas. After a rekey, or for a file sealed to other keys or
//     without authentication, the next seal makes a new header.
//
// The crash rules of a save are the caller's and do not change: the file
// is replaced whole, atomically.

// A FileKey is one sealed file's header and the file key it wraps, kept
// between saves of that file (see [VaultSealer.SealKeeping]). It is as
// secret as the file's plaintext: it prints "(redacted)". A FileKey is
// not safe for concurrent use; its owner (one file's store) serializes
// its saves.
type FileKey struct {
	s      *VaultSealer // the sealer that checked or wrote the header
	header []byte       // up to and without the payload nonce
	key    []byte       // the file key; nil once destroyed
}

// Destroy clears the file key and the header. A destroyed FileKey is never
// used again: SealKeeping makes a new header instead.
func (k *FileKey) Destroy() {
	if k == nil {
		return
	}
	clear(k.key)
	clear(k.header)
	k.key, k.header = nil, nil
}

// OpenKeeping is [VaultSealer.OpenInPlace] that also returns the file's
// header and file key for the next SealKeeping of the same file, or a nil
// FileKey when the header is not one this sealer writes (another
// recipient, two recipients during a rekey, no authentication, the
// armored or text form).
func (s *VaultSealer) OpenKeeping(ciphertext []byte) ([]byte, *FileKey, error) {
	if !bytes.HasPrefix(ciphertext, []byte(magic)) {
		pt, err := s.OpenInPlace(ciphertext)
		return pt, nil, err
	}
	c := &authCheck{policy: &s.policy, keeper: s}
	pt, err := openBinaryAuth(ciphertext, s.ids, true, c)
	if err != nil {
		return nil, nil, err
	}
	return pt, c.kept, nil
}

// SealKeeping is [VaultSealer.Seal] for a file that was opened with
// OpenKeeping or sealed with SealKeeping before, k being what that
// returned: when k is a live FileKey of this same sealer, the plaintext is
// sealed under k's header with a fresh payload nonce (no new file key, no
// X25519); otherwise with a new file key, as Seal does. It returns the
// FileKey for the next save: k itself, or a new one (k is left as it is;
// the caller destroys what it no longer keeps).
func (s *VaultSealer) SealKeeping(plaintext []byte, k *FileKey) ([]byte, *FileKey, error) {
	if k != nil && k.s == s && k.key != nil {
		out := make([]byte, len(k.header)+nonceSize, sealedSize(len(plaintext), 0)+len(k.header))
		copy(out, k.header)
		rand.Read(out[len(k.header):])
		sealed, err := sealPayload(out, k.key, plaintext)
		if err != nil {
			return nil, nil, err
		}
		return sealed, k, nil
	}
	sealed, hdrLen, fileKey, err := sealFile(plaintext, s.recipients())
	if err != nil {
		return nil, nil, err
	}
	return sealed, &FileKey{s: s, header: bytes.Clone(sealed[:hdrLen]), key: fileKey}, nil
}

// reusable reports whether a header whose stanzas age authenticated with
// fileKey, unwrapped by s.ids[by], is exactly what s writes: s seals to one
// recipient, the header has one recipient stanza, which an identity of that
// recipient unwrapped, and then s's own auth stanzas in s's order, each
// carrying the tag s makes for this context and file key.
func (s *VaultSealer) reusable(stanzas []*age.Stanza, by int, fileKey []byte) bool {
	if len(s.rs) != 1 || by < 0 || by >= len(s.sealsTo) || !s.sealsTo[by] || len(stanzas) != 1+len(s.seal) {
		return false
	}
	if stanzas[0].Type == authStanzaType {
		return false
	}
	var buf [authTagSize]byte
	for i, k := range s.seal {
		tag, err := parseAuthStanza(stanzas[1+i])
		if err != nil || !hmac.Equal(tag, k.appendTag(buf[:0], s.policy.ctx, fileKey)) {
			return false
		}
	}
	return true
}

var (
	_ fmt.Formatter  = (*FileKey)(nil)
	_ fmt.Stringer   = (*FileKey)(nil)
	_ fmt.GoStringer = (*FileKey)(nil)
	_ slog.LogValuer = (*FileKey)(nil)
)

// String returns "(redacted)".
func (k *FileKey) String() string { return redacted }

// GoString returns "(redacted)".
func (k *FileKey) GoString() string { return redacted }

// Format writes "(redacted)" whatever the verb.
func (k *FileKey) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// LogValue keeps the key out of slog records.
func (k *FileKey) LogValue() slog.Value { return slog.StringValue(redacted) }
