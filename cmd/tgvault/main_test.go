package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
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
			if got["format"] != c.format || sess["UserID"] != c.user || got["peers"] != c.peers {
				t.Errorf("got %s", out.String())
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
