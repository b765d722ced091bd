package sessionstring

import (
	"testing"

	"github.com/tgvault/tgvault/internal/deptest"
)

func TestStdlibOnly(t *testing.T) { deptest.StdlibOnly(t) }
