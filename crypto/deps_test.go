package crypto

import (
	"testing"

	"github.com/tgvault/tgvault/internal/deptest"
)

func TestDeps(t *testing.T) {
	deptest.Banned(t,
		"github.com/tgvault/tgvault/storage",
		"github.com/tgvault/tgvault/vault",
		"github.com/tgvault/tgvault/mtproto",
		"github.com/tgvault/tgvault/cmd/...",
		"github.com/gotd/td/...",
	)
}
