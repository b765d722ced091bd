package localapi

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

func TestAPI(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	if _, err := srv.AddChannel("News", "newschan", true); err != nil {
		t.Fatal(err)
	}
	seeds, err := srv.SeedAccounts(2)
	if err != nil {
		t.Fatal(err)
	}
	pool := mtproto.NewPool(mtproto.PoolOptions{Client: serverOptions(srv)})
	for i, name := range []string{"alice", "bob"} {
		m := mttest.NewMemory(t)
		mttest.SeedStore(t, m, seeds[i].Key, seeds[i].DC, seeds[i].UserID)
		if err := pool.Add(name, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.RevokeKey(seeds[1].Key.ID()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	poolDone := make(chan error, 1)
	go func() { poolDone <- pool.Run(ctx) }()

	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: Handler(pool), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		_ = hs.Close()
		cancel()
		<-poolDone
	}()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	do := func(method, path, body string) (int, string) {
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
		return resp.StatusCode, string(b)
	}

	code, body := do("GET", "/v1/accounts/alice/me", "")
	var me struct {
		UserID int64 `json:"user_id"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &me) != nil || me.UserID != seeds[0].UserID {
		t.Errorf("me: %d %s", code, body)
	}
	if code, body := do("GET", "/v1/accounts/bob/me", ""); code != http.StatusConflict || !strings.Contains(body, "unauthorized") {
		t.Errorf("revoked me: %d %s", code, body)
	}
	if code, body := do("GET", "/v1/accounts", ""); code != 200 || !strings.Contains(body, `"name":"alice","status":"ready"`) || !strings.Contains(body, `"status":"unauthorized"`) {
		t.Errorf("accounts: %d %s", code, body)
	}
	if code, _ := do("GET", "/v1/accounts/carol", ""); code != http.StatusNotFound {
		t.Errorf("unknown account: %d", code)
	}
	if code, body := do("GET", "/v1/accounts/alice/peers/@NewsChan", ""); code != 200 || !strings.Contains(body, `"type":"channel"`) {
		t.Errorf("peer: %d %s", code, body)
	}
	if code, body := do("GET", "/v1/accounts/alice/peers/nosuchname", ""); code != http.StatusNotFound {
		t.Errorf("missing peer: %d %s", code, body)
	}
}

func TestListenUnix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.Close()
		}
	}()
	if _, err := ListenUnix(sock); err == nil {
		t.Error("listened twice on a socket in use")
	}
	ln.(ownerOnly).SetUnlinkOnClose(false)
	_ = ln.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("socket not left behind: %v", err)
	}
	// A socket left behind by a dead process is replaced.
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnix(filepath.Join(dir, "file")); err == nil {
		t.Error("replaced a regular file")
	}
	ln2, err := ListenUnix(sock)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	_ = ln2.Close()
}
