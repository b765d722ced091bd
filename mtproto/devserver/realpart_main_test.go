package devserver_test

import (
	"os"
	"testing"

	"github.com/tgvault/tgvault/internal/realpart"
)

// TestMain reports, once, the real parts the tests missed (realpart.Main).
func TestMain(m *testing.M) { os.Exit(realpart.Main(m)) }
