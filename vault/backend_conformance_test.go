package vault_test

import (
	"testing"

	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/backendtest"
)

// TestBackendConformance runs the Backend suite against DirBackend.
func TestBackendConformance(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, func(t *testing.T) vault.Backend {
		return vault.DirBackend(t.TempDir() + "/vault")
	})
}
