package crypto

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"

	"filippo.io/age"
)

// Header is what the public header of a sealed (age) file says about how
// it was sealed, read without any key: which recipient stanzas it has.
type Header struct {
	// Form is how the file was given: "binary", "armored" or "text" (the
	// one-line base64 of SealText and of tgvault's hand-off strings).
	Form string
	// Stanzas are the recipient stanzas, in order.
	Stanzas []Stanza
	// Authenticated: the header also carries a tgvault-auth stanza, which
	// a vault file has to prove that the vault key sealed it (auth.go).
	// Not a recipient: it is not in Stanzas. Read without a key, it is a
	// claim that only opening the file checks.
	Authenticated bool
	// Size is the size of the binary age file in bytes.
	Size int
}

// Stanza is one recipient stanza of an age header.
type Stanza struct {
	// Type is the stanza type: "X25519" (an age1... recipient),
	// "mlkem768x25519" (a post-quantum age1pq1... recipient), "scrypt" (a
	// passphrase), "ssh-ed25519" or "ssh-rsa" (an SSH public key), or
	// another plugin's.
	Type string
	// SSHTag is, for an SSH stanza, the tag of the recipient key (the
	// first 4 bytes of the SHA-256 of its public key, base64): it tells
	// which key opens the file without naming it.
	SSHTag string
	// ScryptLogN is, for a scrypt stanza, the passphrase's work factor
	// (log2 N).
	ScryptLogN int
}

// ReadHeader reads the public header of an age file in any form Open
// accepts. It needs no key and decrypts nothing; an input that is not an
// age file gives an error matching ErrCorrupt.
func ReadHeader(data []byte) (Header, error) {
	bin, err := detect(data)
	if err != nil {
		return Header{}, err
	}
	h := Header{Form: FormText, Size: len(bin)}
	switch trimmed := bytes.TrimSpace(data); {
	case bytes.HasPrefix(data, []byte(magic)):
		h.Form = FormBinary
	case bytes.HasPrefix(trimmed, []byte(armorBegin)):
		h.Form = FormArmored
	}
	hdr, err := age.ExtractHeader(bytes.NewReader(bin))
	if err != nil {
		return Header{}, classify(err, stageHeader)
	}
	for _, line := range strings.Split(string(hdr), "\n") {
		rest, ok := strings.CutPrefix(line, "-> ")
		if !ok {
			continue
		}
		args := strings.Fields(rest)
		if len(args) == 0 {
			return Header{}, corrupt(stageHeader)
		}
		if args[0] == authStanzaType {
			h.Authenticated = true
			continue
		}
		s := Stanza{Type: args[0]}
		switch {
		case (s.Type == "ssh-ed25519" || s.Type == "ssh-rsa") && len(args) > 1:
			s.SSHTag = args[1]
		case s.Type == "scrypt" && len(args) > 2:
			s.ScryptLogN, _ = strconv.Atoi(args[2])
		}
		h.Stanzas = append(h.Stanzas, s)
	}
	if len(h.Stanzas) == 0 {
		return Header{}, corrupt(stageHeader)
	}
	return h, nil
}

// The forms a sealed file is given in (Header.Form, SealedForm).
const (
	FormBinary  = "binary"
	FormArmored = "armored"
	FormText    = "text" // the one-line base64 of SealText
)

// SealedForm names the form data begins in, read from its head alone:
// FormBinary (age's magic at the very start), FormArmored (the armor's
// begin line, white space around it allowed), FormText (one base64 line
// whose first characters decode to age's magic), or "" when it looks like
// none. It decrypts and checks nothing: a hint for telling a sealed file
// from other input, Open decides.
func SealedForm(data []byte) string {
	if bytes.HasPrefix(data, []byte(magic)) {
		return FormBinary
	}
	t := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(t, []byte(armorBegin)):
		return FormArmored
	case bytes.HasPrefix(t, []byte(magic)):
		return FormBinary
	}
	head := t[:min(len(t), 28)]
	dec := make([]byte, base64.StdEncoding.DecodedLen(len(head)))
	n, _ := base64.StdEncoding.Decode(dec, head[:len(head)/4*4])
	if bytes.HasPrefix(dec[:n], []byte(magic)) {
		return FormText
	}
	return ""
}
