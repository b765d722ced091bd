package sessionstring

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var vectorByFormat = map[Format]string{
	Pyrogram: "pyrogram/session_string_v3.txt",
	Telethon: "telethon/string_session.txt",
	GramJS:   "gramjs/string_session.txt",
	Mtcute:   "mtcute/string_session_v3.txt",
	MTKruto:  "mtcute/mtkruto_from_mtcute.txt",
	Gotd:     "gotd/session_from_telethon.json",
}

func addSeeds(f *testing.F, add func(string)) {
	for _, c := range vectorCases {
		add(readVector(f, c.file))
	}
	for _, c := range badCases(f) {
		if len(c.in) <= 1024 {
			add(c.in)
		}
	}
}

// sameSession reports whether two sessions hold the same data: their JSON
// forms (every field but the key, plus Extra) and their keys.
func sameSession(t *testing.T, a, b Session) {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatalf("json: %v %v", err1, err2)
	}
	if string(ja) != string(jb) || !a.AuthKey.Equal(b.AuthKey) {
		t.Fatalf("sessions differ:\n%s\n%s", ja, jb)
	}
}

var sentinels = []error{ErrInvalidKey, ErrUnknownFormat, ErrMalformed, ErrTooLong, ErrUnknownVersion}

func checkParseError(t *testing.T, err error) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not a *ParseError", err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error wraps no sentinel: %v", err)
}

func FuzzDecode(f *testing.F) {
	addSeeds(f, func(s string) { f.Add(s) })
	f.Fuzz(func(t *testing.T, s string) {
		for _, fm := range Formats() {
			if _, err := DecodeAs(fm, s); err != nil {
				checkParseError(t, err)
			}
		}
		d, err := Decode(s)
		if err != nil {
			checkParseError(t, err)
			return
		}
		if d.Format == Telethon && strings.ContainsAny(s, "+/") {
			// GramJS's alphabet: Telethon's reading only where GramJS's is
			// the same.
			g, err := DecodeAs(GramJS, s)
			if err != nil || g.Extra.GramJSLayout != GramJSTelethon {
				t.Fatalf("a standard-alphabet string read as Telethon, which GramJS reads otherwise (%v)", err)
			}
		}
		enc, err := Encode(d.Format, d.Session)
		if err != nil {
			t.Fatalf("decoded as %v but cannot encode: %v", d.Format, err)
		}
		again, err := DecodeAs(d.Format, enc)
		if err != nil {
			t.Fatalf("re-decoding own %v output: %v", d.Format, err)
		}
		sameSession(t, d.Session, again)
	})
}

func FuzzRoundTrip(f *testing.F) {
	addSeeds(f, func(s string) {
		for i := range Formats() {
			f.Add(uint8(i), s)
		}
	})
	f.Fuzz(func(t *testing.T, which uint8, s string) {
		fm := allFormats[int(which)%len(allFormats)]
		sess, err := DecodeAs(fm, s)
		if err != nil {
			return
		}
		enc, err := Encode(fm, sess)
		if err != nil {
			t.Fatalf("%v: cannot encode a decoded session: %v", fm, err)
		}
		sess2, err := DecodeAs(fm, enc)
		if err != nil {
			t.Fatalf("%v: cannot decode own output: %v", fm, err)
		}
		sameSession(t, sess, sess2)
		enc2, err := Encode(fm, sess2)
		if err != nil || enc2 != enc {
			t.Fatalf("%v: encoding not stable: %v", fm, err)
		}
	})
}
