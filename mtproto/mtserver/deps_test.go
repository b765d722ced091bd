package mtserver

import (
	"testing"

	"github.com/tgvault/tgvault/internal/deptest"
)

func TestLayerRule(t *testing.T) {
	t.Parallel()
	deptest.Banned(t,
		"github.com/tgvault/tgvault/cmd/...",
		"github.com/tgvault/tgvault/vault/...",
		"github.com/tgvault/tgvault/storage/...",
		"github.com/tgvault/tgvault/crypto/...",
		"github.com/tgvault/tgvault/mtproto",
		"github.com/tgvault/tgvault/mtproto/devserver",
	)
}
