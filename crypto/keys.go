package crypto

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

const redacted = "(redacted)"

// keyFileSizeLimit bounds identity and recipient files.
const keyFileSizeLimit = 1 << 20

const (
	prefixX25519Secret = "AGE-SECRET-KEY-1"
	prefixHybridSecret = "AGE-SECRET-KEY-PQ-1"
	prefixPlugin       = "AGE-PLUGIN-"
	prefixX25519Public = "age1"
	prefixHybridPublic = "age1pq1"
	prefixSSHEd25519   = "ssh-ed25519 "
	prefixSSHRSA       = "ssh-rsa "
	prefixPEM          = "-----BEGIN "
	armorBegin         = "-----BEGIN AGE ENCRYPTED FILE-----"
)

// An Identity is a secret key that opens sealed files: an age X25519 key
// (the vault key), an age post-quantum hybrid key, or an OpenSSH ed25519 or
// RSA private key. It prints as "(redacted)" with every fmt verb and in slog
// records; [Identity.Reveal] is the only way to get its text.
//
// An Identity is immutable and safe for concurrent use.
type Identity struct {
	id     age.Identity
	reveal func() string
	rcpt   *Recipient

	// The key that authenticates vault files (auth.go), derived once.
	authOnce sync.Once
	auth     *authKey
	authErr  error
}

// GenerateIdentity returns a new random age X25519 identity.
func GenerateIdentity() (*Identity, error) {
	k, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("crypto: generating identity: %w", err)
	}
	return &Identity{
		id:     fastX25519(k),
		reveal: k.String,
		rcpt:   &Recipient{r: k.Recipient(), text: k.Recipient().String()},
	}, nil
}

// GenerateHybridIdentity returns a new random age post-quantum hybrid
// (ML-KEM-768 + X25519) identity. Files sealed to hybrid recipients cannot be
// opened by age releases before v1.3.
func GenerateHybridIdentity() (*Identity, error) {
	k, err := age.GenerateHybridIdentity()
	if err != nil {
		return nil, fmt.Errorf("crypto: generating identity: %w", err)
	}
	return hybridIdentity(k), nil
}

func hybridIdentity(k *age.HybridIdentity) *Identity {
	return &Identity{
		id:     k,
		reveal: k.String,
		rcpt:   &Recipient{r: k.Recipient(), text: k.Recipient().String()},
	}
}

// ParseIdentity parses one identity: an "AGE-SECRET-KEY-1…" or
// "AGE-SECRET-KEY-PQ-1…" line, or an unencrypted OpenSSH ed25519 or RSA
// private key in PEM form. Surrounding whitespace is ignored. Errors never
// contain the input.
func ParseIdentity(s string) (*Identity, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, prefixPEM):
		return parseSSHIdentity([]byte(s))
	case strings.HasPrefix(s, prefixHybridSecret):
		k, err := age.ParseHybridIdentity(s)
		if err != nil {
			// age's message may quote parts of the key: don't pass it on.
			return nil, errors.New("crypto: malformed post-quantum identity")
		}
		return hybridIdentity(k), nil
	case strings.HasPrefix(s, prefixX25519Secret):
		k, err := age.ParseX25519Identity(s)
		if err != nil {
			return nil, errors.New("crypto: malformed X25519 identity")
		}
		return &Identity{
			id:     fastX25519(k),
			reveal: k.String,
			rcpt:   &Recipient{r: k.Recipient(), text: k.Recipient().String()},
		}, nil
	case strings.HasPrefix(s, prefixPlugin):
		return nil, errors.New("crypto: age plugin identities are not supported")
	default:
		return nil, errors.New("crypto: unknown identity type")
	}
}

// ParseIdentities parses an age identity file: either one OpenSSH private key
// in PEM form, or lines of "AGE-SECRET-KEY-1…" / "AGE-SECRET-KEY-PQ-1…" keys,
// with blank lines and lines starting with "#" ignored. Passphrase-protected
// identity files and plugins are not supported. Errors name the line but never
// contain its text.
func ParseIdentities(r io.Reader) ([]*Identity, error) {
	data, err := readLimited(r, "identity file")
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte(armorBegin)):
		return nil, errors.New("crypto: passphrase-protected identity files are not supported")
	case bytes.HasPrefix(trimmed, []byte(prefixPEM)):
		id, err := parseSSHIdentity(trimmed)
		if err != nil {
			return nil, err
		}
		return []*Identity{id}, nil
	}
	return parseLines(data, "identity file", "identities", ParseIdentity)
}

// ReadIdentityFile reads an identity file (ParseIdentities) for
// --identity: the first identity, the one that unlocks, and how many the
// file holds (a caller may warn that the others are not used). A file
// without an identity is an error.
func ReadIdentityFile(r io.Reader) (first *Identity, count int, err error) {
	ids, err := ParseIdentities(r)
	if err != nil {
		return nil, 0, err
	}
	return ids[0], len(ids), nil
}

func parseSSHIdentity(pemBytes []byte) (*Identity, error) {
	// One key per file: don't silently drop what follows it.
	if block, rest := pem.Decode(pemBytes); block == nil || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("crypto: malformed SSH private key: want exactly one PEM block")
	}
	k, err := ssh.ParseRawPrivateKey(pemBytes)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, errors.New("crypto: passphrase-protected SSH keys are not supported")
		}
		return nil, errors.New("crypto: malformed SSH private key")
	}
	var (
		id  age.Identity
		pub any
	)
	switch k := k.(type) {
	case *ed25519.PrivateKey:
		id, err = agessh.NewEd25519Identity(*k)
		pub = k.Public()
	case ed25519.PrivateKey:
		id, err = agessh.NewEd25519Identity(k)
		pub = k.Public()
	case *rsa.PrivateKey:
		id, err = agessh.NewRSAIdentity(k)
		pub = k.Public()
	default:
		return nil, errors.New("crypto: unsupported SSH key type (want ed25519 or RSA)")
	}
	if err != nil {
		return nil, errors.New("crypto: unusable SSH private key")
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, errors.New("crypto: unusable SSH private key")
	}
	rcpt, err := sshRecipient(sshPub)
	if err != nil {
		return nil, err
	}
	text := string(pemBytes)
	return &Identity{id: id, reveal: func() string { return text }, rcpt: rcpt}, nil
}

// Recipient returns the public key that seals files this identity opens.
func (i *Identity) Recipient() *Recipient { return i.rcpt }

// Reveal returns the identity's secret text: "AGE-SECRET-KEY-1…" (or
// "AGE-SECRET-KEY-PQ-1…"), or the PEM text of an SSH key. It is what
// [ParseIdentity] accepts back, for storing in the OS keyring. Handle the
// result as a secret.
func (i *Identity) Reveal() string { return i.reveal() }

var (
	_ fmt.Formatter  = (*Identity)(nil)
	_ fmt.Stringer   = (*Identity)(nil)
	_ fmt.GoStringer = (*Identity)(nil)
	_ slog.LogValuer = (*Identity)(nil)
)

// String returns "(redacted)".
func (i *Identity) String() string { return redacted }

// GoString returns "(redacted)".
func (i *Identity) GoString() string { return redacted }

// Format writes "(redacted)" whatever the verb.
func (i *Identity) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// LogValue keeps the identity out of slog records.
func (i *Identity) LogValue() slog.Value { return slog.StringValue(redacted) }

// A Recipient is a public key that files are sealed to: age X25519
// ("age1…"), age post-quantum hybrid ("age1pq1…"), or an OpenSSH ed25519 or
// RSA public key. Public keys are not secret: String returns the key's text.
//
// A Recipient is immutable and safe for concurrent use.
type Recipient struct {
	r    age.Recipient
	text string
}

// ParseRecipient parses one public key: "age1…", "age1pq1…",
// "ssh-ed25519 AAAA…" or "ssh-rsa AAAA…" (an authorized_keys line without
// options; a trailing comment is dropped). Surrounding whitespace is ignored.
func ParseRecipient(s string) (*Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, prefixHybridPublic):
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("crypto: %v", err)
		}
		return &Recipient{r: r, text: r.String()}, nil
	case strings.HasPrefix(s, prefixX25519Public):
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("crypto: %v", err)
		}
		return &Recipient{r: r, text: r.String()}, nil
	case strings.HasPrefix(s, prefixSSHEd25519), strings.HasPrefix(s, prefixSSHRSA):
		if strings.ContainsAny(s, "\r\n") {
			return nil, errors.New("crypto: malformed SSH recipient: more than one line")
		}
		pk, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
		if err != nil || len(rest) != 0 {
			return nil, errors.New("crypto: malformed SSH recipient")
		}
		return sshRecipient(pk)
	default:
		// It may be a secret key pasted by mistake: don't echo it.
		return nil, errors.New("crypto: unknown recipient type")
	}
}

func sshRecipient(pk ssh.PublicKey) (*Recipient, error) {
	var (
		r   age.Recipient
		err error
	)
	switch pk.Type() {
	case ssh.KeyAlgoED25519:
		r, err = agessh.NewEd25519Recipient(pk)
	case ssh.KeyAlgoRSA:
		r, err = agessh.NewRSARecipient(pk)
	default:
		return nil, errors.New("crypto: unsupported SSH key type (want ed25519 or RSA)")
	}
	if err != nil {
		return nil, fmt.Errorf("crypto: unusable SSH public key: %w", err)
	}
	text := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	return &Recipient{r: r, text: text}, nil
}

// ParseRecipients parses a recipients file: one public key per line (see
// [ParseRecipient]), blank lines and lines starting with "#" ignored.
func ParseRecipients(r io.Reader) ([]*Recipient, error) {
	data, err := readLimited(r, "recipients file")
	if err != nil {
		return nil, err
	}
	return parseLines(data, "recipients file", "recipients", ParseRecipient)
}

// String returns the public key's text, as ParseRecipient accepts it.
func (r *Recipient) String() string { return r.text }

func readLimited(r io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, keyFileSizeLimit+1))
	if err != nil {
		return nil, fmt.Errorf("crypto: reading %s: %w", what, err)
	}
	if len(data) > keyFileSizeLimit {
		return nil, fmt.Errorf("crypto: %s is larger than %d bytes", what, keyFileSizeLimit)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("crypto: %s is not valid UTF-8", what)
	}
	return data, nil
}

// parseLines parses each line of a key file (what: "identity file") with
// parse, skipping blank lines and "#" comments; an error names the line's
// number, never its text, and a file without keys (plural: "identities")
// is an error.
func parseLines[T any](data []byte, what, plural string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, keyFileSizeLimit+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := parse(line)
		if err != nil {
			return nil, fmt.Errorf("crypto: %s line %d: %w", what, n, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("crypto: reading %s: %w", what, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("crypto: no %s in %s", plural, what)
	}
	return out, nil
}

func ageIdentities(ids []*Identity) ([]age.Identity, error) {
	if len(ids) == 0 {
		return nil, errNoIdentity
	}
	out := make([]age.Identity, len(ids))
	for i, id := range ids {
		if id == nil || id.id == nil {
			return nil, errors.New("crypto: nil identity")
		}
		out[i] = strictIdentity{id.id}
	}
	return out, nil
}

// strictIdentity refuses a header where an scrypt stanza is not alone, as the
// age spec requires, whichever identity is tried: otherwise a passphrase
// stanza could ride along in a file opened with keys.
type strictIdentity struct{ age.Identity }

var _ age.Identity = strictIdentity{}

var errScryptNotAlone = errors.New("crypto: scrypt stanza is not alone in the header")

func (s strictIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	if len(stanzas) > 1 {
		for _, st := range stanzas {
			if st.Type == "scrypt" {
				return nil, errScryptNotAlone
			}
		}
	}
	return s.Identity.Unwrap(stanzas)
}

func ageRecipients(rs []*Recipient) ([]age.Recipient, error) {
	if len(rs) == 0 {
		return nil, errNoRecipient
	}
	out := make([]age.Recipient, len(rs))
	for i, r := range rs {
		if r == nil || r.r == nil {
			return nil, errors.New("crypto: nil recipient")
		}
		out[i] = r.r
	}
	return out, nil
}
