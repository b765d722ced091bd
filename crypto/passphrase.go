package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"filippo.io/age"

	"github.com/tgvault/tgvault/internal/testhooks"
)

const (
	// DefaultScryptWorkFactor is the base-2 logarithm of the scrypt cost
	// that SealPassphrase uses, as the age CLI does (about 1 s).
	DefaultScryptWorkFactor = 18

	// MaxScryptWorkFactor is the highest scrypt cost (log2) that
	// OpenPassphrase accepts, as age's default limit (about 15 s). A slot
	// demanding more fails at once with an error matching [ErrWorkFactor].
	MaxScryptWorkFactor = 22
)

// A Passphrase is a secret passphrase. It prints as "(redacted)" with every
// fmt verb and in slog records. Call Wipe when done with it.
//
// fmt does not call methods on unexported struct fields, nor on any field
// when the verb is invalid for the struct (such as %p): a struct holding a
// Passphrase then prints its bytes. Keep such structs out of fmt.
type Passphrase []byte

var (
	_ fmt.Formatter  = Passphrase(nil)
	_ fmt.Stringer   = Passphrase(nil)
	_ fmt.GoStringer = Passphrase(nil)
	_ slog.LogValuer = Passphrase(nil)
)

// Wipe overwrites the passphrase with zeros.
func (p Passphrase) Wipe() { clear(p) }

// PassphraseFromFile is the passphrase a passphrase file holds: its bytes
// without one trailing newline (LF or CRLF), which `echo pass > file`
// adds. It copies them and wipes b.
func PassphraseFromFile(b []byte) Passphrase {
	n := len(b)
	if bytes.HasSuffix(b[:n], []byte("\n")) {
		n--
		if bytes.HasSuffix(b[:n], []byte("\r")) {
			n--
		}
	}
	p := Passphrase(bytes.Clone(b[:n]))
	clear(b)
	return p
}

// String returns "(redacted)".
func (p Passphrase) String() string { return redacted }

// GoString returns "(redacted)".
func (p Passphrase) GoString() string { return redacted }

// Format writes "(redacted)" whatever the verb.
func (p Passphrase) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// LogValue keeps the passphrase out of slog records.
func (p Passphrase) LogValue() slog.Value { return slog.StringValue(redacted) }

var errEmptyPassphrase = errors.New("crypto: empty passphrase")

// scryptWorkFactor is the cost SealPassphrase uses: DefaultScryptWorkFactor,
// unless a test lowered it (internal/testhooks; no program can).
func scryptWorkFactor() int {
	if n := testhooks.ScryptWorkFactor(); n != 0 {
		return n
	}
	return DefaultScryptWorkFactor
}

// SealPassphrase encrypts plaintext with p (age's scrypt recipient, work
// factor [DefaultScryptWorkFactor]) and returns a binary age file, which
// `age -d` opens with the passphrase.
//
// age keeps its own copy of the passphrase, which Wipe cannot reach.
func SealPassphrase(plaintext []byte, p Passphrase) ([]byte, error) {
	if len(p) == 0 {
		return nil, errEmptyPassphrase
	}
	r, err := age.NewScryptRecipient(string(p))
	if err != nil {
		return nil, errEmptyPassphrase
	}
	r.SetWorkFactor(scryptWorkFactor())
	return seal(plaintext, []age.Recipient{r})
}

// OpenPassphrase decrypts an age file sealed with a passphrase, in any of
// the forms [Open] detects. A wrong passphrase, or a file sealed to keys,
// gives an error matching [ErrWrongKey]; a work factor above
// [MaxScryptWorkFactor] fails at once with an error matching [ErrWorkFactor]
// (and [ErrCorrupt]). Like Open, it returns plaintext only on full success.
func OpenPassphrase(data []byte, p Passphrase) ([]byte, error) {
	return openPassphrase(data, p, MaxScryptWorkFactor)
}

func openPassphrase(data []byte, p Passphrase, maxLogN int) ([]byte, error) {
	if len(p) == 0 {
		return nil, errEmptyPassphrase
	}
	id, err := age.NewScryptIdentity(string(p))
	if err != nil {
		return nil, errEmptyPassphrase
	}
	id.SetMaxWorkFactor(maxLogN)
	return open(data, []age.Identity{cappedScrypt{id, maxLogN}})
}

// cappedScrypt refuses scrypt stanzas above its work factor with a typed
// error, before age would spend any work (age's own refusal is an untyped
// error).
type cappedScrypt struct {
	id      *age.ScryptIdentity
	maxLogN int
}

var _ age.Identity = cappedScrypt{}

func (c cappedScrypt) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != "scrypt" || len(s.Args) != 2 {
			continue
		}
		if n, ok := parseLogN(s.Args[1]); ok && n > c.maxLogN {
			return nil, fmt.Errorf("%w: 2^%d > 2^%d", ErrWorkFactor, n, c.maxLogN)
		}
	}
	return c.id.Unwrap(stanzas)
}

// parseLogN parses a canonical decimal work factor (no sign, no leading
// zero). Values too long to parse are reported as 1<<30.
func parseLogN(s string) (int, bool) {
	if s == "" || s[0] == '0' {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	if len(s) > 9 {
		return 1 << 30, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
