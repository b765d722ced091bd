package vault

import (
	"testing"

	"github.com/tgvault/tgvault/internal/deptest"
)

func TestDeps(t *testing.T) {
	deptest.Banned(t, "github.com/tgvault/tgvault/mtproto", "github.com/gotd/td/...", "github.com/tgvault/tgvault/cmd/...")
}
