package crypto

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// MinPassphraseLen is the shortest passphrase CheckPassphrase accepts, in
// characters (Unicode code points): with scrypt at 2^18, guessing a 12
// character passphrase of lower-case letters and digits offline costs
// about 36^12 scrypt calls.
const MinPassphraseLen = 12

// ErrWeakPassphrase is a passphrase shorter than MinPassphraseLen.
var ErrWeakPassphrase = errors.New("crypto: passphrase too short")

// CheckPassphrase reports a passphrase too weak to seal a vault key or a
// hand-off with: shorter than MinPassphraseLen characters. The error
// gives the length, never the passphrase.
func CheckPassphrase(p Passphrase) error {
	if n := utf8.RuneCount(p); n < MinPassphraseLen {
		return fmt.Errorf("%w: %d characters, at least %d needed", ErrWeakPassphrase, n, MinPassphraseLen)
	}
	return nil
}
