package sessionstring

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// AuthKeySize is the size of an MTProto auth key in bytes.
const AuthKeySize = 256

// AuthKey is a 256-byte MTProto authorization key. Whoever holds it is the
// account, so the type is built not to leak: it prints "(redacted)" with every
// fmt verb, refuses to marshal to JSON or text, and keeps its bytes behind a
// pointer, so that even reflection-based printing of a struct that holds an
// AuthKey in an unexported field shows an address, not the key.
//
// The zero AuthKey means "no key" (unknown). An AuthKey is immutable: copies
// share the same bytes, which nothing changes after NewAuthKey.
type AuthKey struct {
	k *[AuthKeySize]byte
}

// NewAuthKey copies b into a new AuthKey. b must be 256 bytes and not all zero
// (Telethon and others use an all-zero key to mean "no key").
func NewAuthKey(b []byte) (AuthKey, error) {
	if len(b) != AuthKeySize {
		return AuthKey{}, fmt.Errorf("sessionstring: auth key is %d bytes, want %d: %w", len(b), AuthKeySize, ErrInvalidKey)
	}
	var zero [AuthKeySize]byte
	if subtle.ConstantTimeCompare(b, zero[:]) == 1 {
		return AuthKey{}, fmt.Errorf("sessionstring: auth key is all zero: %w", ErrInvalidKey)
	}
	k := new([AuthKeySize]byte)
	copy(k[:], b)
	return AuthKey{k: k}, nil
}

// IsZero reports whether the key is absent.
func (k AuthKey) IsZero() bool { return k.k == nil }

// Bytes returns a copy of the 256 key bytes, or nil for the zero AuthKey.
// The caller owns the copy and should not keep it longer than needed.
func (k AuthKey) Bytes() []byte {
	if k.k == nil {
		return nil
	}
	b := make([]byte, AuthKeySize)
	copy(b, k.k[:])
	return b
}

// AppendTo appends the 256 key bytes to dst (nothing for the zero AuthKey).
func (k AuthKey) AppendTo(dst []byte) []byte {
	if k.k == nil {
		return dst
	}
	return append(dst, k.k[:]...)
}

// ID returns the MTProto key id: bytes 12..20 of SHA1(key), as gotd and
// Telegram compute it. It is safe to log. The zero AuthKey has ID 0.
func (k AuthKey) ID() KeyID {
	if k.k == nil {
		return 0
	}
	sum := sha1.Sum(k.k[:])
	return KeyID(binary.LittleEndian.Uint64(sum[12:20]))
}

// Equal reports whether two keys hold the same bytes, in constant time.
func (k AuthKey) Equal(o AuthKey) bool {
	if k.k == nil || o.k == nil {
		return k.k == nil && o.k == nil
	}
	return subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1
}

// String returns "(redacted)".
func (k AuthKey) String() string { return "(redacted)" }

// GoString returns "(redacted)".
func (k AuthKey) GoString() string { return "(redacted)" }

// Format prints "(redacted)" for every verb, so %x and %v cannot leak the key.
func (k AuthKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("(redacted)")) }

// MarshalJSON refuses: a key is never serialised by accident.
func (k AuthKey) MarshalJSON() ([]byte, error) {
	return nil, fmt.Errorf("sessionstring: refusing to marshal an auth key: %w", ErrInvalidKey)
}

// MarshalText refuses: a key is never serialised by accident.
func (k AuthKey) MarshalText() ([]byte, error) {
	return nil, fmt.Errorf("sessionstring: refusing to marshal an auth key: %w", ErrInvalidKey)
}

// KeyID is the 64-bit MTProto auth key id (SHA1(key)[12:20], little-endian as
// on the wire). It identifies a key without revealing it.
type KeyID uint64

// String prints the key id as 16 hex digits in wire byte order, the way gotd
// and Telegram logs show it (e.g. 32d1586ea457dfc8).
func (id KeyID) String() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(id))
	return fmt.Sprintf("%x", b[:])
}
