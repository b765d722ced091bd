package pgvault

import (
	"testing"
	"time"

	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/backendtest"
)

// TestBackendConformance runs the Backend suite against the PostgreSQL
// backend, each case on a fresh database of the real server (pgtest).
func TestBackendConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) vault.Backend {
		b, _ := newBackend(t)
		b.lockWait = 200 * time.Millisecond // a busy lock is reported without the 10 s wait
		return b
	})
}
