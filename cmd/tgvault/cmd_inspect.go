package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage/foreign"
)

// inspectResult is what `tgvault inspect` prints, with the snake_case
// names of show and list. Fields the source does not carry are null.
type inspectResult struct {
	Format       string                 `json:"format"`
	Ambiguous    bool                   `json:"ambiguous,omitempty"`
	Alternatives []string               `json:"alternatives,omitempty"`
	Session      *sessionstring.Session `json:"session"`
	Peers        *int                   `json:"peers"`
	Lacks        []string               `json:"lacks,omitempty"`
	Sealed       *sealedInfo            `json:"sealed,omitempty"`
}

// formatSealed is inspect's format name for a sealed string or file.
const formatSealed = "tgvault-sealed"

// sealedInfo says how a sealed (age) string or file was sealed, from its
// public header: nothing in it needs a key.
type sealedInfo struct {
	Form       string         `json:"form"` // text, armored or binary
	Recipients int            `json:"recipients"`
	SealedTo   []sealedStanza `json:"sealed_to"`
	OpensWith  string         `json:"opens_with"`
}

type sealedStanza struct {
	Type       string `json:"type"`
	SSHTag     string `json:"ssh_key_tag,omitempty"`
	ScryptLogN int    `json:"scrypt_log_n,omitempty"`
}

func sealedOf(h crypto.Header) *sealedInfo {
	si := &sealedInfo{Form: h.Form, Recipients: len(h.Stanzas)}
	counts := map[string]int{}
	var order []string
	for _, st := range h.Stanzas {
		si.SealedTo = append(si.SealedTo, sealedStanza{Type: st.Type, SSHTag: st.SSHTag, ScryptLogN: st.ScryptLogN})
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

func (a *app) inspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [FILE|-]",
		Short: "Show which session format FILE (or stdin) holds and what it carries",
		Long: `Show which session format FILE (or stdin) holds and what it carries, as JSON
(with or without --json): fields the format does not carry are null. Never the
auth key. It needs no vault.

A sealed string or file (tgvault's hand-off strings from export --to or
--passphrase, or any age file) is recognised without a key: inspect says how
it was sealed (to how many age X25519 recipients, to SSH keys, or with a
passphrase), from its public header; what is inside stays sealed.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("inspect takes at most one FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			src := "-"
			if len(args) == 1 {
				src = args[0]
			}
			return a.inspect(src)
		},
	}
}

func (a *app) inspect(src string) error {
	var data []byte
	var err error
	if src == "-" {
		data, err = io.ReadAll(io.LimitReader(a.stdin, foreign.MaxSize))
	} else {
		data, err = os.ReadFile(src)
	}
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	defer clear(data)
	var res inspectResult
	if h, err := crypto.ReadHeader(data); err == nil {
		res = inspectResult{Format: formatSealed, Sealed: sealedOf(h)}
		return a.printJSON(res)
	}
	if foreign.IsSQLite(data) {
		var f *foreign.File
		if src == "-" {
			f, err = foreign.Read(data, nil)
		} else {
			f, err = foreign.ReadFile(src)
		}
		if err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
		n := len(f.Peers)
		res = inspectResult{Format: string(f.Dialect), Session: &f.Session, Peers: &n, Lacks: f.Lacks}
	} else {
		d, err := sessionstring.Decode(string(data))
		if err != nil {
			return fmt.Errorf("inspect: %w (expected a Pyrogram, Telethon, GramJS, mtcute or MTKruto session string, a gotd session file, a .session file or a sealed tgvault string)", err)
		}
		res = inspectResult{Format: d.Format.String(), Ambiguous: d.Ambiguous, Session: &d.Session}
		for _, alt := range d.Alternatives {
			res.Alternatives = append(res.Alternatives, alt.String())
		}
	}
	return a.printJSON(res)
}
