package pgvault

import (
	"os"
	"testing"

	"github.com/tgvault/tgvault/internal/deptest"
	"github.com/tgvault/tgvault/internal/pgtest"
)

// TestMain stops the PostgreSQL server the tests started, if any.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestDeps(t *testing.T) {
	deptest.Banned(t, "github.com/tgvault/tgvault/mtproto", "github.com/gotd/td/...", "github.com/tgvault/tgvault/cmd/...")
}
