package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/storage"
)

// serveAPI serves h on a unix socket until the test ends and returns the
// socket's path.
func serveAPI(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return sock
}

// apiServer serves Handler(pool) on a unix socket until the test ends
// and returns a function that makes one request.
func apiServer(t *testing.T, pool *mtproto.Pool) func(method, path, body string) (int, []byte) {
	t.Helper()
	sock := serveAPI(t, Handler(pool))
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	return func(method, path, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, "http://tgvault"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
}

// obj is a decoded TL JSON value, with paths into it.
type obj map[string]any

func decodeObj(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	return v
}

// at follows a path of keys and indexes ("users", 0, "id").
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %q", path, k)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("%v: no element %d", path, k)
			}
			v = a[k]
		}
	}
	return v
}

// TestInvoke calls every method the dev server answers through
// POST /v1/accounts/{name}/invoke, checks the decoded results and the peer
// cache they feed, and every class of bad call; the pool keeps serving.
func TestInvoke(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	chanID, err := srv.AddChannel("News", "newschan", true)
	if err != nil {
		t.Fatal(err)
	}
	chatID, err := srv.AddChat("Group")
	if err != nil {
		t.Fatal(err)
	}
	seeds, err := srv.SeedAccounts(3)
	if err != nil {
		t.Fatal(err)
	}
	pool := mtproto.NewPool(mtproto.PoolOptions{Client: serverOptions(srv)})
	alice := mttest.NewMemory(t)
	mttest.SeedStore(t, alice, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	bob := mttest.NewMemory(t)
	mttest.SeedStore(t, bob, seeds[1].Key, seeds[1].DC, seeds[1].UserID)
	if err := pool.Add("alice", alice); err != nil {
		t.Fatal(err)
	}
	if err := pool.Add("bob", bob); err != nil {
		t.Fatal(err)
	}
	if err := srv.RevokeKey(seeds[1].Key.ID()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	poolDone := make(chan error, 1)
	go func() { poolDone <- pool.Run(ctx) }()
	defer func() {
		cancel()
		<-poolDone
	}()
	do := apiServer(t, pool)
	invoke := func(name, body string) any {
		t.Helper()
		code, b := do("POST", "/v1/accounts/"+name+"/invoke", body)
		if code != http.StatusOK {
			t.Fatalf("invoke %s: %d %s", body, code, b)
		}
		return decodeObj(t, b)
	}
	self := strconv.FormatInt(seeds[0].UserID, 10)

	// users.getUsers: the logged-in user, long ids as strings.
	users := invoke("alice", `{"_":"users.getUsers","id":[{"_":"inputUserSelf"}]}`)
	if at(t, users, 0, "_") != "user" || at(t, users, 0, "id") != self || at(t, users, 0, "self") != true {
		t.Errorf("getUsers: %v", users)
	}

	// contacts.resolveUsername of another user: its peer lands in the
	// cache, with the access hash the answer carries.
	other := "user" + strconv.FormatInt(seeds[2].UserID, 10)
	if _, err := alice.PeerByUsername(other); err == nil {
		t.Fatal("peer cached before it was resolved")
	}
	res := invoke("alice", `{"_":"contacts.resolveUsername","username":"`+other+`"}`)
	if at(t, res, "_") != "contacts.resolvedPeer" || at(t, res, "peer", "_") != "peerUser" || at(t, res, "peer", "user_id") != strconv.FormatInt(seeds[2].UserID, 10) {
		t.Errorf("resolveUsername: %v", res)
	}
	hash, _ := at(t, res, "users", 0, "access_hash").(string)
	p, err := alice.PeerByUsername(other)
	if err != nil || p.ID != seeds[2].UserID || strconv.FormatInt(p.AccessHash, 10) != hash {
		t.Errorf("cached peer %+v (%v), want id %d hash %s", p, err, seeds[2].UserID, hash)
	}
	// The hash goes back in as a string or as a number.
	for _, h := range []string{`"` + hash + `"`, hash} {
		u := invoke("alice", `{"_":"users.getUsers","id":[{"_":"inputUser","user_id":`+strconv.FormatInt(seeds[2].UserID, 10)+`,"access_hash":`+h+`}]}`)
		if at(t, u, 0, "username") != other {
			t.Errorf("getUsers by hash %s: %v", h, u)
		}
	}

	// A channel resolves, and the API finds it in the cache afterwards.
	res = invoke("alice", `{"_":"contacts.resolveUsername","username":"NewsChan"}`)
	if at(t, res, "peer", "_") != "peerChannel" || at(t, res, "chats", 0, "_") != "channel" || at(t, res, "chats", 0, "broadcast") != true {
		t.Errorf("resolve channel: %v", res)
	}
	wantChan := storage.ChannelPeer(chanID, 0, true, "", nil).ID
	if p, err := alice.PeerByUsername("newschan"); err != nil || p.ID != wantChan {
		t.Errorf("cached channel %+v %v", p, err)
	}
	if code, b := do("GET", "/v1/accounts/alice/peers/@newschan", ""); code != 200 || !strings.Contains(string(b), `"id":`+strconv.FormatInt(wantChan, 10)) {
		t.Errorf("peer after resolve: %d %s", code, b)
	}

	// messages.getDialogs: every chat, in the cache by id.
	dialogs := invoke("alice", `{"_":"messages.getDialogs","offset_peer":{"_":"inputPeerEmpty"},"limit":10}`)
	if at(t, dialogs, "_") != "messages.dialogsSlice" || at(t, dialogs, "dialogs", 0, "_") != "dialog" {
		t.Errorf("getDialogs: %v", dialogs)
	}
	if n, _ := at(t, dialogs, "count").(json.Number).Int64(); n < 4 {
		t.Errorf("getDialogs count %d", n)
	}
	if _, err := alice.PeerByID(storage.ChatPeer(chatID).ID); err != nil {
		t.Errorf("group from getDialogs not cached: %v", err)
	}

	// help.getConfig, updates.getState, account.getPassword.
	cfg := invoke("alice", `{"_":"help.getConfig"}`)
	if at(t, cfg, "_") != "config" || at(t, cfg, "this_dc") != json.Number(strconv.Itoa(srv.DC())) || at(t, cfg, "dc_options", 0, "_") != "dcOption" {
		t.Errorf("getConfig: %v", cfg)
	}
	host, _, _ := net.SplitHostPort(srv.Addr())
	if at(t, cfg, "dc_options", 0, "ip_address") != host {
		t.Errorf("getConfig dc_options: %v", at(t, cfg, "dc_options"))
	}
	if st := invoke("alice", `{"_":"updates.getState"}`); at(t, st, "_") != "updates.state" || at(t, st, "pts") != json.Number("1") {
		t.Errorf("getState: %v", st)
	}
	if pw := invoke("alice", `{"_":"account.getPassword"}`); at(t, pw, "_") != "account.password" {
		t.Errorf("getPassword: %v", pw)
	}

	// RPC errors pass through with their code and type.
	rpcErr := func(body, wantType string) {
		t.Helper()
		code, b := do("POST", "/v1/accounts/alice/invoke", body)
		var e struct {
			Error string `json:"error"`
			Code  int    `json:"rpc_code"`
			Type  string `json:"rpc_type"`
		}
		if code != http.StatusBadGateway || json.Unmarshal(b, &e) != nil || e.Code != 400 || !strings.HasPrefix(e.Type, wantType) || e.Error == "" {
			t.Errorf("%s: %d %s, want 502 %s", body, code, b, wantType)
		}
		// tgvault's words, not gotd's internals.
		if !strings.Contains(e.Error, "Telegram answered 400 "+wantType) || strings.Contains(e.Error, "rpcDoRequest") || strings.Contains(e.Error, "rpc error code") {
			t.Errorf("%s: error text %q", body, e.Error)
		}
	}
	rpcErr(`{"_":"contacts.resolveUsername","username":"nosuchname"}`, "USERNAME_NOT_OCCUPIED")
	rpcErr(`{"_":"messages.getAllStickers","hash":0}`, "INPUT_METHOD_INVALID")

	// Bad calls: a typed error each, with its status; nothing reaches the
	// server.
	before := srv.Stats()
	bad := []struct {
		name, account, body string
		code                int
		has                 string
	}{
		{"malformed", "alice", `{"_":`, 400, "malformed JSON"},
		{"unknown method", "alice", `{"_":"users.getUserz"}`, 400, "unknown TL method"},
		{"unknown constructor", "alice", `{"_":"users.getUsers","id":[{"_":"inputUserMe"}]}`, 400, "unknown TL constructor at id[0]._"},
		{"wrong class", "alice", `{"_":"users.getUsers","id":[{"_":"inputPeerSelf"}]}`, 400, "wrong type"},
		{"wrong field type", "alice", `{"_":"contacts.resolveUsername","username":7}`, 400, "wrong JSON type"},
		{"unknown field", "alice", `{"_":"help.getConfig","verbose":true}`, 400, "unknown TL field"},
		{"missing field", "alice", `{"_":"messages.getDialogs"}`, 400, "offset_peer"},
		{"too large", "alice", `{"_":"help.getConfig","x":"` + strings.Repeat("a", tljson.MaxInvokeBody) + `"}`, 413, "too large"},
		{"logout refused", "alice", `{"_":"auth.logOut"}`, 403, "refused"},
		{"export refused", "alice", `{"_":"auth.exportAuthorization","dc_id":2}`, 403, "refused"},
		{"bot login refused", "alice", `{"_":"auth.importBotAuthorization","api_id":1,"api_hash":"x","bot_auth_token":"1:x"}`, 403, "refused"},
		{"wrapper refused", "alice", `{"_":"invokeWithLayer","layer":229,"query":{"_":"auth.logOut"}}`, 403, "refused"},
		{"phone change refused", "alice", `{"_":"account.changePhone","phone_number":"+1","phone_code_hash":"x","phone_code":"1"}`, 403, "refused"},
		{"login email refused", "alice", `{"_":"account.verifyEmail"}`, 403, "refused"},
		{"2FA change refused", "alice", `{"_":"account.updatePasswordSettings"}`, 403, "refused"},
		{"account TTL refused", "alice", `{"_":"account.setAccountTTL","ttl":{"_":"accountDaysTTL","days":30}}`, 403, "refused"},
		{"website login refused", "alice", `{"_":"messages.acceptUrlAuth"}`, 403, "refused"},
		{"unknown account", "carol", `{"_":"help.getConfig"}`, 404, "unknown account"},
	}
	for _, tc := range bad {
		code, b := do("POST", "/v1/accounts/"+tc.account+"/invoke", tc.body)
		var e struct {
			Error string `json:"error"`
		}
		if code != tc.code || json.Unmarshal(b, &e) != nil || !strings.Contains(e.Error, tc.has) {
			t.Errorf("%s: %d %.200s, want %d %q", tc.name, code, b, tc.code, tc.has)
		}
	}
	if after := srv.Stats(); after.KeyExchanges != before.KeyExchanges {
		t.Errorf("bad calls made key exchanges: %+v -> %+v", before, after)
	}
	if uid, ok := srv.KeyUser(seeds[0].Key.ID()); !ok || uid != seeds[0].UserID {
		t.Error("alice's session ended on the server")
	}

	// A revoked account answers 409; alice still serves.
	if code, b := do("POST", "/v1/accounts/bob/invoke", `{"_":"help.getConfig"}`); code != http.StatusConflict {
		t.Errorf("revoked: %d %s", code, b)
	}
	users = invoke("alice", `{"_":"users.getUsers","id":[{"_":"inputUserSelf"}]}`)
	if at(t, users, 0, "id") != self {
		t.Errorf("getUsers after the errors: %v", users)
	}
	if st, _ := pool.Status("alice"); st != mtproto.StatusReady {
		t.Errorf("alice is %s", st)
	}
}

// TestWriteErrorRPC: every error answer has its status and its kind; an
// RPC error keeps its code and type; FLOOD_WAIT is 429 with Retry-After
// and retry_after.
func TestWriteErrorRPC(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err        error
		code       int
		kind       string
		rpcType    string
		retryAfter string
	}{
		{fmt.Errorf("mtproto: x: %w", tdtgerr.New(420, "FLOOD_WAIT_7")), http.StatusTooManyRequests, KindFloodWait, "FLOOD_WAIT", "7"},
		{errors.Join(&mtproto.FloodWaitError{Wait: 90 * time.Second}, tdtgerr.New(420, "FLOOD_WAIT_90")), http.StatusTooManyRequests, KindFloodWait, "FLOOD_WAIT", "90"},
		{fmt.Errorf("mtproto: x: %w", tdtgerr.New(400, "PEER_ID_INVALID")), http.StatusBadGateway, KindRPCError, "PEER_ID_INVALID", ""},
		{fmt.Errorf("%w: %w", mtproto.ErrUnauthorized, tdtgerr.New(401, "SESSION_REVOKED")), http.StatusConflict, KindUnauthorized, "SESSION_REVOKED", ""},
		{fmt.Errorf("x: %w", mtproto.ErrKeyLost), http.StatusConflict, KindKeyLost, "", ""},
		{fmt.Errorf("x: %w", mtproto.ErrKeyDuplicated), http.StatusConflict, KindKeyDuplicated, "", ""},
		{fmt.Errorf("x: %w", mtproto.ErrNoSession), http.StatusConflict, KindNoSession, "", ""},
		{fmt.Errorf("x: %w", mtproto.ErrProxyAuth), http.StatusConflict, KindProxyAuth, "", ""},
		{fmt.Errorf("mtproto: account a: %w", mtproto.ErrUnreachable), http.StatusServiceUnavailable, KindUnreachable, "", ""},
		{fmt.Errorf("x: %w", tljson.ErrMethodRefused), http.StatusForbidden, KindRefused, "", ""},
		{tljson.ErrBodyTooLarge, http.StatusRequestEntityTooLarge, KindTooLarge, "", ""},
		{tljson.ErrBodyTimeout, http.StatusRequestTimeout, KindBodyTimeout, "", ""},
		{&tljson.Error{Kind: tljson.ErrUnknownMethod, Detail: "x"}, http.StatusBadRequest, KindBadCall, "", ""},
		{fmt.Errorf("x: %w", mtproto.ErrUnknownAccount), http.StatusNotFound, KindNotFound, "", ""},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), http.StatusGatewayTimeout, KindTimeout, "", ""},
		{errors.New("connection reset"), http.StatusBadGateway, KindFailed, "", ""},
	} {
		rec := httptest.NewRecorder()
		writeError(rec, c.err)
		var e struct {
			Error      string `json:"error"`
			Kind       string `json:"kind"`
			Code       int    `json:"rpc_code"`
			Type       string `json:"rpc_type"`
			RetryAfter *int   `json:"retry_after"`
		}
		ok := rec.Code == c.code && json.Unmarshal(rec.Body.Bytes(), &e) == nil && e.Kind == c.kind && e.Type == c.rpcType &&
			e.Error != "" && rec.Header().Get("Retry-After") == c.retryAfter
		if ok && c.retryAfter != "" {
			ok = e.RetryAfter != nil && strconv.Itoa(*e.RetryAfter) == c.retryAfter
		} else if ok {
			ok = e.RetryAfter == nil
		}
		if !ok {
			t.Errorf("%v: %d %s (Retry-After %q); want %d, kind %s", c.err, rec.Code, rec.Body, rec.Header().Get("Retry-After"), c.code, c.kind)
		}
	}
}
