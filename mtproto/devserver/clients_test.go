package devserver_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	tdcrypto "github.com/gotd/td/crypto"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
)

// TestClientsOtherDCs: the real Telethon 1.25.1 (layer 144), GramJS
// 2.26.22 (layer 198) and mtcute 0.29.7 (layer 225) on a seeded account of a three-DC server
// (testdata/*_client.*): get_me, a username resolved, a profile photo that
// lives on DC 4 downloaded (the library's own path: help.getConfig's
// dc_options, a new key on DC 4, auth.exportAuthorization and
// auth.importAuthorization), two pushed messages (a user's and 777000's)
// seen as events, the dialogs and 777000's history. Every answer went out
// in the client's layer; the counters show one key exchange on DC 4, none
// at home, and no new authorization.
func TestClientsOtherDCs(t *testing.T) {
	t.Parallel()
	for _, client := range []struct {
		name string
		opts devserver.Options
		cmd  func(t *testing.T) *exec.Cmd
	}{
		{"telethon", devserver.Options{DC: 2, OtherDCs: []int{1, 4}}, func(t *testing.T) *exec.Cmd {
			return exec.CommandContext(t.Context(), mttest.TelethonPython(t), filepath.Join("testdata", "telethon_client.py"))
		}},
		// GramJS dials port 80 (home) and 443 (other DCs) whatever it is
		// told: each DC gets an address of its own, which its socket maps
		// to the DC's port (testdata/gramjs_client.js).
		{"gramjs", devserver.Options{DC: 2, OtherDCs: []int{1, 4}, Addr: "127.0.0.2:0", DCAddrs: map[int]string{1: "127.0.0.11:0", 4: "127.0.0.4:0"}}, func(t *testing.T) *exec.Cmd {
			if runtime.GOOS != "linux" {
				t.Skip("the test gives each DC an address of 127/8, which only Linux routes to loopback")
			}
			dir := mttest.NodeModules(t, "telegram")
			cmd := exec.CommandContext(t.Context(), "node", filepath.Join("testdata", "gramjs_client.js"))
			cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
			return cmd
		}},
		// mtcute's session string carries the address it dials (the
		// test's DEV_MTCUTE_SESSION).
		{"mtcute", devserver.Options{DC: 2, OtherDCs: []int{1, 4}}, func(t *testing.T) *exec.Cmd {
			dir := mttest.NodeModules(t, "@mtcute/node")
			cmd := exec.CommandContext(t.Context(), "node", filepath.Join("testdata", "mtcute_client.cjs"))
			cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
			return cmd
		}},
	} {
		t.Run(client.name, func(t *testing.T) {
			t.Parallel()
			testClientOtherDCs(t, client.opts, client.cmd(t))
		})
	}
}

func testClientOtherDCs(t *testing.T, opts devserver.Options, cmd *exec.Cmd) {
	srv := startServer(t, opts)
	seeds, err := srv.SeedAccounts(2)
	if err != nil {
		t.Fatal(err)
	}
	me, friend := seeds[0], seeds[1]
	photo := []byte(strings.Repeat("a jpeg, or nearly ", 20_000)) // 360 KB: several parts
	if _, err := srv.SetProfilePhoto(friend.UserID, 4, photo); err != nil {
		t.Fatal(err)
	}
	photoPath := filepath.Join(t.TempDir(), "photo")
	if err := os.WriteFile(photoPath, photo, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(srv.Addr())
	portN, _ := strconv.Atoi(port)
	mtcuteSession, err := sessionstring.Encode(sessionstring.Mtcute, sessionstring.Session{
		DCID: 2, AuthKey: me.Key, UserID: sessionstring.Some(me.UserID), IsBot: sessionstring.Some(false),
		TestMode: sessionstring.Some(false), Host: sessionstring.Some(host), Port: sessionstring.Some(portN),
	})
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{}
	for _, dc := range srv.DCs() {
		addr, _ := srv.DCAddr(dc)
		h, p, _ := net.SplitHostPort(addr)
		ports[h], _ = strconv.Atoi(p)
	}
	portsJSON, _ := json.Marshal(ports)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	pub := srv.PublicKey()
	cmd.Env = append(cmd.Env,
		"DEV_PUBKEY="+srv.PublicKeyPath(), "DEV_FINGERPRINT="+strconv.FormatInt(tdcrypto.RSAFingerprint(pub), 10),
		"DEV_MODULUS="+pub.N.String(), "DEV_DC=2", "DEV_HOST="+host, "DEV_PORT="+port, "DEV_PORTS="+string(portsJSON),
		"DEV_KEY="+hex.EncodeToString(me.Key.Bytes()), "DEV_MTCUTE_SESSION="+mtcuteSession,
		"DEV_FRIEND=user"+strconv.FormatInt(friend.UserID, 10), "DEV_PHOTO="+photoPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	// Lines before "ready" and between it and the JSON result are the
	// library's own logging.
	ready := false
	for !ready && sc.Scan() {
		ready = sc.Text() == "ready"
	}
	if !ready {
		_ = cmd.Wait()
		t.Fatalf("client: %q\n%s", sc.Text(), stderr.String())
	}
	if n, err := srv.SendMessage(t.Context(), friend.UserID, me.UserID, "hi from a friend"); err != nil || n != 1 {
		t.Errorf("SendMessage: %d connections, %v", n, err)
	}
	if n, err := srv.ServiceMessage(t.Context(), me.UserID, "Login code: 54321"); err != nil || n != 1 {
		t.Errorf("ServiceMessage: %d connections, %v", n, err)
	}
	var line string
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "{") {
			line = sc.Text()
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client: %v\n%s", err, stderr.String())
	}
	var out struct {
		Me struct {
			ID       int64
			Username string
			Self     bool
		}
		Friend struct {
			ID int64
			DC int
		}
		PhotoLen int  `json:"photo_len"`
		PhotoOK  bool `json:"photo_ok"`
		Updates  []struct {
			From int64
			Text string
		}
		Dialogs        []int64
		ServiceHistory []string `json:"service_history"`
	}
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("client's output %q: %v\n%s", line, err, stderr.String())
	}
	if out.Me.ID != me.UserID || !out.Me.Self || out.Me.Username != "user"+strconv.FormatInt(me.UserID, 10) {
		t.Errorf("get_me: %+v", out.Me)
	}
	if out.Friend.ID != friend.UserID || out.Friend.DC != 4 {
		t.Errorf("resolved friend: %+v; want %d with a photo on DC 4", out.Friend, friend.UserID)
	}
	if !out.PhotoOK {
		t.Errorf("profile photo: %d bytes, not the %d set", out.PhotoLen, len(photo))
	}
	if len(out.Updates) != 2 || out.Updates[0].From != friend.UserID || out.Updates[0].Text != "hi from a friend" ||
		out.Updates[1].From != devserver.ServiceUserID || out.Updates[1].Text != "Login code: 54321" {
		t.Errorf("pushed messages as events: %+v", out.Updates)
	}
	if !slices.Contains(out.Dialogs, devserver.ServiceUserID) || !slices.Contains(out.Dialogs, friend.UserID) {
		t.Errorf("dialogs %v lack 777000 or the friend", out.Dialogs)
	}
	if !slices.Equal(out.ServiceHistory, []string{"Login code: 54321"}) {
		t.Errorf("777000's history: %q", out.ServiceHistory)
	}
	st := srv.Stats()
	if st.DCs[2].KeyExchanges != 0 || st.DCs[4].KeyExchanges != 1 || st.DCs[1].KeyExchanges != 0 {
		t.Errorf("key exchanges per DC %+v; want 0 at home, 1 on DC 4", st.DCs)
	}
	if st.Authorizations != 0 || st.DCs[2].Exports != 1 || st.DCs[4].Imports != 1 || st.DuplicateAddrs != 0 {
		t.Errorf("authorizations %d, per DC %+v, duplicates from elsewhere %d; want 0, 1 export at home, 1 import on DC 4, 0", st.Authorizations, st.DCs, st.DuplicateAddrs)
	}
	if t.Failed() {
		t.Logf("client's stderr:\n%s", stderr.String())
	}
}
