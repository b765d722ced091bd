package sessionstring

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const vectorDir = "../testdata/vectors"

// testKey is the vectors' key: bytes 0..255.
func testKeyBytes() []byte {
	b := make([]byte, AuthKeySize)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func readVector(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(b, []byte("\n")))
}

type vectorCase struct {
	file      string
	format    Format
	ambiguous bool
	dc        int
	api       Opt[int32]
	test      Opt[bool]
	user      Opt[int64]
	bot       Opt[bool]
	host      Opt[string]
	port      Opt[int]
	check     func(t *testing.T, s Session)
}

var (
	no32  = None[int32]()
	noB   = None[bool]()
	no64  = None[int64]()
	noS   = None[string]()
	noI   = None[int]()
	fals  = Some(false)
	api   = Some[int32](12345)
	uid   = Some[int64](123456789)
	prodH = Some("149.154.167.51")
	p443  = Some(443)
)

var vectorCases = []vectorCase{
	{file: "pyrogram/session_string_v3.txt", format: Pyrogram, dc: 2, api: api, test: fals, user: uid, bot: fals, host: noS, port: noI,
		check: layout(PyrogramCurrent)},
	{file: "pyrogram/session_string_old32.txt", format: Pyrogram, dc: 2, api: no32, test: fals, user: uid, bot: fals, host: noS, port: noI,
		check: layout(PyrogramOld32)},
	{file: "pyrogram/session_string_old64.txt", format: Pyrogram, dc: 2, api: no32, test: fals, user: Some[int64](5000000001), bot: fals, host: noS, port: noI,
		check: layout(PyrogramOld64)},
	{file: "mtcute/pyrogram_from_mtcute.txt", format: Pyrogram, dc: 2, api: api, test: fals, user: uid, bot: fals, host: noS, port: noI,
		check: layout(PyrogramCurrent)},
	{file: "mtcute/pyrogram_from_mtcute_no_api_id.txt", format: Pyrogram, dc: 2, api: no32, test: fals, user: uid, bot: fals, host: noS, port: noI,
		check: layout(PyrogramOld64)},
	{file: "telethon/string_session.txt", format: Telethon, dc: 2, api: no32, test: fals, user: no64, bot: noB, host: prodH, port: p443},
	{file: "telethon/string_session_ipv6.txt", format: Telethon, dc: 2, api: no32, test: fals, user: no64, bot: noB, host: Some("2001:67c:4e8:f002::a"), port: p443},
	{file: "mtcute/telethon_from_mtcute.txt", format: Telethon, dc: 2, api: no32, test: fals, user: no64, bot: noB, host: prodH, port: p443},
	{file: "gramjs/string_session.txt", format: GramJS, dc: 2, api: no32, test: fals, user: no64, bot: noB, host: prodH, port: p443},
	{file: "mtcute/gramjs_from_mtcute.txt", format: GramJS, dc: 2, api: no32, test: fals, user: no64, bot: noB, host: prodH, port: p443},
	{file: "gramjs/string_session_dc5.txt", format: GramJS, dc: 5, api: no32, test: fals, user: no64, bot: noB, host: Some("91.108.56.130"), port: p443},
	{file: "mtcute/string_session_v3.txt", format: Mtcute, dc: 2, api: no32, test: fals, user: uid, bot: fals, host: prodH, port: p443,
		check: func(t *testing.T, s Session) {
			if m := s.Extra.Mtcute; m == nil || m.Media != nil || m.PrimaryVersion != 2 || m.PrimaryFlags != 0 {
				t.Errorf("Extra.Mtcute = %+v", m)
			}
		}},
	{file: "mtcute/string_session_v3_media_noself.txt", format: Mtcute, dc: 2, api: no32, test: fals, user: no64, bot: noB, host: prodH, port: p443,
		check: func(t *testing.T, s Session) {
			want := MtcuteDC{Version: 2, DCID: 2, Flags: 2, Host: "149.154.167.151", Port: 443}
			if m := s.Extra.Mtcute; m == nil || m.Media == nil || *m.Media != want {
				t.Errorf("Extra.Mtcute = %+v, want media %+v", m, want)
			}
		}},
	{file: "mtcute/mtkruto_from_mtcute.txt", format: MTKruto, dc: 2, api: no32, test: fals, user: no64, bot: noB, host: noS, port: noI,
		check: func(t *testing.T, s Session) {
			if m := s.Extra.MTKruto; m == nil || m.Trailer {
				t.Errorf("Extra.MTKruto = %+v, want no trailer", m)
			}
		}},
	{file: "gotd/session_from_telethon.json", format: Gotd, dc: 2, api: no32, test: fals, user: no64, bot: noB, host: prodH, port: p443,
		check: func(t *testing.T, s Session) {
			if g := s.Extra.Gotd; g == nil || g.Addr != "149.154.167.51:443" || g.Salt != 0 || g.Config != nil {
				t.Errorf("Extra.Gotd = %+v", g)
			}
		}},
	{file: "gotd/session_from_tdata.json", format: Gotd, dc: 2, api: no32, test: fals, user: no64, bot: noB, host: Some("149.154.167.41"), port: noI,
		check: func(t *testing.T, s Session) {
			if g := s.Extra.Gotd; g == nil || g.Addr != "149.154.167.41" || !strings.Contains(string(g.Config), `"ThisDC":2`) {
				t.Errorf("Extra.Gotd = %+v", g)
			}
		}},
}

func layout(l PyrogramLayout) func(*testing.T, Session) {
	return func(t *testing.T, s Session) {
		if s.Extra.PyrogramLayout != l {
			t.Errorf("PyrogramLayout = %d, want %d", s.Extra.PyrogramLayout, l)
		}
	}
}

func TestVectorsCovered(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, c := range vectorCases {
		covered[c.file] = true
	}
	for _, pat := range []string{"pyrogram/*.txt", "telethon/*.txt", "gramjs/*.txt", "mtcute/*.txt", "gotd/session_*.json"} {
		files, err := filepath.Glob(filepath.Join(vectorDir, pat))
		if err != nil || len(files) == 0 {
			t.Fatalf("glob %s: %v (%d files)", pat, err, len(files))
		}
		for _, f := range files {
			rel, _ := filepath.Rel(vectorDir, f)
			if !covered[filepath.ToSlash(rel)] {
				t.Errorf("vector %s has no test case", rel)
			}
		}
	}
}

func checkSession(t *testing.T, c vectorCase, s Session) {
	t.Helper()
	if s.DCID != c.dc {
		t.Errorf("DCID = %d, want %d", s.DCID, c.dc)
	}
	if s.APIID != c.api {
		t.Errorf("APIID = %v, want %v", s.APIID, c.api)
	}
	if s.TestMode != c.test {
		t.Errorf("TestMode = %v, want %v", s.TestMode, c.test)
	}
	if s.UserID != c.user {
		t.Errorf("UserID = %v, want %v", s.UserID, c.user)
	}
	if s.IsBot != c.bot {
		t.Errorf("IsBot = %v, want %v", s.IsBot, c.bot)
	}
	if s.Host != c.host {
		t.Errorf("Host = %v, want %v", s.Host, c.host)
	}
	if s.Port != c.port {
		t.Errorf("Port = %v, want %v", s.Port, c.port)
	}
	if !bytes.Equal(s.AuthKey.Bytes(), testKeyBytes()) {
		t.Error("auth key is not bytes 0..255")
	}
	if got := s.AuthKey.ID().String(); got != "32d1586ea457dfc8" {
		t.Errorf("key id = %s", got)
	}
	if c.check != nil {
		c.check(t, s)
	}
}

func TestVectors(t *testing.T) {
	t.Parallel()
	for _, c := range vectorCases {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			in := readVector(t, c.file)

			d, err := Decode(in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d.Format != c.format {
				t.Errorf("Decode format = %v, want %v", d.Format, c.format)
			}
			if d.Ambiguous != c.ambiguous {
				t.Errorf("Ambiguous = %v (alternatives %v), want %v", d.Ambiguous, d.Alternatives, c.ambiguous)
			}
			checkSession(t, c, d.Session)

			s, err := DecodeAs(c.format, in)
			if err != nil {
				t.Fatalf("DecodeAs: %v", err)
			}
			checkSession(t, c, s)

			out, err := Encode(c.format, s)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if out != in {
				t.Errorf("re-encoded differs:\n got %s\nwant %s", out, in)
			}
		})
	}
}

// TestCrossFormat checks the conversions docs/formats.md §7 reports as run.
func TestCrossFormat(t *testing.T) {
	t.Parallel()
	decode := func(f Format, file string) Session {
		t.Helper()
		s, err := DecodeAs(f, readVector(t, file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return s
	}
	pyro := decode(Pyrogram, "pyrogram/session_string_v3.txt")
	mtc := decode(Mtcute, "mtcute/string_session_v3.txt")
	tele := decode(Telethon, "telethon/string_session.txt")

	withAPI := mtc
	withAPI.APIID = Some[int32](12345)
	old64 := mtc
	old64.Extra = Extra{PyrogramLayout: PyrogramOld64}

	cases := []struct {
		name string
		f    Format
		s    Session
		want string
	}{
		{"pyrogram to telethon", Telethon, pyro.WithDefaultAddress(), "telethon/string_session.txt"},
		{"pyrogram to gramjs", GramJS, pyro.WithDefaultAddress(), "gramjs/string_session.txt"},
		{"mtcute to pyrogram", Pyrogram, withAPI, "mtcute/pyrogram_from_mtcute.txt"},
		{"mtcute to pyrogram without api_id", Pyrogram, old64, "mtcute/pyrogram_from_mtcute_no_api_id.txt"},
		{"mtcute to telethon", Telethon, mtc, "mtcute/telethon_from_mtcute.txt"},
		{"mtcute to gramjs", GramJS, mtc, "mtcute/gramjs_from_mtcute.txt"},
		{"mtcute to mtkruto", MTKruto, mtc, "mtcute/mtkruto_from_mtcute.txt"},
		{"telethon to gotd", Gotd, tele, "gotd/session_from_telethon.json"},
		{"pyrogram to mtcute", Mtcute, pyro.WithDefaultAddress(), "mtcute/string_session_v3.txt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Encode(c.f, c.s)
			if err != nil {
				t.Fatal(err)
			}
			if want := readVector(t, c.want); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}
