package tlschema

import "errors"

// ErrConflict reports two schemas that give one constructor id two
// different layouts.
var ErrConflict = errors.New("tlschema: one constructor id, two layouts")

// ErrUnknownConstructor reports bytes that name a constructor id the
// schema does not have (a *DecodeError carries it).
var ErrUnknownConstructor = errors.New("tlschema: unknown constructor")

// ErrMalformed reports bytes that do not decode by the schema: too
// short, a wrong type in a place, a bad length (a *DecodeError carries
// it).
var ErrMalformed = errors.New("tlschema: malformed TL bytes")
