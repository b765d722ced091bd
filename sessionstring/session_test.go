package sessionstring

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestKeyNeverPrinted(t *testing.T) {
	t.Parallel()
	key := testKeyBytes()
	leaks := []string{
		hex.EncodeToString(key[8:24]),
		strings.ToUpper(hex.EncodeToString(key[8:24])),
		base64.StdEncoding.EncodeToString(key[:24]),
		base64.RawURLEncoding.EncodeToString(key[:24]),
		fmt.Sprint(key[8:24]),
		string(key[65:90]),
		`\x01\x02\x03\x04`,
		"0x1, 0x2, 0x3",
	}
	for _, c := range vectorCases {
		d, err := Decode(readVector(t, c.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%X", "%s", "%q", "%d"} {
			for _, v := range []any{d.Session, &d.Session, d, &d, d.Session.AuthKey} {
				out := fmt.Sprintf(verb, v)
				for _, l := range leaks {
					if strings.Contains(out, l) {
						t.Fatalf("%s: %s of %T leaks the key: %s", c.file, verb, v, out)
					}
				}
				if !strings.Contains(out, "(redacted)") {
					t.Errorf("%s: %s of %T does not show (redacted): %s", c.file, verb, v, out)
				}
			}
		}
		for _, v := range []any{d.Session, d} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("json.Marshal(%T): %v", v, err)
			}
			for _, l := range leaks {
				if strings.Contains(string(b), l) {
					t.Fatalf("json of %T leaks the key: %s", v, b)
				}
			}
			if !strings.Contains(string(b), `"auth_key_id":"32d1586ea457dfc8"`) {
				t.Errorf("json lacks the key id: %s", b)
			}
		}
	}
}

func TestSessionJSON(t *testing.T) {
	t.Parallel()
	s, err := DecodeAs(Telethon, readVector(t, "telethon/string_session.txt"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"dc_id":2,"api_id":null,"test_mode":false,"auth_key_id":"32d1586ea457dfc8","user_id":null,"is_bot":null,"host":"149.154.167.51","port":443,"extra":{}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	b, err = json.Marshal(Session{DCID: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"auth_key_id":null`) {
		t.Errorf("keyless session: %s", b)
	}
}

func TestAmbiguity(t *testing.T) {
	t.Parallel()
	// A GramJS string with a 14-character host fits Telethon's IPv6
	// layout; Telethon itself reads it with an "IPv6 address" made of the
	// host's text (MANIFEST.md). That reading is refused, naming GramJS.
	for _, file := range []string{"gramjs/string_session.txt", "mtcute/gramjs_from_mtcute.txt"} {
		gram := readVector(t, file)
		d, err := Decode(gram)
		if err != nil {
			t.Fatal(err)
		}
		if d.Format != GramJS || d.Ambiguous || len(d.Alternatives) != 0 {
			t.Errorf("%s: got %v ambiguous=%v alternatives=%v", file, d.Format, d.Ambiguous, d.Alternatives)
		}
		_, err = DecodeAs(Telethon, gram)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) || pe.Format != Telethon || pe.Likely != GramJS {
			t.Errorf("%s: DecodeAs(Telethon) = %v, want ErrMalformed naming gramjs", file, err)
		} else if !strings.Contains(err.Error(), "most likely a damaged gramjs session") {
			t.Errorf("%s: error %q does not name gramjs", file, err)
		}
	}

	// GramJS also reads Telethon strings; re-encoding keeps Telethon's text.
	for _, file := range []string{"telethon/string_session.txt", "telethon/string_session_ipv6.txt"} {
		tele := readVector(t, file)
		s, err := DecodeAs(GramJS, tele)
		if err != nil {
			t.Fatal(err)
		}
		if s.Extra.GramJSLayout != GramJSTelethon {
			t.Errorf("%s: layout %v", file, s.Extra.GramJSLayout)
		}
		if out, err := Encode(GramJS, s); err != nil || out != tele {
			t.Errorf("%s: re-encoded %q, %v", file, out, err)
		}
		d, err := Decode(tele)
		if err != nil || d.Format != Telethon || d.Ambiguous {
			t.Errorf("%s: Decode = %v ambiguous %v, %v", file, d.Format, d.Ambiguous, err)
		}
		// Dropping the layout record gives GramJS's own layout.
		s.Extra = Extra{}
		if out, err := Encode(GramJS, s); err != nil || !strings.ContainsAny(out, "+/") && strings.ContainsAny(out, "-_") {
			t.Errorf("%s: native encoding %q, %v", file, out, err)
		}
	}
}

func TestDCAddress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		dc   int
		test bool
		host string
		port int
		ok   bool
	}{
		{1, false, "149.154.175.53", 443, true},
		{2, false, "149.154.167.51", 443, true},
		{5, false, "91.108.56.130", 443, true},
		{203, false, "91.105.192.100", 443, true},
		{2, true, "149.154.167.40", 80, true},
		{3, true, "149.154.175.117", 80, true},
		{4, true, "", 0, false},
		{0, false, "", 0, false},
	}
	for _, c := range cases {
		h, p, ok := DCAddress(c.dc, c.test)
		if h != c.host || p != c.port || ok != c.ok {
			t.Errorf("DCAddress(%d, %v) = %s %d %v", c.dc, c.test, h, p, ok)
		}
	}
	s := Session{DCID: 2, TestMode: Some(true)}.WithDefaultAddress()
	if s.Host != Some("149.154.167.40") || s.Port != Some(80) {
		t.Errorf("test dc 2: %v %v", s.Host, s.Port)
	}
	// Without test mode no address is guessed: a test account must not
	// get a production address.
	s = Session{DCID: 2}.WithDefaultAddress()
	if s.Host.Known() || s.Port.Known() {
		t.Errorf("dc 2, test mode unknown: %v %v", s.Host, s.Port)
	}
	s = Session{DCID: 9, TestMode: Some(false)}.WithDefaultAddress()
	if s.Host.Known() || s.Port.Known() {
		t.Errorf("dc 9: %v %v", s.Host, s.Port)
	}
	s = Session{DCID: 2, Host: Some("10.0.0.1"), TestMode: Some(false)}.WithDefaultAddress()
	if s.Host != Some("10.0.0.1") || s.Port != Some(443) {
		t.Errorf("known host: %v %v", s.Host, s.Port)
	}
}

func TestTestModeInference(t *testing.T) {
	t.Parallel()
	key, err := NewAuthKey(testKeyBytes())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		host string
		want Opt[bool]
	}{
		{"149.154.167.40", Some(true)},
		{"149.154.175.10", Some(true)},
		{"2001:67c:4e8:f002::e", Some(true)},
		{"149.154.167.51", Some(false)},
		{"149.154.167.41", Some(false)},
		{"2001:b28:f23d:f001::a", Some(false)},
		{"::ffff:149.154.167.40", Some(true)},
		{"10.1.2.3", None[bool]()},
		{"2001:db8::1", None[bool]()},
	}
	for _, c := range cases {
		for _, f := range []Format{Telethon, GramJS} {
			str, err := Encode(f, Session{DCID: 2, AuthKey: key, Host: Some(c.host), Port: Some(443)})
			if err != nil {
				t.Fatal(err)
			}
			s, err := DecodeAs(f, str)
			if err != nil {
				t.Fatal(err)
			}
			if s.TestMode != c.want || s.Host != Some(c.host) {
				t.Errorf("%v %s: test %v host %v", f, c.host, s.TestMode, s.Host)
			}
		}
	}
}

// TestRoundTrips covers layouts that no vector has.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	key, err := NewAuthKey(testKeyBytes())
	if err != nil {
		t.Fatal(err)
	}
	base := Session{DCID: 2, AuthKey: key, APIID: Some[int32](12345), UserID: Some[int64](5000000001),
		IsBot: Some(true), TestMode: Some(true), Host: Some("149.154.167.40"), Port: Some(80)}
	legacy := base
	legacy.Extra.Mtcute = &MtcuteExtra{LegacyTestFlag: true, PrimaryVersion: 1}
	v6 := base
	v6.Host = Some("2001:67c:4e8:f002::e")
	hostname := base
	hostname.Host, hostname.TestMode = Some("dc2.example.org"), None[bool]()
	salted := base
	salted.Extra.Gotd = &GotdExtra{Addr: "149.154.167.40:80", Salt: -42,
		Config: json.RawMessage(`{"BlockedMode":false,"ForceTryIpv6":false,"Date":1700000000,"Expires":0,"TestMode":true,"ThisDC":2,"DCOptions":[],"DCTxtDomainName":"","TmpSessions":0,"WebfileDCID":0}`)}
	noTrailer := base
	noTrailer.Extra.MTKruto = &MTKrutoExtra{}

	cases := []struct {
		name string
		f    Format
		s    Session
		// check the decoded session beyond the fields that must survive.
		check func(t *testing.T, got Session)
	}{
		{"pyrogram test bot", Pyrogram, base, nil},
		{"telethon ipv6", Telethon, v6, nil},
		{"gramjs hostname", GramJS, hostname, nil},
		{"mtcute test mode v2 option", Mtcute, base, func(t *testing.T, got Session) {
			if got.Extra.Mtcute.PrimaryFlags != dcFlagTest || got.Extra.Mtcute.LegacyTestFlag {
				t.Errorf("extra %+v", got.Extra.Mtcute)
			}
		}},
		{"mtcute legacy test flag", Mtcute, legacy, func(t *testing.T, got Session) {
			if !got.Extra.Mtcute.LegacyTestFlag || got.Extra.Mtcute.PrimaryVersion != 1 {
				t.Errorf("extra %+v", got.Extra.Mtcute)
			}
		}},
		{"mtcute ipv6", Mtcute, v6, func(t *testing.T, got Session) {
			if got.Extra.Mtcute.PrimaryFlags&dcFlagIPv6 == 0 {
				t.Errorf("extra %+v", got.Extra.Mtcute)
			}
		}},
		{"mtkruto test trailer", MTKruto, base, func(t *testing.T, got Session) {
			if !got.Extra.MTKruto.Trailer || got.APIID != base.APIID || got.UserID != base.UserID || got.IsBot != base.IsBot {
				t.Errorf("got %+v", got)
			}
		}},
		{"mtkruto no trailer", MTKruto, noTrailer, func(t *testing.T, got Session) {
			if got.APIID.Known() || got.UserID.Known() {
				t.Errorf("got %+v", got)
			}
		}},
		{"gotd salt and config", Gotd, salted, func(t *testing.T, got Session) {
			if got.Extra.Gotd.Salt != -42 || got.TestMode != Some(true) {
				t.Errorf("got %+v", got.Extra.Gotd)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			str, err := Encode(c.f, c.s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeAs(c.f, str)
			if err != nil {
				t.Fatal(err)
			}
			if got.DCID != c.s.DCID || !got.AuthKey.Equal(c.s.AuthKey) {
				t.Errorf("dc %d or key changed", got.DCID)
			}
			if f := c.f; f == Telethon || f == GramJS || f == Mtcute {
				if got.Host != c.s.Host || got.Port != c.s.Port {
					t.Errorf("address %v %v", got.Host, got.Port)
				}
			}
			if c.f != Telethon && c.f != GramJS && got.TestMode != c.s.TestMode {
				t.Errorf("test mode %v", got.TestMode)
			}
			if c.check != nil {
				c.check(t, got)
			}
			again, err := Encode(c.f, got)
			if err != nil || again != str {
				t.Errorf("second encoding differs: %v", err)
			}
			d, err := Decode(str)
			if err != nil || d.Format != c.f {
				t.Errorf("Decode: %v %v", d.Format, err)
			}
		})
	}
}

func TestRLE(t *testing.T) {
	t.Parallel()
	long := make([]byte, 600)
	long[0], long[599] = 1, 2
	for _, in := range [][]byte{nil, {0}, {1, 0, 0, 2}, long, make([]byte, 255), make([]byte, 256)} {
		enc := rleEncode(in)
		out, ok := rleDecode(enc)
		if !ok || string(out) != string(in) {
			t.Errorf("rle round trip of %d bytes failed", len(in))
		}
	}
	for _, bad := range [][]byte{{0}, {0, 0}, {0, 3, 0, 1}, {1, 0}} {
		if _, ok := rleDecode(bad); ok {
			t.Errorf("rleDecode(%v) accepted non-canonical input", bad)
		}
	}
}

// TestEncodeStrict: what Encode would write as a guess, EncodeStrict
// refuses (test mode) or leaves out (mtcute's self info without a bot
// flag); the rest is Encode's output.
func TestEncodeStrict(t *testing.T) {
	t.Parallel()
	key, err := NewAuthKey(testKeyBytes())
	if err != nil {
		t.Fatal(err)
	}
	base := Session{DCID: 2, AuthKey: key, Host: Some("149.154.167.51"), Port: Some(443)}
	for _, f := range []Format{Mtcute, MTKruto} {
		_, err := EncodeStrict(f, base)
		var mf *MissingFieldError
		if !errors.As(err, &mf) || mf.Field != "test_mode" {
			t.Errorf("%v without test mode: %v, want missing test_mode", f, err)
		}
		if _, err := Encode(f, base); err != nil {
			t.Errorf("%v: Encode guesses production: %v", f, err)
		}
	}
	s := base
	s.TestMode, s.UserID = Some(false), Some[int64](123456789)
	out, err := EncodeStrict(Mtcute, s)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeAs(Mtcute, out)
	if err != nil || d.UserID.Known() || d.IsBot.Known() {
		t.Errorf("mtcute without a bot flag: user %v bot %v, %v; want no self info", d.UserID, d.IsBot, err)
	}
	s.IsBot = Some(true)
	for _, f := range Formats() {
		want, err1 := Encode(f, s)
		got, err2 := EncodeStrict(f, s)
		if got != want || (err1 == nil) != (err2 == nil) {
			t.Errorf("%v: EncodeStrict differs from Encode for a complete session", f)
		}
	}
}
