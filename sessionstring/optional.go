package sessionstring

import (
	"bytes"
	"encoding/json"
)

// Opt is a value that a format may or may not carry. The zero Opt is
// unknown, which is distinct from a known zero value: a Telethon string has
// no user id (unknown), while a Pyrogram string may carry user id 0.
type Opt[T any] struct {
	v  T
	ok bool
}

// Some returns a known value.
func Some[T any](v T) Opt[T] { return Opt[T]{v: v, ok: true} }

// None returns an unknown value.
func None[T any]() Opt[T] { return Opt[T]{} }

// Get returns the value and whether it is known.
func (o Opt[T]) Get() (T, bool) { return o.v, o.ok }

// Known reports whether the value is known.
func (o Opt[T]) Known() bool { return o.ok }

// Or returns the value, or def when it is unknown.
func (o Opt[T]) Or(def T) T {
	if o.ok {
		return o.v
	}
	return def
}

// MarshalJSON writes the value, or null when unknown.
func (o Opt[T]) MarshalJSON() ([]byte, error) {
	if !o.ok {
		return []byte("null"), nil
	}
	return json.Marshal(o.v)
}

// UnmarshalJSON reads a value; null means unknown.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*o = Opt[T]{}
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*o = Some(v)
	return nil
}
