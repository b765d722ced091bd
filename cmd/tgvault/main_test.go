package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/testhooks"
)

func vector(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "testdata", "vectors"}, parts...)...)
}

func TestInspectVectors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		file, format string
		user         any
		peers        any
	}{
		{vector("pyrogram", "session_string_v3.txt"), "pyrogram", 123456789.0, nil},
		{vector("telethon", "string_session.txt"), "telethon", nil, nil},
		{vector("gotd", "session_from_telethon.json"), "gotd", nil, nil},
		{vector("pyrogram", "pyrogram_v3.session"), "pyrogram-v3", 123456789.0, 5.0},
		{vector("telethon", "telethon.session"), "telethon-v7", 123456789.0, 3.0},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			if code := run([]string{"inspect", c.file}, nil, &out, &errb); code != exitOK {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var got map[string]any
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			sess := got["session"].(map[string]any)
			if got["format"] != c.format || sess["user_id"] != c.user || got["peers"] != c.peers {
				t.Errorf("got %s", out.String())
			}
			// The names of show and list, snake_case.
			for _, k := range []string{"dc_id", "api_id", "test_mode", "auth_key_id", "user_id", "is_bot", "host", "port"} {
				if _, ok := sess[k]; !ok {
					t.Errorf("session has no %q: %s", k, out.String())
				}
			}
			if strings.Contains(out.String(), `"DCID"`) || strings.Contains(out.String(), `"AuthKeyID"`) {
				t.Errorf("Go field names in the output: %s", out.String())
			}
			// The key never appears, in any encoding we know of.
			for _, leak := range []string{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", "000102030405060708090a0b0c0d0e0f"} {
				if strings.Contains(out.String(), leak) {
					t.Fatal("inspect printed the auth key")
				}
			}
		})
	}
}

func TestInspectErrors(t *testing.T) {
	t.Parallel()
	secret := "1ApWapzMBuwABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIy"
	var out, errb bytes.Buffer
	if code := run([]string{"inspect", "-"}, strings.NewReader(secret), &out, &errb); code != exitError {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(errb.String(), secret[5:20]) {
		t.Fatal("the error echoes the input")
	}
	if code := run([]string{"bogus"}, nil, &out, &errb); code != exitUsage {
		t.Fatalf("unknown command: exit %d", code)
	}
	if code := run(nil, nil, &out, &errb); code != exitUsage {
		t.Fatalf("no command: exit %d", code)
	}
}

// TestInspectSealed: a sealed hand-off string is recognised without a key,
// and inspect says what it is sealed to; the string itself is not printed.
func TestInspectSealed(t *testing.T) {
	t.Parallel()
	testhooks.SetScryptWorkFactor(t, 10)
	id1, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	id2, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	toTwo, err := crypto.SealText([]byte("TGVH not really an envelope"), id1.Recipient(), id2.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	pass, err := crypto.SealPassphrase([]byte("TGVH"), crypto.Passphrase("one-time pass"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in, opens string
		types     []any
	}{
		{toTwo, "any one of: 2 age X25519 recipients", []any{"X25519", "X25519"}},
		{base64.StdEncoding.EncodeToString(pass), "a passphrase", []any{"scrypt"}},
	} {
		var out, errb bytes.Buffer
		if code := run([]string{"inspect", "-"}, strings.NewReader(c.in+"\n"), &out, &errb); code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		var got struct {
			Format  string         `json:"format"`
			Session map[string]any `json:"session"`
			Sealed  struct {
				Form       string           `json:"form"`
				Recipients int              `json:"recipients"`
				SealedTo   []map[string]any `json:"sealed_to"`
				OpensWith  string           `json:"opens_with"`
			} `json:"sealed"`
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		var types []any
		for _, s := range got.Sealed.SealedTo {
			types = append(types, s["type"])
		}
		if got.Format != "tgvault-sealed" || got.Session != nil || got.Sealed.Form != "text" || got.Sealed.Recipients != len(c.types) ||
			!strings.HasPrefix(got.Sealed.OpensWith, c.opens) || fmt.Sprint(types) != fmt.Sprint(c.types) {
			t.Errorf("got %s", out.String())
		}
		if strings.Contains(out.String(), c.in[20:60]) {
			t.Error("inspect printed the sealed string")
		}
	}
}
