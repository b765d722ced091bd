package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// TestInspectNeverPrintsKey: an Inspection holds the session's auth key,
// but neither its JSON (what `tgvault inspect` prints) nor any fmt verb
// shows it: not its bytes, nor hex, nor base64 at any alignment. The scan
// first finds the key in the source itself, so it would see a leak.
func TestInspectNeverPrintsKey(t *testing.T) {
	t.Parallel()
	raw := make([]byte, sessionstring.AuthKeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	key, err := sessionstring.NewAuthKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	d, err := sessionstring.Decode(string(vector(t, "pyrogram/session_string_v3.txt")))
	if err != nil {
		t.Fatal(err)
	}
	random := d.Session.WithDefaultAddress() // Telethon, GramJS and mtcute strings carry the address
	random.AuthKey = key
	type source struct {
		name string
		data []byte
		path string
	}
	var sources []source
	for _, f := range sessionstring.Formats() {
		s, err := sessionstring.Encode(f, random)
		if err != nil {
			continue // a format that cannot carry this session
		}
		sources = append(sources, source{name: "random key, " + f.String(), data: []byte(s)})
	}
	for _, rel := range []string{"pyrogram/pyrogram_v3.session", "telethon/telethon.session", "gotd/session_from_telethon.json", "telethon/string_session.txt"} {
		sources = append(sources, source{name: rel, data: vector(t, rel), path: filepath.Join(vectors, rel)})
	}
	if len(sources) < 6 {
		t.Fatalf("only %d sources", len(sources))
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			res, err := Inspect(src.data, src.path)
			if err != nil {
				t.Fatal(err)
			}
			if res.Session == nil || res.Session.AuthKey.IsZero() {
				t.Fatalf("no key in %+v", res)
			}
			needles := keyNeedles(res.Session.AuthKey.Bytes())
			if !containsAny(src.data, needles) {
				t.Fatal("the scan does not find the key in the source itself")
			}
			js, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			indented, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			for _, out := range []string{string(js), string(indented),
				fmt.Sprintf("%v %+v %#v", res, res, res),
				fmt.Sprintf("%v %+v %#v", *res.Session, *res.Session, *res.Session)} {
				if containsAny([]byte(out), needles) {
					t.Fatalf("the auth key shows in %s", out)
				}
			}
			if !strings.Contains(string(js), `"auth_key_id":"`+res.Session.AuthKey.ID().String()+`"`) {
				t.Errorf("no auth_key_id in %s", js)
			}
		})
	}
}

// keyNeedles are forms a key could leak in: a run of its bytes, their hex
// (either case), and standard and URL base64 of them at each of the three
// alignments.
func keyNeedles(key []byte) [][]byte {
	part := key[40:70]
	n := [][]byte{part[:16], []byte(hex.EncodeToString(part[:16])), []byte(strings.ToUpper(hex.EncodeToString(part[:16])))}
	for shift := range 3 {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			s := enc.EncodeToString(key[40-shift : 70])
			n = append(n, []byte(s[4:len(s)-4])) // inner characters: the same at any alignment of the same bytes
		}
	}
	return n
}

func containsAny(b []byte, needles [][]byte) bool {
	for _, n := range needles {
		if bytes.Contains(b, n) {
			return true
		}
	}
	return false
}
