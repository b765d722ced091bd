package sessionstring

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// payload returns the decoded bytes of a vector string.
func payload(t testing.TB, f Format, s string) []byte {
	t.Helper()
	if f == Telethon || f == GramJS {
		s = s[1:]
	}
	b, err := decodeB64(f, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wrap encodes a payload the way format f's library does.
func wrap(f Format, b []byte) string {
	switch f {
	case Telethon:
		return "1" + base64.URLEncoding.EncodeToString(b)
	case GramJS:
		return "1" + base64.StdEncoding.EncodeToString(b)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func mutate(t testing.TB, f Format, file string, fn func([]byte) []byte) string {
	t.Helper()
	b := payload(t, f, readVector(t, file))
	return wrap(f, fn(append([]byte(nil), b...)))
}

func zeroKey(b []byte) []byte {
	i := strings.Index(string(b), string(testKeyBytes()))
	clear(b[i : i+AuthKeySize])
	return b
}

func set(i int, v byte) func([]byte) []byte {
	return func(b []byte) []byte { b[i] = v; return b }
}

func truncate(b []byte) []byte { return b[:len(b)-1] }

func TestTolerance(t *testing.T) {
	t.Parallel()
	v := func(f string) string { return readVector(t, f) }
	std := strings.NewReplacer("-", "+", "_", "/")
	url := strings.NewReplacer("+", "-", "/", "_")
	gotd := v("gotd/session_from_telethon.json")
	cases := []struct {
		name string
		f    Format
		in   string
		dc   int
	}{
		{"pyrogram padded", Pyrogram, v("pyrogram/session_string_v3.txt") + "==", 2},
		{"pyrogram old32 padded", Pyrogram, v("pyrogram/session_string_old32.txt") + "=", 2},
		{"pyrogram old64 padded", Pyrogram, v("pyrogram/session_string_old64.txt"), 2},
		{"pyrogram std alphabet", Pyrogram, std.Replace(v("pyrogram/session_string_v3.txt")), 2},
		{"pyrogram whitespace", Pyrogram, " \t" + v("pyrogram/session_string_v3.txt") + "\r\n", 2},
		{"telethon unpadded", Telethon, strings.TrimRight(v("telethon/string_session.txt"), "="), 2},
		{"telethon std alphabet", Telethon, std.Replace(v("telethon/string_session.txt")), 2},
		{"telethon ipv6 unpadded", Telethon, strings.TrimRight(v("telethon/string_session_ipv6.txt"), "="), 2},
		{"telethon newline", Telethon, v("telethon/string_session.txt") + "\n", 2},
		{"gramjs unpadded", GramJS, strings.TrimRight(v("gramjs/string_session_dc5.txt"), "="), 5},
		{"gramjs url alphabet", GramJS, url.Replace(v("gramjs/string_session.txt")), 2},
		{"gramjs whitespace", GramJS, "\n" + v("gramjs/string_session.txt") + "\n", 2},
		{"mtcute padded", Mtcute, v("mtcute/string_session_v3.txt") + "==", 2},
		{"mtcute std alphabet", Mtcute, std.Replace(v("mtcute/string_session_v3_media_noself.txt")), 2},
		{"mtkruto padded", MTKruto, v("mtcute/mtkruto_from_mtcute.txt") + "==", 2},
		{"gotd newline", Gotd, " " + gotd + "\n", 2},
		{"gotd indented", Gotd, strings.Replace(gotd, `"DC":2,`, "\n  \"DC\": 2,\n", 1), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := DecodeAs(c.f, c.in)
			if err != nil {
				t.Fatalf("DecodeAs: %v", err)
			}
			if s.DCID != c.dc || s.AuthKey.ID().String() != "32d1586ea457dfc8" {
				t.Errorf("dc %d key id %s", s.DCID, s.AuthKey.ID())
			}
			d, err := Decode(c.in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d.Format != c.f {
				t.Errorf("Decode format = %v, want %v", d.Format, c.f)
			}
		})
	}
}

type badCase struct {
	name   string
	f      Format // for DecodeAs
	in     string
	want   error // from DecodeAs
	detect error // from Decode; nil means "ErrUnknownFormat or want"
}

func badCases(t testing.TB) []badCase {
	v := func(f string) string { return readVector(t, f) }
	pyro, tele, gram := v("pyrogram/session_string_v3.txt"), v("telethon/string_session.txt"), v("gramjs/string_session.txt")
	mtc, kru, gotd := v("mtcute/string_session_v3.txt"), v("mtcute/mtkruto_from_mtcute.txt"), v("gotd/session_from_telethon.json")
	zeroSum := sha1.Sum(make([]byte, AuthKeySize))
	return []badCase{
		{"empty", Pyrogram, "  \n", ErrMalformed, ErrMalformed},
		{"too long", Pyrogram, strings.Repeat("A", MaxLen+1), ErrTooLong, ErrTooLong},
		{"too long gotd", Gotd, "{" + strings.Repeat(" ", MaxLen), ErrTooLong, ErrTooLong},
		{"NUL in pyrogram", Pyrogram, pyro[:100] + "\x00" + pyro[100:], ErrMalformed, ErrMalformed},
		{"NUL at end", Telethon, tele + "\x00", ErrMalformed, ErrMalformed},
		{"stray dot", Mtcute, mtc[:50] + "." + mtc[51:], ErrMalformed, ErrMalformed},
		{"inner space", Pyrogram, pyro[:50] + " " + pyro[50:], ErrMalformed, ErrMalformed},
		{"non-ascii", GramJS, gram[:20] + "é" + gram[22:], ErrMalformed, ErrMalformed},
		{"too much padding", Pyrogram, pyro + "===", ErrMalformed, nil},
		{"wrong padding", Telethon, tele + "=", ErrMalformed, nil},
		{"non-zero trailing bits", MTKruto, kru[:len(kru)-1] + "x", ErrMalformed, nil},
		{"pyrogram truncated", Pyrogram, mutate(t, Pyrogram, "pyrogram/session_string_v3.txt", truncate), ErrMalformed, nil},
		{"pyrogram old32 truncated", Pyrogram, mutate(t, Pyrogram, "pyrogram/session_string_old32.txt", truncate), ErrMalformed, nil},
		{"telethon truncated", Telethon, mutate(t, Telethon, "telethon/string_session.txt", truncate), ErrMalformed, nil},
		{"telethon ipv6 truncated", Telethon, mutate(t, Telethon, "telethon/string_session_ipv6.txt", truncate), ErrMalformed, nil},
		{"gramjs truncated", GramJS, mutate(t, GramJS, "gramjs/string_session_dc5.txt", truncate), ErrMalformed, nil},
		{"mtcute truncated", Mtcute, mutate(t, Mtcute, "mtcute/string_session_v3.txt", truncate), ErrMalformed, nil},
		{"mtkruto truncated", MTKruto, mutate(t, MTKruto, "mtcute/mtkruto_from_mtcute.txt", truncate), ErrMalformed, nil},
		{"gotd truncated", Gotd, gotd[:len(gotd)-1], ErrMalformed, ErrMalformed},
		{"telethon without prefix", Telethon, tele[1:], ErrMalformed, nil},
		{"telethon version 2", Telethon, "2" + tele[1:], ErrMalformed, nil},
		{"pyrogram dc 0", Pyrogram, mutate(t, Pyrogram, "pyrogram/session_string_v3.txt", set(0, 0)), ErrMalformed, ErrMalformed},
		{"telethon dc 0", Telethon, mutate(t, Telethon, "telethon/string_session.txt", set(0, 0)), ErrMalformed, ErrMalformed},
		{"gramjs dc 0", GramJS, mutate(t, GramJS, "gramjs/string_session_dc5.txt", set(0, 0)), ErrMalformed, ErrMalformed},
		{"mtcute dc 0", Mtcute, mutate(t, Mtcute, "mtcute/string_session_v3.txt", set(7, 0)), ErrMalformed, nil},
		{"mtkruto dc 0", MTKruto, wrap(MTKruto, rleEncode(appendTLBytes(appendTLBytes(nil, []byte("0")), testKeyBytes()))), ErrMalformed, nil},
		{"gotd dc 0", Gotd, strings.Replace(gotd, `"DC":2`, `"DC":0`, 1), ErrMalformed, ErrMalformed},
		{"pyrogram zero key", Pyrogram, mutate(t, Pyrogram, "pyrogram/session_string_v3.txt", zeroKey), ErrInvalidKey, ErrInvalidKey},
		{"pyrogram old64 zero key", Pyrogram, mutate(t, Pyrogram, "pyrogram/session_string_old64.txt", zeroKey), ErrInvalidKey, ErrInvalidKey},
		{"telethon zero key", Telethon, mutate(t, Telethon, "telethon/string_session.txt", zeroKey), ErrInvalidKey, ErrInvalidKey},
		{"gramjs zero key", GramJS, mutate(t, GramJS, "gramjs/string_session.txt", zeroKey), ErrInvalidKey, ErrInvalidKey},
		{"mtcute zero key", Mtcute, mutate(t, Mtcute, "mtcute/string_session_v3.txt", zeroKey), ErrInvalidKey, ErrInvalidKey},
		{"mtkruto zero key", MTKruto, wrap(MTKruto, rleEncode(appendTLBytes(appendTLBytes(nil, []byte("2")), make([]byte, AuthKeySize)))), ErrInvalidKey, ErrInvalidKey},
		{"gotd zero key", Gotd, strings.Replace(strings.Replace(gotd, base64.StdEncoding.EncodeToString(testKeyBytes()), base64.StdEncoding.EncodeToString(make([]byte, AuthKeySize)), 1),
			"MtFYbqRX38g=", base64.StdEncoding.EncodeToString(zeroSum[12:20]), 1), ErrInvalidKey, ErrInvalidKey},
		{"pyrogram bool 2", Pyrogram, mutate(t, Pyrogram, "pyrogram/session_string_v3.txt", set(270, 2)), ErrMalformed, nil},
		{"mtcute version 2", Mtcute, mutate(t, Mtcute, "mtcute/string_session_v3.txt", set(0, 2)), ErrUnknownVersion, nil},
		{"mtcute version 4", Mtcute, mutate(t, Mtcute, "mtcute/string_session_v3.txt", set(0, 4)), ErrUnknownVersion, nil},
		{"mtcute unknown flag", Mtcute, mutate(t, Mtcute, "mtcute/string_session_v3.txt", set(1, 9)), ErrMalformed, nil},
		{"mtcute trailing byte", Mtcute, mutate(t, Mtcute, "mtcute/string_session_v3.txt", func(b []byte) []byte { return append(b, 1) }), ErrMalformed, nil},
		{"mtcute dirty padding", Mtcute, mutate(t, Mtcute, "mtcute/string_session_v3.txt", set(24, 1)), ErrMalformed, nil},
		{"mtkruto trailing bytes", MTKruto, mutate(t, MTKruto, "mtcute/mtkruto_from_mtcute.txt", func(b []byte) []byte { return append(b, 1, 2) }), ErrMalformed, nil},
		{"gotd version 2", Gotd, strings.Replace(gotd, `"Version":1`, `"Version":2`, 1), ErrUnknownVersion, ErrUnknownVersion},
		{"gotd version 0", Gotd, strings.Replace(gotd, `"Version":1`, `"Version":0`, 1), ErrUnknownVersion, ErrUnknownVersion},
		{"gotd no version", Gotd, strings.Replace(gotd, `"Version":1,`, ``, 1), ErrUnknownVersion, ErrUnknownVersion},
		{"gotd bad key id", Gotd, strings.Replace(gotd, "MtFYbqRX38g=", "MtFYbqRX38k=", 1), ErrInvalidKey, ErrInvalidKey},
		{"gotd no key id", Gotd, strings.Replace(gotd, `"AuthKeyID":"MtFYbqRX38g=",`, ``, 1), ErrInvalidKey, ErrInvalidKey},
		{"gotd short key", Gotd, strings.Replace(gotd, "/w==", "", 1), ErrInvalidKey, ErrInvalidKey},
		{"gotd unknown field", Gotd, strings.Replace(gotd, `"Salt":0`, `"Salt":0,"Peers":[]`, 1), ErrMalformed, ErrMalformed},
		{"gotd trailing object", Gotd, gotd + "{}", ErrMalformed, ErrMalformed},
		{"gotd data null", Gotd, `{"Version":1,"Data":null}`, ErrMalformed, ErrMalformed},
		{"gotd huge dc", Gotd, strings.Replace(gotd, `"DC":2`, `"DC":123456789012345678901234567890`, 1), ErrMalformed, ErrMalformed},
		{"gotd config not object", Gotd, strings.Replace(gotd, `"Config":{`, `"Config":[{`, 1), ErrMalformed, ErrMalformed},
	}
}

func TestStrictness(t *testing.T) {
	t.Parallel()
	for _, c := range badCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeAs(c.f, c.in)
			checkErr(t, "DecodeAs", err, c.f, c.want)
			_, err = Decode(c.in)
			if c.detect != nil {
				checkErr(t, "Decode", err, -1, c.detect)
			} else if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, c.want) {
				t.Errorf("Decode: %v, want ErrUnknownFormat or %v", err, c.want)
			}
		})
	}
}

func checkErr(t *testing.T, what string, err error, f Format, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: %T is not a *ParseError", what, err)
	}
	if f >= 0 && pe.Format != f {
		t.Errorf("%s: ParseError.Format = %v, want %v", what, pe.Format, f)
	}
}

func TestErrorOffsets(t *testing.T) {
	t.Parallel()
	pyro := readVector(t, "pyrogram/session_string_v3.txt")
	cases := []struct {
		in  string
		off int
	}{
		{pyro[:100] + "\x00" + pyro[100:], 100},
		{"  " + pyro[:7] + "!" + pyro[8:], 9},
		{"\n" + readVector(t, "telethon/string_session.txt")[:30] + "*", 31},
	}
	for _, c := range cases {
		for _, f := range []Format{Unknown, Pyrogram} {
			var err error
			if f == Unknown {
				_, err = Decode(c.in)
			} else {
				_, err = DecodeAs(f, c.in)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Offset != c.off {
				t.Errorf("%v: err %v, want offset %d", f, err, c.off)
			}
		}
	}
}

// TestErrorsNeverEchoInput decodes many bad inputs built from a real key
// and checks that no error text contains 8 consecutive bytes of the input.
func TestErrorsNeverEchoInput(t *testing.T) {
	t.Parallel()
	var inputs []string
	for _, c := range badCases(t) {
		if len(c.in) < MaxLen {
			inputs = append(inputs, c.in)
		}
	}
	for _, vc := range vectorCases {
		in := readVector(t, vc.file)
		for i := 0; i < len(in); i += 7 {
			inputs = append(inputs, in[:i], in[:i]+"!"+in[i:], in[:i]+"\x00", in[i:], in[:i]+"A"+in[i+1:])
		}
		if vc.format == Gotd {
			inputs = append(inputs,
				strings.Replace(in, `"DC":2`, `"DC":"supersecretvalue"`, 1),
				strings.Replace(in, `"Salt":0`, `"Salt":123456789012345678901234567890`, 1),
				strings.Replace(in, `"Addr":`, `"Addrsupersecret":`, 1),
				strings.Replace(in, `"Config":{`, `"Config":{"TestMode":"supersecretvalue",`, 1))
		}
	}
	for _, in := range inputs {
		errs := make([]error, 0, 8)
		_, err := Decode(in)
		errs = append(errs, err)
		for _, f := range Formats() {
			_, err := DecodeAs(f, in)
			errs = append(errs, err)
		}
		for _, err := range errs {
			if err == nil {
				continue
			}
			msg := err.Error()
			for i := 0; i+8 <= len(in); i++ {
				if strings.Contains(msg, in[i:i+8]) {
					t.Fatalf("error %q echoes input bytes %d..%d", msg, i, i+8)
				}
			}
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	tele, err := DecodeAs(Telethon, readVector(t, "telethon/string_session.txt"))
	if err != nil {
		t.Fatal(err)
	}
	pyro, err := DecodeAs(Pyrogram, readVector(t, "pyrogram/session_string_v3.txt"))
	if err != nil {
		t.Fatal(err)
	}
	noKey := pyro
	noKey.AuthKey = AuthKey{}
	noUser := pyro
	noUser.UserID = None[int64]()
	noTest := pyro
	noTest.TestMode = None[bool]()
	bigDC := tele
	bigDC.DCID = 256
	hostname := tele
	hostname.Host = Some("example.org")
	bigPort := tele
	bigPort.Port = Some(40000)
	old32 := pyro
	old32.APIID, old32.Extra.PyrogramLayout, old32.UserID = None[int32](), PyrogramOld32, Some[int64](5000000001)
	kruto := pyro
	kruto.Extra.MTKruto = &MTKrutoExtra{Trailer: true}
	kruto.APIID = None[int32]()

	cases := []struct {
		name  string
		f     Format
		s     Session
		want  error
		field string
	}{
		{"pyrogram from telethon needs api_id", Pyrogram, tele, ErrMissingField, "api_id"},
		{"pyrogram needs user_id", Pyrogram, noUser, ErrMissingField, "user_id"},
		{"pyrogram needs test_mode", Pyrogram, noTest, ErrMissingField, "test_mode"},
		{"pyrogram needs key", Pyrogram, noKey, ErrMissingField, "auth_key"},
		{"telethon needs host", Telethon, pyro, ErrMissingField, "host"},
		{"gramjs needs host", GramJS, pyro, ErrMissingField, "host"},
		{"mtcute needs host", Mtcute, pyro, ErrMissingField, "host"},
		{"mtkruto trailer needs api_id", MTKruto, kruto, ErrMissingField, "api_id"},
		{"gotd needs key", Gotd, noKey, ErrMissingField, "auth_key"},
		{"dc above 255", Telethon, bigDC, ErrInvalidField, "dc_id"},
		{"telethon hostname", Telethon, hostname, ErrInvalidField, "host"},
		{"gramjs port above int16", GramJS, bigPort, ErrInvalidField, "port"},
		{"old32 user too large", Pyrogram, old32, ErrInvalidField, "user_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Encode(c.f, c.s)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var mf *MissingFieldError
			var inv *InvalidFieldError
			switch {
			case errors.As(err, &mf):
				if mf.Field != c.field || mf.Format != c.f {
					t.Errorf("MissingFieldError %+v, want field %s", mf, c.field)
				}
			case errors.As(err, &inv):
				if inv.Field != c.field || inv.Format != c.f {
					t.Errorf("InvalidFieldError %+v, want field %s", inv, c.field)
				}
			default:
				t.Errorf("%T is neither typed error", err)
			}
		})
	}
	if _, err := Encode(Format(99), pyro); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
}

func TestFormatNames(t *testing.T) {
	t.Parallel()
	want := []string{"pyrogram", "telethon", "gramjs", "mtcute", "mtkruto", "gotd"}
	for i, f := range Formats() {
		if f.String() != want[i] {
			t.Errorf("%d.String() = %q, want %q", f, f.String(), want[i])
		}
		g, err := ParseFormat(strings.ToUpper(want[i]))
		if err != nil || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", want[i], g, err)
		}
	}
	if _, err := ParseFormat("tdata"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("ParseFormat(tdata) err = %v", err)
	}
	if Format(0).String() != "unknown" || Format(42).String() != "unknown" {
		t.Error("unknown formats should print unknown")
	}
}
