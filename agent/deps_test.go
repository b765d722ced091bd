package agent

import (
	"testing"

	"github.com/tgvault/tgvault/internal/deptest"
)

// TestDeps: the agent knows nothing of vaults, sessions or the CLI (the
// package doc's layer rule).
func TestDeps(t *testing.T) {
	deptest.Banned(t,
		"github.com/tgvault/tgvault/sessionstring",
		"github.com/tgvault/tgvault/crypto",
		"github.com/tgvault/tgvault/storage",
		"github.com/tgvault/tgvault/vault/...",
		"github.com/tgvault/tgvault/mtproto/...",
		"github.com/tgvault/tgvault/cmd/...",
		"github.com/gotd/td/...",
	)
}
