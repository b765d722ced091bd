package localapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/mtproto/tljson"
)

// TestMethodPolicyAPI: the pool's policy is what the local API applies.
func TestMethodPolicyAPI(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := tljson.NewMethodPolicy([]string{"account.setAccountTTL"}, []string{"help.getConfig"})
	if err != nil {
		t.Fatal(err)
	}
	pool := mtproto.NewPool(mtproto.PoolOptions{Client: serverOptions(srv), Methods: policy})
	alice := mttest.NewMemory(t)
	mttest.SeedStore(t, alice, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	if err := pool.Add("alice", alice); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	defer func() { cancel(); <-done }()
	do := apiServer(t, pool)
	kind := func(b []byte) string {
		var e struct {
			Kind string `json:"kind"`
		}
		_ = json.Unmarshal(b, &e)
		return e.Kind
	}
	if code, b := do("POST", "/v1/accounts/alice/invoke", `{"_":"help.getConfig"}`); code != http.StatusForbidden || kind(b) != KindRefused {
		t.Errorf("denied help.getConfig: %d %s", code, b)
	}
	// Allowed: it reaches the server (which may answer anything but 403).
	if code, b := do("POST", "/v1/accounts/alice/invoke", `{"_":"account.setAccountTTL","ttl":{"_":"accountDaysTTL","days":30}}`); code == http.StatusForbidden {
		t.Errorf("allowed account.setAccountTTL: %d %s", code, b)
	}
	if code, b := do("POST", "/v1/accounts/alice/invoke", `{"_":"account.changePhone","phone_number":"+1","phone_code_hash":"x","phone_code":"1"}`); code != http.StatusForbidden {
		t.Errorf("account.changePhone: %d %s", code, b)
	}
	if code, b := do("POST", "/v1/accounts/alice/invoke", `{"_":"users.getUsers","id":[{"_":"inputUserSelf"}]}`); code != http.StatusOK {
		t.Errorf("users.getUsers: %d %s", code, b)
	}
}
