package devserver

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/internal/realpart"
	"github.com/tgvault/tgvault/mtproto/tlschema"
)

// TestMtcuteReadsAnswers: mtcute 0.29.7's own TL reader (layer 225; the
// client itself runs in TestClientsOtherDCs/mtcute) reads the
// dev server's answers in layer 225 whole and finds what they say; gotd's
// layer-229 bytes of the same user it cannot read (the reason to
// transcode).
func TestMtcuteReadsAnswers(t *testing.T) {
	t.Parallel()
	hint := "npm install @mtcute/core@0.29.7 in a directory and set TGVAULT_NODE_MODULES to it (.ci/run does)"
	dir := os.Getenv("TGVAULT_NODE_MODULES")
	if dir == "" {
		realpart.Missing(t, "mtcute (npm @mtcute/core)", hint)
	}
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "@mtcute", "core", "package.json")); err != nil {
		realpart.Missing(t, "npm package @mtcute/core", hint)
	}
	if _, err := exec.LookPath("node"); err != nil {
		realpart.Missing(t, "node", "apt-get install nodejs npm")
	}
	enc := func(e tdbin.Encoder) []byte {
		var b tdbin.Buffer
		if err := e.Encode(&b); err != nil {
			t.Fatal(err)
		}
		return b.Buf
	}
	user := &User{ID: 1000001, AccessHash: 42, FirstName: "Ann", Username: "ann", Phone: "999", Photo: &Photo{ID: 77, DC: 4}}
	msg := &Message{ID: 3, Peer: ServiceUserID, Date: 1700000000, Text: "Login code: 12345", Pts: 9}
	cfg := &tdtg.Config{ThisDC: 2, DCOptions: []tdtg.DCOption{{ID: 2, IPAddress: "127.0.0.1", Port: 4430}, {ID: 4, IPAddress: "127.0.0.1", Port: 4431}}}
	type item struct {
		Name   string `json:"name"`
		Hex    string `json:"hex"`
		Vector bool   `json:"vector"`
	}
	var items []item
	add := func(name string, method uint32, raw []byte, transcoded bool) {
		typ := tlschema.Type{Kind: tlschema.Object}
		if method != 0 {
			typ = resultType(method)
		}
		if transcoded {
			var err error
			if raw, err = transcode(raw, typ, tdtg.Layer, 225); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		items = append(items, item{Name: name, Hex: hex.EncodeToString(raw), Vector: typ.Kind == tlschema.Vector})
	}
	usersRaw := enc(vector{tgUser(user, true)})
	add("config", tdtg.HelpGetConfigRequestTypeID, enc(cfg), true)
	add("users", tdtg.UsersGetUsersRequestTypeID, usersRaw, true)
	add("users229", tdtg.UsersGetUsersRequestTypeID, usersRaw, false)
	add("update", 0, enc(shortMessage(msg)), true)
	add("history", tdtg.MessagesGetHistoryRequestTypeID, enc(&tdtg.MessagesMessages{Messages: []tdtg.MessageClass{tgMessage(user.ID, msg)}, Users: []tdtg.UserClass{tgUser(user, true)}}), true)
	add("exported", tdtg.AuthExportAuthorizationRequestTypeID, enc(&tdtg.AuthExportedAuthorization{ID: user.ID, Bytes: []byte{1, 2, 3}}), true)
	in, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "node", filepath.Join("testdata", "mtcute_read.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var raw map[string]any
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	got := map[string]map[string]any{}
	for name, v := range raw {
		if l, ok := v.([]any); ok && len(l) == 1 { // a vector of one
			v = l[0]
		}
		m, _ := v.(map[string]any)
		if e, ok := m["error"]; ok && name != "users229" {
			t.Errorf("mtcute cannot read %s: %v", name, e)
		}
		got[name] = m
	}
	photo, _ := got["users"]["photo"].(map[string]any)
	if u := got["users"]; u["_"] != "user" || u["self"] != true || u["firstName"] != "Ann" || photo["dcId"] != float64(4) {
		t.Errorf("user as mtcute reads it: %v", u)
	}
	if _, ok := got["users229"]["error"]; !ok {
		t.Error("mtcute read gotd's layer-229 user: the test shows nothing")
	}
	if c := got["config"]; c["_"] != "config" || c["thisDc"] != float64(2) || len(c["dcOptions"].([]any)) != 2 {
		t.Errorf("config as mtcute reads it: %v", c)
	}
	if u := got["update"]; u["_"] != "updateShortMessage" || u["message"] != msg.Text || u["pts"] != float64(9) || u["userId"] != float64(ServiceUserID) {
		t.Errorf("updateShortMessage as mtcute reads it: %v", u)
	}
	if h := got["history"]; h["_"] != "messages.messages" || len(h["messages"].([]any)) != 1 {
		t.Errorf("history as mtcute reads it: %v", h)
	}
	if e := got["exported"]; e["_"] != "auth.exportedAuthorization" || e["bytes"] != "010203" {
		t.Errorf("exported authorization as mtcute reads it: %v", e)
	}
}
