package relay

import (
	"bufio"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tdcrypto "github.com/gotd/td/crypto"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
)

// clientRun is what a real client library did through the relay (the
// JSON line of testdata/*_relay.*).
type clientRun struct {
	Me struct {
		ID   int64
		Self bool
	}
	Friend struct {
		ID int64
		DC int
	}
	PhotoOK bool `json:"photo_ok"`
	Updates []struct {
		From int64
		Text string
	}
	Dialogs        []int64
	ServiceHistory clientRefusal `json:"service_history"`
	LogOut         clientRefusal `json:"log_out"`
}

type clientRefusal struct {
	Code    int
	Message string
}

// relayClientCase is one real library's run through the relay: how to
// start it, given the session minted for it and the test's files.
type relayClientCase struct {
	format sessionstring.Format
	socks  bool // the client goes through the SOCKS5 front
	policy Policy
	// cmd starts the library with env (RELAY_* variables) added.
	cmd func(t *testing.T, env []string) *exec.Cmd
}

// clientTimeout bounds a real client's whole run in runRelayClient (they
// take 5-30 s on a loaded machine).
const clientTimeout = 5 * time.Minute

// runRelayClient runs a real client library, unmodified, holding only a
// relay session string in its own format, against a dev server of three
// DCs through the relay: get_me, a username resolved, a profile photo
// that lives on DC 4 downloaded (the library's own path through the relay:
// the rewritten dc_options, a key exchange with the relay's DC 4, the
// relay's export token, the import), a friend's pushed message seen as an
// event and 777000's login code not, no 777000 dialog, and
// TGVAULT_METHOD_REFUSED (403) for a read of 777000's history and for
// auth.logOut. The dev server saw no key exchange at home, one on DC 4
// (the account's own key there, made once by the relay), no new
// authorization, no key in two places, only the account's stored device;
// the relay key means nothing to the dev server.
func runRelayClient(t *testing.T, tc relayClientCase) {
	const mediaDC = 4
	srv := mttest.StartServer(t, devserver.Options{OtherDCs: []int{1, mediaDC}})
	f := newRelayFixtureOn(t, srv)
	for _, dc := range []int{1, mediaDC} {
		addr, ok := srv.DCAddr(dc)
		if !ok {
			t.Fatalf("dev server has no DC %d", dc)
		}
		f.acc.addrs[dc] = addr
	}
	friends, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	friend := friends[0]
	photo := []byte(strings.Repeat("a jpeg, or nearly ", 20_000)) // several parts
	if _, err := srv.SetProfilePhoto(friend.UserID, mediaDC, photo); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	photoPath := filepath.Join(dir, "photo")
	pubPath := filepath.Join(dir, "relay.pem")
	pub := f.relay.PublicKey()
	if err := os.WriteFile(photoPath, photo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)}), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice", Policy: tc.policy})
	if err != nil {
		t.Fatal(err)
	}
	sess := m.SessionString()
	if tc.socks {
		if sess, err = m.SOCKSSessionString(); err != nil {
			t.Fatal(err)
		}
	}
	str, err := sessionstring.Encode(tc.format, sess)
	if err != nil {
		t.Fatal(err)
	}
	cmd := tc.cmd(t, []string{
		"RELAY_PUBKEY=" + pubPath, "RELAY_RSA_N=" + pub.N.String(), "RELAY_RSA_FP=" + strconv.FormatInt(tdcrypto.RSAFingerprint(pub), 10),
		"RELAY_SESSION=" + str, "RELAY_SOCKS5=" + m.SOCKS5, "RELAY_PHOTO=" + photoPath,
		"RELAY_FRIEND=user" + strconv.FormatInt(friend.UserID, 10), "RELAY_FRIEND_ID=" + strconv.FormatInt(friend.UserID, 10),
	})
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A client that hangs or loops is killed, and the test says what it
	// called.
	watchdog := time.AfterFunc(clientTimeout, func() { _ = cmd.Process.Kill() })
	defer watchdog.Stop()
	defer func() {
		if t.Failed() {
			t.Logf("calls relayed: %v", f.relay.Metrics().Calls)
		}
	}()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	var before []string // what a library logs to stdout (GramJS's banner)
	for sc.Scan() && sc.Text() != "ready" {
		before = append(before, sc.Text())
	}
	if sc.Text() != "ready" {
		_ = cmd.Wait()
		t.Fatalf("client: %q\n%s", before, stderr.String())
	}
	// The login code first: withheld, it must not arrive before (or
	// after) the friend's message.
	if n, err := srv.ServiceMessage(t.Context(), f.seed.UserID, "Login code: 54321"); err != nil || n < 1 {
		t.Errorf("ServiceMessage: %d connections, %v", n, err)
	}
	if n, err := srv.SendMessage(t.Context(), friend.UserID, f.seed.UserID, "hi from a friend"); err != nil || n < 1 {
		t.Errorf("SendMessage: %d connections, %v", n, err)
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
	var out clientRun
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("client's output %q: %v\n%s", line, err, stderr.String())
	}
	if out.Me.ID != f.seed.UserID || !out.Me.Self {
		t.Errorf("get_me: %+v", out.Me)
	}
	if out.Friend.ID != friend.UserID || out.Friend.DC != mediaDC {
		t.Errorf("resolved friend: %+v; want %d with a photo on DC 4", out.Friend, friend.UserID)
	}
	if !out.PhotoOK {
		t.Error("the profile photo downloaded is not the one set")
	}
	if len(out.Updates) != 1 || out.Updates[0].From != friend.UserID || out.Updates[0].Text != "hi from a friend" {
		t.Errorf("pushed messages as events: %+v; want only the friend's", out.Updates)
	}
	if slices.Contains(out.Dialogs, ServiceUserID) || !slices.Contains(out.Dialogs, friend.UserID) {
		t.Errorf("dialogs %v: want the friend's and not 777000's", out.Dialogs)
	}
	want := clientRefusal{RefusedCode, RefusedMessage}
	if out.ServiceHistory != want || out.LogOut != want {
		t.Errorf("777000's history: %+v, auth.logOut: %+v; want both %+v", out.ServiceHistory, out.LogOut, want)
	}
	st := srv.Stats()
	if st.DCs[f.seed.DC].KeyExchanges != 0 || st.DCs[mediaDC].KeyExchanges != 1 || st.DCs[1].KeyExchanges != 0 {
		t.Errorf("key exchanges per DC %+v; want 0 at home, 1 on DC 4", st.DCs)
	}
	if st.Authorizations != 0 || st.DCs[mediaDC].Imports != 1 || st.DuplicateAddrs != 0 {
		t.Errorf("authorizations %d, per DC %+v, duplicates from elsewhere %d; want 0, 1 import on DC 4, 0", st.Authorizations, st.DCs, st.DuplicateAddrs)
	}
	for _, c := range srv.Clients(f.seed.Key.ID()) {
		if c.DeviceModel != testDevice.DeviceModel || c.APIID != testDevice.APIID {
			t.Errorf("dev server saw device %+v, want only the account's", c)
		}
	}
	if err := keyFails(t, f.seed.DC, m.Key, srv.Addr()); err != nil {
		t.Errorf("the relay key at the dev server: %v", err)
	}
	if t.Failed() {
		t.Logf("client's stderr:\n%s", stderr.String())
	}
}

// TestRelayTelethon: the real Telethon 1.25.1 (layer 144) through the
// relay (testdata/telethon_relay.py; runRelayClient says what it does).
func TestRelayTelethon(t *testing.T) {
	t.Parallel()
	py := mttest.TelethonPython(t)
	runRelayClient(t, relayClientCase{format: sessionstring.Telethon, cmd: func(t *testing.T, env []string) *exec.Cmd {
		cmd := exec.CommandContext(t.Context(), py, filepath.Join("testdata", "telethon_relay.py"))
		cmd.Env = append(os.Environ(), env...)
		return cmd
	}})
}

// TestRelayGramJS: the real GramJS 2.26.22 (layer 198) through the relay
// and its SOCKS5 front (testdata/gramjs_relay.cjs; runRelayClient says
// what it does).
func TestRelayGramJS(t *testing.T) {
	t.Parallel()
	dir := mttest.NodeModules(t, "telegram")
	runRelayClient(t, relayClientCase{format: sessionstring.GramJS, socks: true, cmd: func(t *testing.T, env []string) *exec.Cmd {
		cmd := exec.CommandContext(t.Context(), "node", filepath.Join("testdata", "gramjs_relay.cjs"))
		cmd.Env = append(os.Environ(), append(env, "NODE_PATH="+filepath.Join(dir, "node_modules"))...)
		return cmd
	}})
}

// TestRelayMtcute: the real mtcute 0.29.7 (@mtcute/node, layer 225)
// through the relay (testdata/mtcute_relay.cjs; runRelayClient says what
// it does).
func TestRelayMtcute(t *testing.T) {
	t.Parallel()
	dir := mttest.NodeModules(t, "@mtcute/node")
	runRelayClient(t, relayClientCase{format: sessionstring.Mtcute, cmd: func(t *testing.T, env []string) *exec.Cmd {
		cmd := exec.CommandContext(t.Context(), "node", filepath.Join("testdata", "mtcute_relay.cjs"))
		cmd.Env = append(os.Environ(), append(env, "NODE_PATH="+filepath.Join(dir, "node_modules"))...)
		return cmd
	}})
}
