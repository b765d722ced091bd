package crypto

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestParseIdentityRoundTrip(t *testing.T) {
	t.Parallel()
	for _, k := range kinds(t) {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			secret := k.id.Reveal()
			switch k.name {
			case "X25519":
				if !strings.HasPrefix(secret, "AGE-SECRET-KEY-1") {
					t.Fatalf("Reveal = %.20q…", secret)
				}
			case "hybrid":
				if !strings.HasPrefix(secret, "AGE-SECRET-KEY-PQ-1") {
					t.Fatalf("Reveal = %.20q…", secret)
				}
			default:
				if secret != strings.TrimSpace(string(k.sshPEM)) {
					t.Fatal("Reveal of an SSH identity is not its PEM text")
				}
			}
			again, err := ParseIdentity("\n " + secret + "\n")
			if err != nil {
				t.Fatal(err)
			}
			if again.Reveal() != secret {
				t.Error("parse(Reveal()) differs")
			}
			if again.Recipient().String() != k.id.Recipient().String() {
				t.Error("recipients of the same identity differ")
			}
			ids, err := ParseIdentities(strings.NewReader(secret + "\n"))
			if err != nil || len(ids) != 1 {
				t.Fatalf("ParseIdentities = %d, %v", len(ids), err)
			}
			// The recipient's text parses back to the same recipient, and
			// seals to this identity.
			r, err := ParseRecipient(k.id.Recipient().String())
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != k.id.Recipient().String() {
				t.Errorf("ParseRecipient(%q).String() = %q", k.id.Recipient(), r)
			}
			sealed, err := Seal([]byte("x"), r)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := Open(sealed, ids[0]); err != nil || string(got) != "x" {
				t.Errorf("Open = %q, %v", got, err)
			}
		})
	}
}

func TestRecipientText(t *testing.T) {
	t.Parallel()
	k := kinds(t)
	if s := k[0].id.Recipient().String(); !strings.HasPrefix(s, "age1") || strings.HasPrefix(s, "age1pq1") {
		t.Errorf("X25519 recipient %q", s)
	}
	if s := k[1].id.Recipient().String(); !strings.HasPrefix(s, "age1pq1") {
		t.Errorf("hybrid recipient %.20q", s)
	}
	if s := k[2].id.Recipient().String(); !strings.HasPrefix(s, "ssh-ed25519 AAAA") {
		t.Errorf("ssh-ed25519 recipient %q", s)
	}
	if s := k[3].id.Recipient().String(); !strings.HasPrefix(s, "ssh-rsa AAAA") {
		t.Errorf("ssh-rsa recipient %q", s)
	}
	// A comment after an SSH key is dropped.
	r, err := ParseRecipient(k[2].id.Recipient().String() + " alice@example")
	if err != nil || r.String() != k[2].id.Recipient().String() {
		t.Errorf("with comment: %v, %v", r, err)
	}
}

func TestParseIdentitiesFile(t *testing.T) {
	t.Parallel()
	a, b := newIdentity(t), kinds(t)[1].id
	file := "# created: today\n# public key: " + a.Recipient().String() + "\n" +
		a.Reveal() + "\n\n  " + b.Reveal() + "  \r\n# end\n"
	ids, err := ParseIdentities(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0].Reveal() != a.Reveal() || ids[1].Reveal() != b.Reveal() {
		t.Fatalf("parsed %d identities, not the ones written", len(ids))
	}
}

// TestReadIdentityFile: the first identity of the file, and how many
// there were; a file without one is an error.
func TestReadIdentityFile(t *testing.T) {
	t.Parallel()
	a, b := newIdentity(t), kinds(t)[1].id
	for _, tt := range []struct {
		name  string
		file  string
		want  *Identity
		count int
	}{
		{"one", "# public key: " + a.Recipient().String() + "\n" + a.Reveal() + "\n", a, 1},
		{"two", a.Reveal() + "\n\n" + b.Reveal() + "\n", a, 2},
		{"two, the other first", b.Reveal() + "\n" + a.Reveal() + "\n", b, 2},
		{"none", "# nothing here\n\n", nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, n, err := ReadIdentityFile(strings.NewReader(tt.file))
			if tt.want == nil {
				if err == nil || id != nil || n != 0 {
					t.Fatalf("= %v, %d, %v; want an error", id, n, err)
				}
				return
			}
			if err != nil || id.Reveal() != tt.want.Reveal() || n != tt.count {
				t.Fatalf("= %d identities, %v; want %d, the first one", n, err, tt.count)
			}
		})
	}
}

func TestParseRecipientsFile(t *testing.T) {
	t.Parallel()
	k := kinds(t)
	var file strings.Builder
	file.WriteString("# team\n\n")
	for _, kk := range k {
		fmt.Fprintf(&file, "%s\n", kk.id.Recipient())
	}
	rs, err := ParseRecipients(strings.NewReader(file.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(k) {
		t.Fatalf("got %d recipients, want %d", len(rs), len(k))
	}
	for i := range rs {
		if rs[i].String() != k[i].id.Recipient().String() {
			t.Errorf("recipient %d: %q", i, rs[i])
		}
	}
	if _, err := ParseRecipients(strings.NewReader("# nothing\n\n")); err == nil {
		t.Error("empty recipients file accepted")
	}
	_, err = ParseRecipients(strings.NewReader(k[0].id.Recipient().String() + "\nbogus\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: %v", err)
	}
}

// Errors about secret keys never contain the key; errors about public keys
// may.
func TestParseErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	x := newIdentity(t).Reveal()
	pq := kinds(t)[1].id.Reveal()
	ed := string(kinds(t)[2].sshPEM)
	// Change the last character, whatever it is (replacing it with a fixed
	// one left the key intact one time in 32).
	last := "Q"
	if strings.HasSuffix(x, "Q") {
		last = "P"
	}
	broken := []string{
		x[:len(x)-1] + last,              // bad checksum
		x + "Q",                          // too long
		strings.ToLower(x[:20]) + x[20:], // mixed case
		pq[:len(pq)-3],
		strings.Replace(ed, "A", "B", 5),
		ed[:len(ed)/2],
		"AGE-PLUGIN-FOO-1QQQSECRETSECRET",
	}
	for _, s := range broken {
		_, err := ParseIdentity(s)
		if err == nil {
			t.Errorf("ParseIdentity accepted a broken key")
			continue
		}
		if leaks(err.Error(), s) {
			t.Errorf("ParseIdentity error leaks the key: %v", err)
		}
		_, err = ParseIdentities(strings.NewReader("# x\n" + s + "\n"))
		if err == nil || leaks(err.Error(), s) {
			t.Errorf("ParseIdentities: %v", err)
		}
		// A secret key pasted as a recipient is not echoed either.
		_, err = ParseRecipient(s)
		if err == nil || leaks(err.Error(), s) {
			t.Errorf("ParseRecipient: %v", err)
		}
	}
	for _, s := range []string{x, pq, ed} {
		_, err := ParseRecipients(strings.NewReader(s))
		if err == nil || leaks(err.Error(), s) {
			t.Errorf("ParseRecipients of a secret key: %v", err)
		}
	}
	// Encrypted SSH keys are refused with a clear error.
	enc, err := ssh.MarshalPrivateKeyWithPassphrase(kindsEd25519Key(t), "", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseIdentity(string(pemEncode(enc))); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("encrypted SSH key: %v", err)
	}
}

// leaks reports whether msg contains any 12-character piece of secret.
func leaks(msg, secret string) bool {
	secret = strings.TrimSpace(secret)
	for i := 0; i+12 <= len(secret); i++ {
		piece := secret[i : i+12]
		if strings.TrimSpace(piece) != piece || strings.Trim(piece, "-ABEGINOPENSHRIVATKYQ ") == "" {
			continue // skip PEM banners and separators
		}
		if strings.Contains(msg, piece) {
			return true
		}
	}
	return false
}

func TestSecretsNeverPrint(t *testing.T) {
	t.Parallel()
	type holder struct {
		ID   *Identity
		P    Passphrase
		Name string
	}
	for _, k := range kinds(t) {
		p := Passphrase("hunter2-very-secret")
		h := holder{ID: k.id, P: p, Name: "n"}
		secret := k.id.Reveal()
		var outs []string
		// Not %p nor other verbs invalid for a struct: fmt then prints the
		// struct without calling any method, and a Passphrase field shows
		// its bytes (documented on Passphrase).
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.3s"} {
			for _, v := range []any{k.id, p, h, &h, []any{k.id, p}, map[string]any{"k": k.id, "p": p}} {
				outs = append(outs, fmt.Sprintf(verb, v))
			}
		}
		outs = append(outs, fmt.Sprint(k.id, p), fmt.Sprintln(h), k.id.String(), k.id.GoString(), p.String(), p.GoString())
		var buf bytes.Buffer
		for _, hd := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
			slog.New(hd).Info("msg", "id", k.id, "p", p, "h", h)
		}
		outs = append(outs, buf.String())
		for _, out := range outs {
			if leaks(out, secret) || strings.Contains(out, "hunter2") || strings.Contains(out, fmt.Sprint([]byte(p))) {
				t.Errorf("%s: secret printed: %.300s", k.name, out)
			}
		}
		if !strings.Contains(fmt.Sprintf("%v", h), "(redacted)") {
			t.Errorf("holder prints as %v", h)
		}
	}
}

func TestPassphraseWipe(t *testing.T) {
	t.Parallel()
	p := Passphrase("secret")
	p.Wipe()
	if !bytes.Equal(p, make([]byte, 6)) {
		t.Errorf("after Wipe: %v", []byte(p))
	}
}

func TestParseIdentitiesErrors(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	arm, err := SealArmored([]byte(id.Reveal()), id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{
		"empty":             "",
		"comments only":     "# nothing\n\n",
		"passphrase file":   string(arm),
		"plugin":            "AGE-PLUGIN-YUBIKEY-1QQQQQQ\n",
		"public key":        id.Recipient().String() + "\n",
		"not UTF-8":         "\xff\xfe\n",
		"too large":         strings.Repeat("#", keyFileSizeLimit+1),
		"one bad line":      id.Reveal() + "\nAGE-SECRET-KEY-1BOGUS\n",
		"unknown PEM":       "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
		"ssh then age line": string(kinds(t)[2].sshPEM) + id.Reveal() + "\n",
	} {
		ids, err := ParseIdentities(strings.NewReader(file))
		if err == nil || ids != nil {
			t.Errorf("%s: ParseIdentities = %d identities, %v", name, len(ids), err)
			continue
		}
		if leaks(err.Error(), id.Reveal()) {
			t.Errorf("%s: error leaks the key: %v", name, err)
		}
	}
}
