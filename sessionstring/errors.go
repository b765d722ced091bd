package sessionstring

import (
	"errors"
	"strconv"
)

var (
	// ErrInvalidKey reports an auth key of the wrong size or all zero, or a
	// key id that does not match the key.
	ErrInvalidKey = errors.New("sessionstring: invalid auth key")

	// ErrUnknownFormat reports input that no supported format accepts, or
	// an unknown format name.
	ErrUnknownFormat = errors.New("sessionstring: unknown format")

	// ErrMalformed reports input that is recognisably damaged: a stray
	// character, bad base64, a length that fits no layout, a bad field.
	ErrMalformed = errors.New("sessionstring: malformed session")

	// ErrTooLong reports input longer than MaxLen. It is checked before
	// any decoding.
	ErrTooLong = errors.New("sessionstring: input too long")

	// ErrUnknownVersion reports a version marker this package does not know
	// (mtcute version byte, gotd Version field). It is never reported as
	// "not found".
	ErrUnknownVersion = errors.New("sessionstring: unknown session version")

	// ErrMissingField reports that Encode needs a field the Session does
	// not know. See MissingFieldError.
	ErrMissingField = errors.New("sessionstring: missing field")

	// ErrInvalidField reports that Encode cannot represent a field's value
	// in the target format. See InvalidFieldError.
	ErrInvalidField = errors.New("sessionstring: field cannot be encoded")
)

// ParseError describes why a session could not be decoded. It never holds
// any part of the input: Reason is a fixed description and Offset a
// position.
type ParseError struct {
	// Format is the format that was being decoded, or Unknown when
	// detection failed.
	Format Format
	// Reason is a short fixed description of the failure.
	Reason string
	// Offset is the byte position in the input string where the failure
	// was found, or -1 when no single position applies.
	Offset int
	// Err is the sentinel the failure is classified as (ErrMalformed,
	// ErrTooLong, ErrInvalidKey, ...).
	Err error
	// Likely is the format the input most likely is, when that is not
	// Format (a damaged GramJS string that Telethon's layout would read
	// as garbage, say); Unknown otherwise.
	Likely Format

	// layoutOK records that the input got past the format's framing
	// (prefix, base64, length), so the error is more telling than
	// ErrUnknownFormat when detection fails.
	layoutOK bool
}

func (e *ParseError) Error() string {
	s := "sessionstring: " + e.Format.String() + ": " + e.Reason
	if e.Offset >= 0 {
		s += " (at byte " + strconv.Itoa(e.Offset) + ")"
	}
	if e.Likely != Unknown && e.Likely != e.Format {
		s += "; most likely a damaged " + e.Likely.String() + " session"
	}
	return s
}

// Unwrap returns the sentinel error.
func (e *ParseError) Unwrap() error { return e.Err }

// MissingFieldError reports that Encode needs a field that the Session does
// not know (e.g. api_id for a current-layout Pyrogram string).
type MissingFieldError struct {
	Format Format
	Field  string // "api_id", "user_id", "is_bot", "test_mode", "host", "port", "auth_key"
}

func (e *MissingFieldError) Error() string {
	return "sessionstring: " + e.Format.String() + ": cannot encode without " + e.Field
}

// Unwrap returns ErrMissingField.
func (e *MissingFieldError) Unwrap() error { return ErrMissingField }

// InvalidFieldError reports that a known field's value cannot be written in
// the target format (e.g. a port above 32767 for GramJS). The value itself
// is not included.
type InvalidFieldError struct {
	Format Format
	Field  string
	Reason string
}

func (e *InvalidFieldError) Error() string {
	return "sessionstring: " + e.Format.String() + ": cannot encode " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrInvalidField.
func (e *InvalidFieldError) Unwrap() error { return ErrInvalidField }

func perr(f Format, sentinel error, reason string, off int) *ParseError {
	return &ParseError{Format: f, Reason: reason, Offset: off, Err: sentinel}
}

// deep marks an error as raised after the format's framing matched.
func deep(e *ParseError) *ParseError {
	e.layoutOK = true
	return e
}
