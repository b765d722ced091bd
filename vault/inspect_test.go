package vault

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/sessionstring"
)

// TestInspect: Inspect tells a sealed string by its header (recipients,
// and what opens it, without a key), a .session file (read from its path
// or from bytes alone), and a session string; anything else is an error
// that says what was expected.
func TestInspect(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	seal := func(n int) []byte {
		t.Helper()
		var rs []*crypto.Recipient
		for range n {
			id, err := crypto.GenerateIdentity()
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, id.Recipient())
		}
		s, err := crypto.SealText([]byte("inside"), rs...)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(s)
	}
	byPass, err := crypto.SealPassphrase([]byte("inside"), otherPass)
	if err != nil {
		t.Fatal(err)
	}
	telethonFile := filepath.Join(vectors, "telethon/telethon.session")
	for _, tc := range []struct {
		name       string
		data       []byte
		path       string
		format     string
		opensWith  string // the start of Sealed.OpensWith
		recipients int
		peers      bool
	}{
		{name: "sealed to one recipient", data: seal(1), format: FormatSealed, recipients: 1,
			opensWith: "1 age X25519 recipient (a vault's `tgvault recipient`"},
		{name: "sealed to two recipients", data: seal(2), format: FormatSealed, recipients: 2,
			opensWith: "any one of: 2 age X25519 recipients"},
		{name: "sealed with a passphrase", data: byPass, format: FormatSealed, recipients: 1,
			opensWith: "a passphrase (export --passphrase"},
		{name: "a .session file", data: vector(t, "telethon/telethon.session"), path: telethonFile, format: "telethon-v7", peers: true},
		{name: "a .session file from stdin", data: vector(t, "telethon/telethon.session"), format: "telethon-v7", peers: true},
		{name: "a session string", data: vector(t, "pyrogram/session_string_v3.txt"), format: sessionstring.Pyrogram.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Inspect(tc.data, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != tc.format {
				t.Errorf("format %q, want %q", res.Format, tc.format)
			}
			if tc.format == FormatSealed {
				if res.Session != nil || res.Sealed == nil || res.Sealed.Recipients != tc.recipients ||
					len(res.Sealed.SealedTo) != tc.recipients || !strings.HasPrefix(res.Sealed.OpensWith, tc.opensWith) {
					t.Fatalf("got %+v, sealed %+v; want %d recipients, opens with %q...", res, res.Sealed, tc.recipients, tc.opensWith)
				}
				if st := res.Sealed.SealedTo[0]; st.Type == "scrypt" && st.ScryptLogN != 10 {
					t.Errorf("scrypt work factor %d, want 10", st.ScryptLogN)
				}
				return
			}
			if res.Sealed != nil || res.Session == nil || res.Session.DCID != 2 || res.Session.AuthKey.IsZero() {
				t.Fatalf("got %+v", res)
			}
			if (res.Peers != nil) != tc.peers {
				t.Errorf("peers %v, want a count: %v", res.Peers, tc.peers)
			}
		})
	}
	_, err = Inspect([]byte("no session at all"), "")
	if _, ok := errors.AsType[*sessionstring.ParseError](err); !ok || !strings.Contains(err.Error(), "(expected a Pyrogram") {
		t.Fatalf("junk: %v, want a *sessionstring.ParseError saying what was expected", err)
	}
}
