package daemon

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/tgvault/tgvault/vault"
)

// TestLogout: Logout ends the session on the server and marks the account
// revoked; while a Serve holds the account it is refused, naming the
// holder.
func TestLogout(t *testing.T) {
	srv, seeds, v := seededVault(t, "alice", "bob")
	already, err := Logout(t.Context(), v, "alice", devDefaults(srv))
	if err != nil || already {
		t.Fatalf("Logout: already %v, %v", already, err)
	}
	if uid, _ := srv.KeyUser(seeds[0].Key.ID()); uid != 0 {
		t.Errorf("the server still has alice's key logged in as %d", uid)
	}
	if a, err := v.Show("alice"); err != nil || a.Status != vault.StatusRevoked {
		t.Errorf("alice after Logout: %s, %v; want revoked", a.Status, err)
	}

	startServe(t, Config{Vault: v, Names: []string{"bob"}, Socket: filepath.Join(t.TempDir(), "run.sock"), Defaults: devDefaults(srv)})
	if _, err := Logout(t.Context(), v, "bob", devDefaults(srv)); !errors.As(err, new(*vault.HeldError)) {
		t.Errorf("Logout of an account Serve holds: %v, want a *vault.HeldError", err)
	}
	if uid, _ := srv.KeyUser(seeds[1].Key.ID()); uid != seeds[1].UserID {
		t.Errorf("bob's key after a refused Logout: user %d, want %d", uid, seeds[1].UserID)
	}
}
