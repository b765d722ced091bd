package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto"
)

// TestAPIErrors: an error answer of the local API becomes an error whose
// exit code and --json kind say what went wrong, with the Telegram error's
// code, type and FLOOD_WAIT seconds in the JSON; unknown kinds fall back
// to "error".
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status   int
		body     string
		code     int
		kind     string
		sentinel error
		rpcType  string
		retry    int
	}{
		{404, `{"error":"mtproto: unknown account","kind":"not_found"}`, exitNotFound, "not_found", localapi.ErrNotFound, "", 0},
		{400, `{"error":"unknown TL method","kind":"bad_call"}`, exitError, "bad_call", localapi.ErrBadCall, "", 0},
		{413, `{"error":"too large","kind":"too_large"}`, exitError, "bad_call", localapi.ErrBadCall, "", 0},
		{403, `{"error":"auth.logOut","kind":"refused"}`, exitError, "refused", localapi.ErrRefused, "", 0},
		{409, `{"error":"mtproto: proxy login refused","kind":"proxy_auth"}`, exitError, "proxy_auth", mtproto.ErrProxyAuth, "", 0},
		{409, `{"error":"revoked","kind":"unauthorized","rpc_code":401,"rpc_type":"SESSION_REVOKED"}`, exitError, "unauthorized", nil, "SESSION_REVOKED", 0},
		{409, `{"error":"lost","kind":"key_lost"}`, exitError, "key_lost", nil, "", 0},
		{429, `{"error":"wait","kind":"flood_wait","rpc_code":420,"rpc_type":"FLOOD_WAIT","retry_after":90}`, exitError, "flood_wait", nil, "FLOOD_WAIT", 90},
		{502, `{"error":"rpc error code 400: USERNAME_NOT_OCCUPIED","kind":"rpc_error","rpc_code":400,"rpc_type":"USERNAME_NOT_OCCUPIED"}`, exitError, "rpc_error", nil, "USERNAME_NOT_OCCUPIED", 0},
		{504, `{"error":"context deadline exceeded","kind":"timeout"}`, exitError, "timeout", nil, "", 0},
		{408, `{"error":"body timed out","kind":"body_timeout"}`, exitError, "body_timeout", nil, "", 0},
		{502, `{"error":"x","kind":"something_new"}`, exitError, "error", nil, "", 0}, // not passed on
		{500, `not json`, exitError, "error", nil, "", 0},
	}
	for _, tt := range tests {
		sock := serveCanned(t, tt.status, tt.body)
		_, err := localapi.NewClient(sock).Invoke(context.Background(), "a", []byte(`{}`))
		code, kind := classify(err)
		if err == nil || code != tt.code || kind != tt.kind || (tt.sentinel != nil && !errors.Is(err, tt.sentinel)) {
			t.Errorf("%d %s: %v, exit %d kind %q; want exit %d kind %q (is %v)", tt.status, tt.body, err, code, kind, tt.code, tt.kind, tt.sentinel)
			continue
		}
		var stderr bytes.Buffer
		a := &app{stderr: &stderr, json: true}
		a.printError(nil, err, code, kind)
		var j struct {
			Kind       string `json:"kind"`
			RPCType    string `json:"rpc_type"`
			RetryAfter int    `json:"retry_after"`
		}
		if json.Unmarshal(stderr.Bytes(), &j) != nil || j.Kind != tt.kind || j.RPCType != tt.rpcType || j.RetryAfter != tt.retry {
			t.Errorf("%d %s: --json error %s; want kind %q, rpc_type %q, retry_after %d", tt.status, tt.body, stderr.String(), tt.kind, tt.rpcType, tt.retry)
		}
	}
}

// serveCanned serves one canned answer on a unix socket, as run's API
// would, and returns the socket's path.
func serveCanned(t *testing.T, status int, body string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}
