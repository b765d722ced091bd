package daemon

import (
	"os"
	"testing"

	"github.com/tgvault/tgvault/internal/pgtest"
	"github.com/tgvault/tgvault/internal/realpart"
)

// TestMain stops the PostgreSQL server the fleet tests started, if any,
// and reports the real parts that were missing.
func TestMain(m *testing.M) {
	os.Exit(realpart.Main(realpart.RunFunc(func() int { return pgtest.Main(m) })))
}
