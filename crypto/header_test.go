package crypto

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/testhooks"
)

// TestReadHeader: the stanzas of every kind of recipient and of a
// passphrase are read from the public header, in every form, without a key.
func TestReadHeader(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, testWorkFactor) // not parallel: a global
	ks := kinds(t)
	var classic []*Recipient
	for _, k := range ks {
		if k.name != "hybrid" {
			classic = append(classic, k.id.Recipient())
		}
	}
	bin, err := Seal([]byte("payload"), classic...)
	if err != nil {
		t.Fatal(err)
	}
	arm, err := SealArmored([]byte("payload"), classic...)
	if err != nil {
		t.Fatal(err)
	}
	text := base64.StdEncoding.EncodeToString(bin)
	for form, data := range map[string][]byte{"binary": bin, "armored": arm, "text": []byte(" " + text + "\n")} {
		h, err := ReadHeader(data)
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		var types []string
		for _, s := range h.Stanzas {
			types = append(types, s.Type)
			if strings.HasPrefix(s.Type, "ssh-") && len(s.SSHTag) != 6 {
				t.Errorf("%s: %s tag %q", form, s.Type, s.SSHTag)
			}
		}
		if h.Form != form || strings.Join(types, ",") != "X25519,ssh-ed25519,ssh-rsa" || h.Size != len(bin) {
			t.Errorf("%s: form %s stanzas %v size %d", form, h.Form, types, h.Size)
		}
	}
	pq, err := Seal([]byte("x"), ks[1].id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if h, err := ReadHeader(pq); err != nil || len(h.Stanzas) != 1 || h.Stanzas[0].Type != "mlkem768x25519" {
		t.Errorf("hybrid: %+v %v", h, err)
	}
	pass, err := SealPassphrase([]byte("x"), Passphrase("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if h, err := ReadHeader([]byte(base64.StdEncoding.EncodeToString(pass))); err != nil || len(h.Stanzas) != 1 || h.Stanzas[0].Type != "scrypt" || h.Stanzas[0].ScryptLogN != testWorkFactor {
		t.Errorf("passphrase: %+v %v", h, err)
	}
	for _, bad := range []string{"", "AgAAMDkAAAE", "age-encryption.org/v1\n--- x\n", text[:40]} {
		if _, err := ReadHeader([]byte(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ReadHeader(%.20q) = %v, want ErrCorrupt", bad, err)
		}
	}
}

// FuzzReadHeader: ReadHeader reads untrusted input (inspect of any file):
// it never panics, and succeeds only with at least one stanza.
func FuzzReadHeader(f *testing.F) {
	id, err := GenerateIdentity()
	if err != nil {
		f.Fatal(err)
	}
	bin, err := Seal([]byte("x"), id.Recipient())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bin)
	f.Add([]byte(base64.StdEncoding.EncodeToString(bin)))
	f.Add([]byte("age-encryption.org/v1\n-> X25519\n--- x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadHeader(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if len(h.Stanzas) == 0 || h.Form == "" {
			t.Fatalf("header without stanzas: %+v", h)
		}
	})
}

// TestSealedForm: each form Open reads is told from its head alone, and
// input that is no sealed file (a session string, a SQLite file, JSON,
// nothing) is none.
func TestSealedForm(t *testing.T) {
	t.Parallel()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := Seal([]byte("payload"), id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	arm, err := SealArmored([]byte("payload"), id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	text, err := SealText([]byte("payload"), id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"binary", bin, FormBinary},
		{"armored", arm, FormArmored},
		{"armored with white space", append([]byte("\n  "), arm...), FormArmored},
		{"text", []byte(text), FormText},
		{"text with newline", []byte(text + "\n"), FormText},
		{"session string", []byte("BQAAAAEAAAAAAAAAAQ" + strings.Repeat("A", 340)), ""},
		{"sqlite", []byte("SQLite format 3\x00"), ""},
		{"json", []byte(`{"Version":1}`), ""},
		{"empty", nil, ""},
	} {
		if got := SealedForm(c.data); got != c.want {
			t.Errorf("%s: SealedForm = %q, want %q", c.name, got, c.want)
		}
	}
}
