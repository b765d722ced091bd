package sessionstring

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/realpart"
)

// The real libraries read what tgvault exports (interop_test.go): every
// string format, for sessions that exercise test mode, bots, user ids
// above 2^32 and IPv6, is read back by the library that owns the format
// (Telethon by python3-telethon, GramJS by npm's telegram, mtcute by
// @mtcute/core, and Pyrogram's and MTKruto's by @mtcute/convert's own
// parsers, since Pyrogram and MTKruto cannot be installed here), and
// every field the library reads must be the session's. The DC table is
// checked against the tables those libraries export at run time.
//
// The npm packages live in the directory TGVAULT_NODE_MODULES names (the
// one holding node_modules; .ci/run installs them there): telegram@2.26.22,
// @mtcute/core@0.29.7, @mtcute/convert@0.29.7.

const nodeHint = "npm install telegram@2.26.22 @mtcute/core@0.29.7 @mtcute/convert@0.29.7 in a directory and set TGVAULT_NODE_MODULES to it (.ci/run does)"

// telethonPython returns a python3 that imports telethon, or skips.
func telethonPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import telethon").Run() == nil {
			return p
		}
	}
	realpart.Missing(t, "python3-telethon", "apt-get install python3-telethon")
	return ""
}

// nodeModules returns the directory holding the npm packages, or skips.
func nodeModules(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TGVAULT_NODE_MODULES")
	if dir == "" {
		realpart.Missing(t, "GramJS and mtcute (npm)", nodeHint)
	}
	for _, pkg := range []string{"telegram", "@mtcute/core", "@mtcute/convert"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			realpart.Missing(t, "npm package "+pkg, nodeHint)
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		realpart.Missing(t, "node", "apt-get install nodejs npm")
	}
	return dir
}

// readBack is what a real library read from one string.
type readBack struct {
	Error  string  `json:"error"`
	DC     int     `json:"dc"`
	Host   string  `json:"host"`
	Port   int     `json:"port"`
	Test   *bool   `json:"test"`
	UserID *int64  `json:"user_id"`
	IsBot  *bool   `json:"is_bot"`
	APIID  *int32  `json:"api_id"`
	Key    string  `json:"key"`
	Extra  *string `json:"extra"`
}

// runReader feeds lines of {"kind","s"} JSON to a reader program and
// returns one readBack per line.
func runReader(t *testing.T, cmd *exec.Cmd, in []map[string]string) []readBack {
	t.Helper()
	var stdin bytes.Buffer
	for _, l := range in {
		b, _ := json.Marshal(l)
		stdin.Write(append(b, '\n'))
	}
	cmd.Stdin = &stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd.Path, err, stderr.String())
	}
	var res []readBack
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r readBack
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %q: %v", cmd.Path, sc.Text(), err)
		}
		res = append(res, r)
	}
	if len(res) != len(in) {
		t.Fatalf("%s: %d answers for %d strings:\n%s", cmd.Path, len(res), len(in), out)
	}
	return res
}

const telethonReader = `
import sys, json
from telethon.sessions import StringSession
for line in sys.stdin:
    req = json.loads(line)
    try:
        s = StringSession(req["s"])
        print(json.dumps({"dc": s.dc_id, "host": s.server_address, "port": s.port,
                          "key": s.auth_key.key.hex() if s.auth_key else ""}))
    except Exception as e:
        print(json.dumps({"error": type(e).__name__ + ": " + str(e)}))
`

const nodeReader = `
import { createInterface } from 'node:readline'
import { StringSession } from 'telegram/sessions/index.js'
import { readStringSession } from '@mtcute/core/utils.js'
import { parsePyrogramSession, parseMtkrutoSession, parseTelethonSession, parseGramjsSession } from '@mtcute/convert'
const hex = (b) => Buffer.from(b).toString('hex')
for await (const line of createInterface({ input: process.stdin })) {
  const req = JSON.parse(line)
  let out
  try {
    switch (req.kind) {
      case 'gramjs': {
        const s = new StringSession(req.s)
        await s.load()
        out = { dc: s.dcId, host: s.serverAddress, port: s.port, key: hex(s.authKey.getKey()) }
        break
      }
      case 'mtcute': {
        const d = readStringSession(req.s)
        out = { dc: d.primaryDcs.main.id, host: d.primaryDcs.main.ipAddress, port: d.primaryDcs.main.port,
          test: !!d.primaryDcs.main.testMode, key: hex(d.authKey) }
        if (d.self) { out.user_id = d.self.userId; out.is_bot = d.self.isBot }
        break
      }
      case 'pyrogram': {
        const d = parsePyrogramSession(req.s)
        out = { dc: d.dcId, test: d.isTest, user_id: d.userId, is_bot: d.isBot, key: hex(d.authKey) }
        if (d.apiId !== undefined) out.api_id = d.apiId
        break
      }
      case 'mtkruto': {
        const d = parseMtkrutoSession(req.s)
        out = { dc: d.dcId, test: d.isTest, key: hex(d.authKey) }
        break
      }
      case 'mtcute-telethon': {
        const d = parseTelethonSession(req.s)
        out = { dc: d.dcId, host: d.ipAddress, port: d.port, key: hex(d.authKey) }
        break
      }
      case 'mtcute-gramjs': {
        const d = parseGramjsSession(req.s)
        out = { dc: d.dcId, host: d.ipAddress, port: d.port, key: hex(d.authKey) }
        break
      }
    }
  } catch (e) {
    out = { error: String(e) }
  }
  console.log(JSON.stringify(out))
}
`

// interopSessions are the sessions exported for the real libraries.
func interopSessions(t *testing.T) map[string]Session {
	t.Helper()
	key, err := NewAuthKey(testKeyBytes())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Session{
		"vectors": {DCID: 2, APIID: Some[int32](12345), TestMode: Some(false), AuthKey: key, UserID: Some[int64](123456789), IsBot: Some(false)},
		"test-bot": {DCID: 2, APIID: Some[int32](17349), TestMode: Some(true), AuthKey: key, UserID: Some[int64](5000000001), IsBot: Some(true),
			Host: Some("149.154.167.40"), Port: Some(80)},
		"ipv6": {DCID: 4, APIID: Some[int32](1), TestMode: Some(false), AuthKey: key, UserID: Some[int64](77), IsBot: Some(false),
			Host: Some("2001:67c:4e8:f004::a"), Port: Some(443)},
	}
}

// TestRealLibrariesReadExports exports each interop session in every
// string format the way `tgvault export` does (WithDefaultAddress,
// EncodeStrict) and has the real libraries read each string back.
func TestRealLibrariesReadExports(t *testing.T) {
	py := telethonPython(t)
	dir := nodeModules(t)
	type probe struct {
		name, kind string
		s          string
		want       Session
	}
	var tele, node []probe
	for name, s := range interopSessions(t) {
		s = s.WithDefaultAddress()
		for _, f := range []Format{Telethon, GramJS, Mtcute, Pyrogram, MTKruto} {
			str, err := EncodeStrict(f, s)
			if err != nil {
				t.Fatalf("%s as %v: %v", name, f, err)
			}
			p := probe{name: name + "/" + f.String(), s: str, want: s}
			switch f {
			case Telethon:
				tele = append(tele, p)
				node = append(node, probe{p.name + " read by GramJS", "gramjs", str, s}, probe{p.name + " read by mtcute", "mtcute-telethon", str, s})
			case GramJS:
				node = append(node, probe{p.name, "gramjs", str, s}, probe{p.name + " read by mtcute", "mtcute-gramjs", str, s})
			case Mtcute:
				node = append(node, probe{p.name, "mtcute", str, s})
			case Pyrogram:
				node = append(node, probe{p.name + " read by mtcute", "pyrogram", str, s})
			case MTKruto:
				if !strings.Contains(name, "vectors") {
					// mtcute's MTKruto parser knows the dc-and-key form
					// only; a session with the trailer is checked by
					// TestCrossFormat against mtcute's own output.
					continue
				}
				s2 := s
				s2.Extra.MTKruto = &MTKrutoExtra{}
				str, err = EncodeStrict(MTKruto, s2)
				if err != nil {
					t.Fatal(err)
				}
				node = append(node, probe{p.name + " (no trailer) read by mtcute", "mtkruto", str, s})
			}
		}
	}
	check := func(p probe, r readBack) {
		t.Helper()
		if r.Error != "" {
			t.Errorf("%s: the library refused it: %s", p.name, r.Error)
			return
		}
		w := p.want
		if r.DC != w.DCID || r.Key != hex.EncodeToString(testKeyBytes()) {
			t.Errorf("%s: dc %d key %.16s…, want dc %d and the key", p.name, r.DC, r.Key, w.DCID)
		}
		if r.Host != "" {
			got, err1 := netip.ParseAddr(r.Host)
			want, err2 := netip.ParseAddr(w.Host.Or(""))
			if err1 != nil || err2 != nil || got != want || r.Port != w.Port.Or(0) {
				t.Errorf("%s: address %s:%d, want %s:%d", p.name, r.Host, r.Port, w.Host.Or(""), w.Port.Or(0))
			}
		}
		if r.Test != nil && *r.Test != w.TestMode.Or(false) {
			t.Errorf("%s: test mode %v, want %v", p.name, *r.Test, w.TestMode)
		}
		if r.UserID != nil && *r.UserID != w.UserID.Or(0) {
			t.Errorf("%s: user id %d, want %v", p.name, *r.UserID, w.UserID)
		}
		if r.IsBot != nil && *r.IsBot != w.IsBot.Or(false) {
			t.Errorf("%s: is_bot %v, want %v", p.name, *r.IsBot, w.IsBot)
		}
		if r.APIID != nil && *r.APIID != w.APIID.Or(0) {
			t.Errorf("%s: api_id %d, want %v", p.name, *r.APIID, w.APIID)
		}
	}
	in := func(ps []probe) []map[string]string {
		var out []map[string]string
		for _, p := range ps {
			out = append(out, map[string]string{"kind": p.kind, "s": p.s})
		}
		return out
	}
	for i, r := range runReader(t, exec.Command(py, "-c", telethonReader), in(tele)) {
		check(tele[i], r)
	}
	cmd := exec.Command("node", "--input-type=module", "-e", nodeReader)
	cmd.Dir = dir
	for i, r := range runReader(t, cmd, in(node)) {
		check(node[i], r)
	}
	t.Logf("%d strings read back by Telethon, %d by GramJS and mtcute", len(tele), len(node))

	// Why damaged strings are refused: the real Telethon takes a GramJS
	// string whose host length is off by one for a session, with an
	// "IPv6 address" made of the host's text.
	gram := readVector(t, "gramjs/string_session.txt")
	bad := "1AgAP" + gram[5:]
	r := runReader(t, exec.Command(py, "-c", telethonReader), []map[string]string{{"s": bad}})[0]
	if r.Error != "" || !strings.Contains(r.Host, "3134:392e") {
		t.Errorf("Telethon's reading of the damaged GramJS string: %+v", r)
	}
	if _, err := Decode(bad); err == nil || !strings.Contains(err.Error(), "gramjs") {
		t.Errorf("Decode of the damaged GramJS string: %v, want refused naming gramjs", err)
	}
}

const nodeTables = `
import { DC_MAPPING_PROD, DC_MAPPING_TEST } from '@mtcute/convert'
import { defaultProductionDc, defaultProductionIpv6Dc, defaultTestDc, defaultTestIpv6Dc } from '@mtcute/core/utils.js'
const out = []
for (const [m, test] of [[DC_MAPPING_PROD, false], [DC_MAPPING_TEST, true]])
  for (const dc of Object.values(m)) for (const [kind, o] of Object.entries(dc))
    out.push({ host: o.ipAddress, dc: o.id, test, media: kind === 'media' && o.ipAddress !== dc.main.ipAddress, src: 'mtcute-convert' })
for (const [d, test] of [[defaultProductionDc, false], [defaultProductionIpv6Dc, false], [defaultTestDc, true], [defaultTestIpv6Dc, true]])
  for (const [kind, o] of Object.entries(d))
    out.push({ host: o.ipAddress, dc: o.id, test, media: kind === 'media' && o.ipAddress !== d.main.ipAddress, src: 'mtcute' })
console.log(JSON.stringify(out))
`

// TestDCTableHasRealLibrariesDCs checks the one DC table against the
// tables the real libraries hold at run time: mtcute's (core defaults and
// convert's mappings) and Telethon's defaults. gotd's is checked in
// package mtproto (TestDCTableHasGotdDCs).
func TestDCTableHasRealLibrariesDCs(t *testing.T) {
	py := telethonPython(t)
	dir := nodeModules(t)
	type entry struct {
		Host  string `json:"host"`
		DC    int    `json:"dc"`
		Test  bool   `json:"test"`
		Media bool   `json:"media"`
		Src   string `json:"src"`
	}
	cmd := exec.Command("node", "--input-type=module", "-e", nodeTables)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var es []entry
	if err := json.Unmarshal(out, &es); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(py, "-c", `
import json
from telethon.client.telegrambaseclient import DEFAULT_IPV4_IP, DEFAULT_IPV6_IP, DEFAULT_DC_ID
print(json.dumps([{"host": DEFAULT_IPV4_IP, "dc": DEFAULT_DC_ID, "src": "Telethon"}, {"host": DEFAULT_IPV6_IP, "dc": DEFAULT_DC_ID, "src": "Telethon"}]))`).Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var tel []entry
	if err := json.Unmarshal(out, &tel); err != nil {
		t.Fatal(err)
	}
	es = append(es, tel...)
	if len(es) < 20 {
		t.Fatalf("only %d addresses from the libraries", len(es))
	}
	for _, e := range es {
		a, ok := LookupDCAddress(e.Host)
		if !ok {
			t.Errorf("%s's DC %d address %s (test %v) is not in the table", e.Src, e.DC, e.Host, e.Test)
			continue
		}
		if a.DC != e.DC || a.Test != e.Test || e.Media && !a.Media {
			t.Errorf("%s: table says dc %d test %v media %v; %s says dc %d test %v media %v", e.Host, a.DC, a.Test, a.Media, e.Src, e.DC, e.Test, e.Media)
		}
	}
}
