package crypto

import (
	"errors"
	"fmt"
)

var (
	// ErrWrongKey means that none of the given identities can open the
	// file: it was sealed to other keys, or the passphrase is wrong.
	ErrWrongKey = errors.New("crypto: wrong key")

	// ErrCorrupt means that the data is not an intact age file: a bad
	// header, header MAC, payload chunk or armor, truncation, trailing data,
	// or data that is not age at all. Tampering looks the same.
	ErrCorrupt = errors.New("crypto: corrupt or tampered data")

	// ErrWorkFactor means that a passphrase slot demands more scrypt work
	// than [MaxScryptWorkFactor]. It is a kind of corruption: errors that
	// match ErrWorkFactor also match [ErrCorrupt].
	ErrWorkFactor = fmt.Errorf("%w: scrypt work factor above the limit", ErrCorrupt)
)

// errNoIdentity is returned by Open when it is given no identity: a
// programming error, neither a wrong key nor corrupt data.
var errNoIdentity = errors.New("crypto: no identity given")

// errNoRecipient is returned by Seal when it is given no recipient.
var errNoRecipient = errors.New("crypto: no recipient given")

// Stages of opening, used in ErrCorrupt messages. They name where the file
// failed, never what it contained.
const (
	stageFormat  = "not an age file"
	stageArmor   = "bad armor"
	stageText    = "bad text form"
	stageHeader  = "bad header"
	stagePayload = "bad payload"
)

func corrupt(stage string) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, stage)
}
