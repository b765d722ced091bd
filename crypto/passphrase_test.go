package crypto

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/testhooks"
)

// testWorkFactor is the scrypt cost the tests seal with.
const testWorkFactor = 10

var scryptLine = regexp.MustCompile(`(?m)^-> scrypt \S+ (\d+)$`)

// Tests that call testhooks.SetScryptWorkFactor do not run in parallel with each
// other: the setting is process-wide.

func TestPassphraseRoundTrip(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, testWorkFactor)
	p := Passphrase("correct horse battery staple")
	for _, n := range []int{0, 5, chunkSize + 1} {
		pt := payload(n)
		sealed, err := SealPassphrase(pt, p)
		if err != nil {
			t.Fatal(err)
		}
		m := scryptLine.FindSubmatch(sealed)
		if m == nil || string(m[1]) != "10" {
			t.Fatalf("no scrypt stanza with work factor 10 in %.200q", sealed)
		}
		got, err := OpenPassphrase(sealed, Passphrase("correct horse battery staple"))
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("size %d: OpenPassphrase: %v", n, err)
		}
		got, err = OpenPassphrase(sealed, Passphrase("wrong horse"))
		checkFailure(t, "wrong passphrase", got, err, "wrong key")
		got, err = Open(sealed, newIdentity(t))
		checkFailure(t, "identity on a passphrase file", got, err, "wrong key")
	}
	id := newIdentity(t)
	sealed, err := Seal([]byte("x"), id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenPassphrase(sealed, p)
	checkFailure(t, "passphrase on a file sealed to a key", got, err, "wrong key")

	if _, err := SealPassphrase([]byte("x"), nil); err == nil {
		t.Error("SealPassphrase accepted an empty passphrase")
	}
	if _, err := OpenPassphrase(sealed, Passphrase{}); err == nil || class(err) != "other" {
		t.Errorf("OpenPassphrase with an empty passphrase: %v", err)
	}
}

func TestScryptWorkFactorHook(t *testing.T) {
	if got := scryptWorkFactor(); got != DefaultScryptWorkFactor {
		t.Fatalf("work factor without the hook = %d, want %d", got, DefaultScryptWorkFactor)
	}
	t.Run("set", func(t *testing.T) {
		testhooks.SetScryptWorkFactor(t, 4)
		if got := scryptWorkFactor(); got != 4 {
			t.Fatalf("work factor = %d, want 4", got)
		}
		t.Run("nested", func(t *testing.T) {
			testhooks.SetScryptWorkFactor(t, 5)
			if got := scryptWorkFactor(); got != 5 {
				t.Fatalf("work factor = %d, want 5", got)
			}
		})
		if got := scryptWorkFactor(); got != 4 {
			t.Fatalf("work factor after nested cleanup = %d, want 4", got)
		}
	})
	if got := scryptWorkFactor(); got != DefaultScryptWorkFactor {
		t.Fatalf("work factor after cleanup = %d, want %d", got, DefaultScryptWorkFactor)
	}
	defer func() {
		if recover() == nil {
			t.Error("testhooks.SetScryptWorkFactor(0) did not panic")
		}
	}()
	testhooks.SetScryptWorkFactor(t, 0)
}

func TestWorkFactorCap(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, testWorkFactor)
	p := Passphrase("pw")
	sealed, err := SealPassphrase([]byte("secret"), p)
	if err != nil {
		t.Fatal(err)
	}
	withFactor := func(f string) []byte {
		return scryptLine.ReplaceAllFunc(sealed, func(line []byte) []byte {
			m := scryptLine.FindSubmatchIndex(line)
			return append(bytes.Clone(line[:m[2]]), f...)
		})
	}
	for _, f := range []string{"23", "30", "64", "99999999999999999999"} {
		start := time.Now()
		got, err := OpenPassphrase(withFactor(f), p)
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("work factor %s: took %v, want a fast failure", f, d)
		}
		checkFailure(t, "work factor "+f, got, err, "corrupt")
		if !errors.Is(err, ErrWorkFactor) {
			t.Errorf("work factor %s: %v does not match ErrWorkFactor", f, err)
		}
	}
	// At the cap exactly, the file opens (with a lowered cap, to stay fast).
	if got, err := openPassphrase(sealed, p, testWorkFactor); err != nil || string(got) != "secret" {
		t.Errorf("at the cap: %q, %v", got, err)
	}
	got, err := openPassphrase(sealed, p, testWorkFactor-1)
	checkFailure(t, "one above the cap", got, err, "corrupt")
	if !errors.Is(err, ErrWorkFactor) {
		t.Errorf("one above the cap: %v does not match ErrWorkFactor", err)
	}
	// Malformed work factors are corrupt, whatever their value.
	for _, f := range []string{"010", "+9", "0x9", "-1", "0", "9a"} {
		got, err := OpenPassphrase(withFactor(f), p)
		checkFailure(t, "work factor "+f, got, err, "corrupt")
	}
}

func TestParseLogN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		n  int
		ok bool
	}{
		{"18", 18, true}, {"1", 1, true}, {"", 0, false}, {"018", 0, false},
		{"1e3", 0, false}, {"-5", 0, false}, {"1234567890", 1 << 30, true},
	} {
		n, ok := parseLogN(tc.in)
		if n != tc.n || ok != tc.ok {
			t.Errorf("parseLogN(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.n, tc.ok)
		}
	}
}

func TestPassphraseSealed(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, testWorkFactor)
	bin, err := SealPassphrase([]byte("x"), Passphrase("pw"))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := GenerateIdentity()
	x25519, _ := Seal([]byte("x"), id.Recipient())
	armored, _ := SealArmored([]byte("x"), id.Recipient())
	text, _ := SealText([]byte("x"), id.Recipient())
	for name, c := range map[string]struct {
		data []byte
		want bool
	}{
		"binary scrypt":  {bin, true},
		"text scrypt":    {[]byte(" " + base64.StdEncoding.EncodeToString(bin) + "\n"), true},
		"binary x25519":  {x25519, false},
		"armored x25519": {armored, false},
		"text x25519":    {[]byte(text), false},
		"session string": {[]byte("AgAAMDkAAAECAwQF"), false},
		"garbage":        {[]byte("not age"), false},
		"empty":          {nil, false},
	} {
		if got := PassphraseSealed(c.data); got != c.want {
			t.Errorf("%s: PassphraseSealed = %v, want %v", name, got, c.want)
		}
	}
}

// TestPassphraseFromFile: one trailing LF or CRLF goes, nothing else; the
// file's bytes are wiped.
func TestPassphraseFromFile(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"pass\n": "pass", "pass\r\n": "pass", "pass": "pass", "pass\n\n": "pass\n",
		" pass \n": " pass ", "\n": "", "": "", "pa\rss\r": "pa\rss\r",
	} {
		b := []byte(in)
		if got := PassphraseFromFile(b); string(got) != want {
			t.Errorf("PassphraseFromFile(%q) = %q, want %q", in, string(got), want)
		}
		for _, c := range b {
			if c != 0 {
				t.Errorf("PassphraseFromFile(%q) left the file's bytes", in)
				break
			}
		}
	}
}
