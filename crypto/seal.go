package crypto

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/age"
	"filippo.io/age/armor"
	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes of the age v1 format, used to size buffers up front.
const (
	magic           = "age-encryption.org/"
	chunkSize       = 64 << 10 // plaintext bytes per payload chunk
	tagSize         = 16       // Poly1305 tag per chunk
	nonceSize       = 16       // payload nonce after the header
	fileKeySize     = 16
	headerBase      = 128  // version line and MAC line
	headerPerStanza = 2048 // generous: a post-quantum stanza is ~1.6 KiB
)

// sealedSize returns an upper bound of the size of a binary age file holding
// n bytes of plaintext for r recipients.
func sealedSize(n, r int) int {
	chunks := max(1, (n+chunkSize-1)/chunkSize)
	return headerBase + r*headerPerStanza + nonceSize + n + chunks*tagSize
}

// Seal encrypts plaintext to every recipient and returns a binary age file.
// Post-quantum and classic recipients cannot be mixed.
func Seal(plaintext []byte, rs ...*Recipient) ([]byte, error) {
	ars, err := ageRecipients(rs)
	if err != nil {
		return nil, err
	}
	return seal(plaintext, ars)
}

func seal(plaintext []byte, rs []age.Recipient) ([]byte, error) {
	sealed, _, fileKey, err := sealFile(plaintext, rs)
	clear(fileKey)
	return sealed, err
}

// sealFile is seal that also returns the length of the header and the
// file key, which the caller must clear.
func sealFile(plaintext []byte, rs []age.Recipient) (sealed []byte, headerLen int, fileKey []byte, err error) {
	// age writes the header and the payload nonce; the payload (STREAM, the
	// hot part) is encrypted here straight into the output buffer, which
	// age's stream writer cannot do without two extra copies. The file key
	// is the one age generated, caught as age hands it to the recipients.
	var fk fileKeyCatcher
	caught := make([]age.Recipient, len(rs))
	for i, r := range rs {
		caught[i] = catchingRecipient{r, &fk}
	}
	out := bytes.NewBuffer(make([]byte, 0, sealedSize(len(plaintext), len(rs))))
	if _, err := age.Encrypt(out, caught...); err != nil {
		clear(fk.key)
		return nil, 0, nil, fmt.Errorf("crypto: sealing: %v", err)
	}
	if len(fk.key) != fileKeySize || out.Len() < nonceSize {
		clear(fk.key)
		return nil, 0, nil, errors.New("crypto: sealing: internal error: no file key")
	}
	sealed = out.Bytes()
	headerLen = len(sealed) - nonceSize
	if sealed, err = sealPayload(sealed, fk.key, plaintext); err != nil {
		clear(fk.key)
		return nil, 0, nil, err
	}
	return sealed, headerLen, fk.key, nil
}

// sealPayload appends the STREAM chunks of plaintext to out, which ends in
// the payload nonce, under the payload key of fileKey and that nonce.
func sealPayload(out, fileKey, plaintext []byte) ([]byte, error) {
	aead, err := payloadAEAD(fileKey, out[len(out)-nonceSize:])
	if err != nil {
		return nil, err
	}
	n := len(plaintext)
	chunks := max(1, (n+chunkSize-1)/chunkSize)
	out = slices.Grow(out, n+chunks*tagSize)
	var nonce [chacha20poly1305.NonceSize]byte
	for i := range chunks {
		setChunkNonce(&nonce, i, i == chunks-1)
		out = aead.Seal(out, nonce[:], plaintext[i*chunkSize:min((i+1)*chunkSize, n)], nil)
	}
	return out, nil
}

// fileKeyCatcher holds the file key that age.Encrypt passed to the
// recipients.
type fileKeyCatcher struct{ key []byte }

// catchingRecipient wraps a recipient and records the file key it wraps.
// It keeps age's label rules (post-quantum and classic recipients do not
// mix) by forwarding WrapWithLabels.
type catchingRecipient struct {
	r  age.Recipient
	fk *fileKeyCatcher
}

var _ age.RecipientWithLabels = catchingRecipient{}

func (c catchingRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	c.catch(fileKey)
	return c.r.Wrap(fileKey)
}

func (c catchingRecipient) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	c.catch(fileKey)
	if rl, ok := c.r.(age.RecipientWithLabels); ok {
		return rl.WrapWithLabels(fileKey)
	}
	s, err := c.r.Wrap(fileKey)
	return s, nil, err
}

func (c catchingRecipient) catch(fileKey []byte) {
	if c.fk.key == nil {
		c.fk.key = bytes.Clone(fileKey)
	}
}

// payloadAEAD returns the AEAD of an age payload: ChaCha20-Poly1305 keyed
// with HKDF-SHA-256(file key, salt = payload nonce, info = "payload").
func payloadAEAD(fileKey, nonce []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, fileKey, nonce, "payload", chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("crypto: payload key: %v", err)
	}
	defer clear(key)
	return chacha20poly1305.New(key)
}

// setChunkNonce sets the STREAM nonce of chunk i: an 11-byte big-endian
// counter, then 1 for the last chunk or 0.
func setChunkNonce(nonce *[chacha20poly1305.NonceSize]byte, i int, last bool) {
	binary.BigEndian.PutUint64(nonce[3:11], uint64(i))
	nonce[11] = 0
	if last {
		nonce[11] = 1
	}
}

// SealArmored is like [Seal] but returns the age file in ASCII armor
// ("-----BEGIN AGE ENCRYPTED FILE-----"), ending in a newline, as `age -a`
// writes it.
func SealArmored(plaintext []byte, rs ...*Recipient) ([]byte, error) {
	bin, err := Seal(plaintext, rs...)
	if err != nil {
		return nil, err
	}
	n := base64.StdEncoding.EncodedLen(len(bin))
	buf := bytes.NewBuffer(make([]byte, 0, n+n/64+len(armorBegin)*2+4))
	a := armor.NewWriter(buf)
	if _, err := a.Write(bin); err != nil {
		return nil, fmt.Errorf("crypto: armoring: %v", err)
	}
	if err := a.Close(); err != nil {
		return nil, fmt.Errorf("crypto: armoring: %v", err)
	}
	return buf.Bytes(), nil
}

// SealText is like [Seal] but returns the one-line text form: the binary age
// file in standard base64 with padding, with no prefix and no newline. It is
// safe for env vars and chat; `base64 -d | age -d -i KEY` opens it.
func SealText(plaintext []byte, rs ...*Recipient) (string, error) {
	bin, err := Seal(plaintext, rs...)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(bin), nil
}

// SealTo returns a writer that seals what is written to it to every recipient
// and writes the binary age file to dst. Close must be called to write the
// last chunk; it does not close dst.
func SealTo(dst io.Writer, rs ...*Recipient) (io.WriteCloser, error) {
	ars, err := ageRecipients(rs)
	if err != nil {
		return nil, err
	}
	w, err := age.Encrypt(dst, ars...)
	if err != nil {
		return nil, fmt.Errorf("crypto: sealing: %v", err)
	}
	return w, nil
}

// Open decrypts an age file sealed to any of ids. It detects the binary
// form, the armored form and the one-line text form of [SealText]; surrounding
// whitespace is tolerated in the armored and text forms.
//
// Open authenticates the whole file before returning: it returns the
// plaintext only on full success, and nil with an error otherwise. The error
// matches [ErrWrongKey] if no identity matched and [ErrCorrupt] otherwise.
func Open(data []byte, ids ...*Identity) ([]byte, error) {
	aids, err := ageIdentities(ids)
	if err != nil {
		return nil, err
	}
	return open(data, aids)
}

// open detects the form of data and decrypts it with ids.
func open(data []byte, ids []age.Identity) ([]byte, error) {
	bin, err := detect(data)
	if err != nil {
		return nil, err
	}
	return openBinary(bin, ids, false)
}

// detect returns the binary age file in data, decoding the armored and text
// forms.
func detect(data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, []byte(magic)) {
		return data, nil
	}
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte(armorBegin)) {
		// age's armor reader has its own whitespace rules: give it data as
		// is. Reading to EOF checks the end line and what follows it.
		bin, err := io.ReadAll(armor.NewReader(bytes.NewReader(data)))
		if err != nil {
			return nil, corrupt(stageArmor)
		}
		return bin, nil
	}
	if len(trimmed) == 0 {
		return nil, corrupt(stageFormat)
	}
	// The text form is one line of standard base64; Decode would skip
	// newlines inside it.
	if bytes.ContainsAny(trimmed, " \t\r\n\v\f") {
		return nil, corrupt(stageFormat)
	}
	bin := make([]byte, base64.StdEncoding.DecodedLen(len(trimmed)))
	n, err := base64.StdEncoding.Strict().Decode(bin, trimmed)
	if err != nil {
		return nil, corrupt(stageFormat)
	}
	bin = bin[:n]
	if !bytes.HasPrefix(bin, []byte(magic)) {
		return nil, corrupt(stageText)
	}
	return bin, nil
}

// openBinary decrypts a binary age file. age parses and authenticates the
// header; the payload is decrypted here, straight into one buffer of the
// exact plaintext size, with the same rules as age's stream reader. With
// inPlace the plaintext is written over bin itself (see OpenInPlace).
func openBinary(bin []byte, ids []age.Identity, inPlace bool) ([]byte, error) {
	return openBinaryAuth(bin, ids, inPlace, nil)
}

// openBinaryAuth is openBinary that, with auth, also checks the file's
// authentication stanzas once age has authenticated the header.
func openBinaryAuth(bin []byte, ids []age.Identity, inPlace bool, auth *authCheck) ([]byte, error) {
	hdr, err := age.ExtractHeader(bytes.NewReader(bin))
	if err != nil {
		return nil, classify(err, stageHeader)
	}
	var stanzas []*age.Stanza
	if auth != nil {
		ids = auth.wrap(ids, &stanzas)
	}
	if !bytes.HasPrefix(bin, hdr) {
		// age re-encodes the header it parsed; for a header it accepts the
		// encoding is canonical, so this does not happen. If it ever
		// does, let age's own reader decide (it does not give the file
		// key, which an authenticated file needs: refuse those).
		if auth != nil {
			return nil, corrupt(stageHeader)
		}
		return openStream(bytes.NewReader(bin), len(bin), ids)
	}
	fileKey, err := age.DecryptHeader(hdr, ids...)
	if err != nil {
		return nil, classify(err, stageHeader)
	}
	defer clear(fileKey)
	if auth != nil {
		if err := auth.verify(stanzas, fileKey); err != nil {
			return nil, err
		}
	}
	var into []byte
	if inPlace {
		into = bin
	}
	pt, err := openPayload(fileKey, bin[len(hdr):], into)
	if err == nil && auth != nil {
		auth.keepHeader(hdr, stanzas, fileKey)
	}
	return pt, err
}

// openPayload decrypts an age payload: a 16-byte nonce, then chunks of 64 KiB
// of plaintext plus a 16-byte tag, the last one flagged in its nonce, shorter
// or full, and empty only if it is the only one.
//
// With into nil the plaintext goes into a new buffer. Otherwise into is the
// whole file, payload its tail: each chunk is decrypted where it lies (the
// exact overlap AEADs allow) and moved down to its place from into[0], which
// never reaches a chunk not yet decrypted, since every chunk lies after its
// plaintext's place. On failure into is cleared.
func openPayload(fileKey, payload, into []byte) ([]byte, error) {
	const full = chunkSize + tagSize
	if len(payload) < nonceSize+tagSize {
		return nil, corrupt(stagePayload)
	}
	aead, err := payloadAEAD(fileKey, payload[:nonceSize])
	if err != nil {
		return nil, err
	}
	body := payload[nonceSize:]
	chunks := (len(body) + full - 1) / full
	lastLen := len(body) - (chunks-1)*full
	if lastLen < tagSize || lastLen == tagSize && chunks > 1 {
		return nil, corrupt(stagePayload)
	}
	n := len(body) - chunks*tagSize
	out := into[:0]
	if into == nil {
		out = make([]byte, n)
	}
	var nonce [chacha20poly1305.NonceSize]byte
	for i := range chunks {
		setChunkNonce(&nonce, i, i == chunks-1)
		off := i * chunkSize
		src := body[i*full : min((i+1)*full, len(body))]
		if into == nil {
			_, err = aead.Open(out[off:off], nonce[:], src, nil)
		} else {
			var pt []byte
			if pt, err = aead.Open(src[:0], nonce[:], src, nil); err == nil {
				out = append(out, pt...) // memmove: out ends before src
			}
		}
		if err != nil {
			clear(out[:cap(out)])
			return nil, corrupt(stagePayload)
		}
	}
	return out[:n:n], nil
}

// openStream decrypts with age's own reader.
func openStream(src io.Reader, sizeHint int, ids []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(src, ids...)
	if err != nil {
		return nil, classify(err, stageHeader)
	}
	out := make([]byte, 0, sizeHint)
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			clear(out[:cap(out)])
			return nil, classify(err, stagePayload)
		}
	}
}

// classify maps an error from age to ErrWrongKey or ErrCorrupt, by type.
// The returned message names the stage that failed, never the data.
func classify(err error, stage string) error {
	var noMatch *age.NoIdentityMatchError
	var armorErr *armor.Error
	switch {
	case errors.Is(err, ErrWorkFactor):
		return err // ours, already classified
	case errors.As(err, &armorErr):
		return corrupt(stageArmor)
	case errors.As(err, &noMatch):
		return ErrWrongKey
	default:
		return corrupt(stage)
	}
}

// PassphraseSealed reports whether data is an age file, in any of the forms
// Open accepts, sealed with a passphrase (its one recipient stanza is
// scrypt), so a caller knows to ask for a passphrase before opening it.
// Only the public header is read.
func PassphraseSealed(data []byte) bool {
	bin, err := detect(data)
	if err != nil {
		return false
	}
	line := []byte(magic + "v1\n")
	return bytes.HasPrefix(bin, line) && bytes.HasPrefix(bin[len(line):], []byte("-> scrypt "))
}
