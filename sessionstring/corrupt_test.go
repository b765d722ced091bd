package sessionstring

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// corruptAlphabet is what TestSingleCharCorruption puts in place of each
// character: both base64 alphabets, padding, and a few characters no
// format has.
const corruptAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_= .!\x00"

// TestSingleCharCorruption changes each character of every string vector
// to each character of corruptAlphabet (and deletes it), and decodes the
// result. Every change must be refused, or be read as the vector's own
// format: never as another one. Read as its own format, the change must
// be one the format cannot tell from a real session: the decoded bytes are
// the original's (the other base64 alphabet, padding), or the change lies
// in a field without redundancy (the key, the dc id, the port, ...), and
// then encoding the result gives back exactly what was decoded.
//
// TGVAULT_CORRUPT_FULL=1 tries every replacement character; otherwise a
// fixed subset per position keeps the test short under -race.
func TestSingleCharCorruption(t *testing.T) {
	t.Parallel()
	full := os.Getenv("TGVAULT_CORRUPT_FULL") == "1"
	for _, c := range vectorCases {
		if c.format == Gotd {
			continue // JSON: TestGotdCorruption
		}
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			in := readVector(t, c.file)
			orig, err := DecodeAs(c.format, in)
			if err != nil {
				t.Fatal(err)
			}
			origBytes := payloadOf(t, c.format, in)
			var same, refused, changed int
			try := func(what, mut string) {
				d, err := Decode(mut)
				if err != nil {
					var pe *ParseError
					if !errors.As(err, &pe) {
						t.Fatalf("%s: error %T is not a *ParseError", what, err)
					}
					refused++
					return
				}
				if d.Format != c.format {
					t.Errorf("%s: read as %v, want %v or refused", what, d.Format, c.format)
					return
				}
				for _, alt := range d.Alternatives {
					t.Errorf("%s: %v offered as an alternative reading", what, alt)
				}
				b := payloadOf(t, c.format, mut)
				if bytes.Equal(b, origBytes) {
					sameSessionOrFail(t, what, orig, d.Session)
					same++
					return
				}
				changed++
				// A change the format cannot detect: the reading must be
				// faithful, so that encoding it gives back what was read.
				enc, err := Encode(c.format, d.Session)
				if err != nil {
					t.Errorf("%s: read as %v but cannot encode: %v", what, c.format, err)
					return
				}
				if got := payloadOf(t, c.format, enc); !bytes.Equal(got, b) {
					t.Errorf("%s: read as %v, but the reading is not faithful", what, c.format)
				}
			}
			for i := 0; i < len(in); i++ {
				try("delete", in[:i]+in[i+1:])
				for j := 0; j < len(corruptAlphabet); j++ {
					r := corruptAlphabet[j]
					if r == in[i] || !full && (i+j)%13 != 0 && !strings.ContainsRune("+/-_= ", rune(r)) {
						continue
					}
					try("replace", in[:i]+string(r)+in[i+1:])
				}
			}
			t.Logf("%s: %d same bytes, %d refused, %d read as %v with an undetectable change", c.file, same, refused, changed, c.format)
			if refused == 0 {
				t.Error("nothing was refused")
			}
		})
	}
}

// payloadOf returns the bytes a string format's text decodes to (prefix
// stripped), or nil when it does not decode.
func payloadOf(t *testing.T, f Format, s string) []byte {
	t.Helper()
	s = strings.TrimSpace(s)
	if f == Telethon || f == GramJS {
		if !strings.HasPrefix(s, "1") {
			return nil
		}
		s = s[1:]
	}
	b, err := decodeB64(f, s, 0)
	if err != nil {
		return nil
	}
	return b
}

func sameSessionOrFail(t *testing.T, what string, a, b Session) {
	t.Helper()
	ja, _ := a.MarshalJSON()
	jb, _ := b.MarshalJSON()
	if !bytes.Equal(ja, jb) || !a.AuthKey.Equal(b.AuthKey) {
		t.Errorf("%s: same bytes but another session:\n%s\n%s", what, ja, jb)
	}
}

// TestGotdCorruption is TestSingleCharCorruption for the gotd JSON
// vectors: every single-character change is refused or read as gotd, and
// a change that gotd's checks cannot see (the key's bytes are covered by
// AuthKeyID) keeps the key.
func TestGotdCorruption(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"gotd/session_from_telethon.json", "gotd/session_from_tdata.json"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			gotdCorruption(t, file)
		})
	}
}

func gotdCorruption(t *testing.T, file string) {
	{
		in := readVector(t, file)
		orig, err := DecodeAs(Gotd, in)
		if err != nil {
			t.Fatal(err)
		}
		var refused, read int
		for i := 0; i < len(in); i++ {
			for j, r := range []byte("A0{}\":,=. \x00") {
				// Every character gets a quote, a digit and a brace; the
				// rest in turn (TGVAULT_CORRUPT_FULL=1: all of them).
				if r == in[i] || j > 3 && (i+j)%4 != 0 && os.Getenv("TGVAULT_CORRUPT_FULL") != "1" {
					continue
				}
				d, err := Decode(in[:i] + string(r) + in[i+1:])
				if err != nil {
					refused++
					continue
				}
				read++
				if d.Format != Gotd {
					t.Errorf("%s: change at %d read as %v", file, i, d.Format)
				}
				if !d.Session.AuthKey.Equal(orig.AuthKey) {
					t.Errorf("%s: change at %d read with another key", file, i)
				}
			}
		}
		t.Logf("%s: %d refused, %d read as gotd (the same key)", file, refused, read)
	}
}

// TestGotdErrors: JSON that is not a gotd session is "not a session";
// a gotd-looking file that is broken says what is wrong, in words that do
// not quote it.
func TestGotdErrors(t *testing.T) {
	t.Parallel()
	gotd := readVector(t, "gotd/session_from_telethon.json")
	cases := []struct {
		in     string
		want   error
		reason string
		format Format
	}{
		{`{"name":"alice","age":3}`, ErrUnknownFormat, "not a session", Unknown},
		{`{}`, ErrUnknownFormat, "not a session", Unknown},
		{`{"a":[1,2]} `, ErrUnknownFormat, "not a session", Unknown},
		{`{"a":`, ErrMalformed, "not valid JSON", Unknown},
		{strings.Replace(gotd, `"DC":2`, `"DC":"2"`, 1), ErrMalformed, "its dc id has the wrong JSON type", Gotd},
		{strings.Replace(gotd, `"Salt":0`, `"Salt":0,"Extra":1`, 1), ErrMalformed, "Data has a field gotd does not write", Gotd},
		{strings.Replace(gotd, `"Version":1,`, `"Version":1,"More":2,`, 1), ErrMalformed, "the file has a field gotd does not write", Gotd},
		{strings.Replace(gotd, `"AuthKey":"AAEC`, `"AuthKey":"!AEC`, 1), ErrMalformed, "its auth key or key id is not base64", Gotd},
		{gotd[:len(gotd)-2], ErrMalformed, "the JSON is not valid JSON", Gotd},
		{strings.Replace(gotd, `"Version":1`, `"Version":"1"`, 1), ErrMalformed, "its version has the wrong JSON type", Gotd},
	}
	for _, c := range cases {
		_, err := Decode(c.in)
		var pe *ParseError
		if !errors.Is(err, c.want) || !errors.As(err, &pe) || pe.Format != c.format || !strings.Contains(pe.Reason, c.reason) {
			t.Errorf("Decode(%.40q) = %v (format %v), want %v with %q", c.in, err, pe.Format, c.want, c.reason)
		}
		if err != nil && strings.Contains(err.Error(), "gotd session object") {
			t.Errorf("%v: gotd's words", err)
		}
	}
}
