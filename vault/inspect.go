package vault

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage/foreign"
)

// FormatSealed is Inspect's format name for a sealed string or file
// (Inspection.Format), exported so that a caller tells a sealed source
// without repeating the string.
const FormatSealed = "tgvault-sealed"

// Inspection is what Inspect finds out about a source: what `tgvault
// inspect` prints, with the snake_case names of show and list. Fields the
// source does not carry are null. Session holds the source's auth key,
// the whole key: it prints and marshals only as its key id (auth_key_id),
// never the key itself, but whoever holds an Inspection holds the
// account, so a caller keeps it no longer than it needs to print it.
type Inspection struct {
	Format       string                 `json:"format"`
	Ambiguous    bool                   `json:"ambiguous,omitempty"`
	Alternatives []string               `json:"alternatives,omitempty"`
	Session      *sessionstring.Session `json:"session"`
	Peers        *int                   `json:"peers"`
	Lacks        []string               `json:"lacks,omitempty"`
	Sealed       *SealedInfo            `json:"sealed,omitempty"`
}

// SealedInfo says how a sealed (age) string or file was sealed, from its
// public header: nothing in it needs a key.
type SealedInfo struct {
	Form       string         `json:"form"` // text, armored or binary
	Recipients int            `json:"recipients"`
	SealedTo   []SealedStanza `json:"sealed_to"`
	// OpensWith says, for a person, what opens it.
	OpensWith string `json:"opens_with"`
}

// SealedStanza is one recipient of a sealed string or file.
type SealedStanza struct {
	Type       string `json:"type"`
	SSHTag     string `json:"ssh_key_tag,omitempty"`
	ScryptLogN int    `json:"scrypt_log_n,omitempty"`
}

// Inspect says which session format data holds and what it carries,
// without a vault and without a key: a sealed string or file (a hand-off
// of `export --to` or `--passphrase`, or any age file) by its public
// header, a .session file (path, when not "", is the file data was read
// from: its -wal and -journal companions are read too), else a session
// string in any format.
func Inspect(data []byte, path string) (Inspection, error) {
	if h, err := crypto.ReadHeader(data); err == nil {
		return Inspection{Format: FormatSealed, Sealed: sealedOf(h)}, nil
	}
	if foreign.IsSQLite(data) {
		var f *foreign.File
		var err error
		if path == "" {
			f, err = foreign.Read(data, nil)
		} else {
			f, err = foreign.ReadFile(path)
		}
		if err != nil {
			return Inspection{}, err
		}
		n := len(f.Peers)
		return Inspection{Format: string(f.Dialect), Session: &f.Session, Peers: &n, Lacks: f.Lacks}, nil
	}
	d, err := sessionstring.Decode(string(data))
	if err != nil {
		return Inspection{}, fmt.Errorf("%w (expected a Pyrogram, Telethon, GramJS, mtcute or MTKruto session string, a gotd session file, a .session file or a sealed tgvault string)", err)
	}
	res := Inspection{Format: d.Format.String(), Ambiguous: d.Ambiguous, Session: &d.Session}
	for _, alt := range d.Alternatives {
		res.Alternatives = append(res.Alternatives, alt.String())
	}
	return res, nil
}

// sealedOf reads a sealed header: its recipients in order, and what
// opens it (a passphrase, or which kinds of key, counted by type).
func sealedOf(h crypto.Header) *SealedInfo {
	si := &SealedInfo{Form: h.Form, Recipients: len(h.Stanzas)}
	counts := map[string]int{}
	var order []string
	for _, st := range h.Stanzas {
		si.SealedTo = append(si.SealedTo, SealedStanza{Type: st.Type, SSHTag: st.SSHTag, ScryptLogN: st.ScryptLogN})
		if counts[st.Type] == 0 {
			order = append(order, st.Type)
		}
		counts[st.Type]++
	}
	var parts []string
	for _, typ := range order {
		n := counts[typ]
		switch typ {
		case "scrypt":
			parts = append(parts, "a passphrase (export --passphrase: import it with TGVAULT_SEAL_PASSPHRASE_FILE or at the prompt)")
		case "X25519":
			parts = append(parts, plural(n, "age X25519 recipient")+" (a vault's `tgvault recipient`, or an age key)")
		case "mlkem768x25519":
			parts = append(parts, plural(n, "post-quantum age recipient"))
		case "ssh-ed25519", "ssh-rsa":
			parts = append(parts, plural(n, typ+" key"))
		default:
			parts = append(parts, plural(n, typ+" recipient"))
		}
	}
	si.OpensWith = "any one of: " + strings.Join(parts, "; ")
	if len(h.Stanzas) == 1 {
		si.OpensWith = parts[0]
	}
	return si
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
