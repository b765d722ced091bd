package tlschema

import (
	"testing"

	"github.com/tgvault/tgvault/internal/deptest"
)

func TestLayerRule(t *testing.T) {
	t.Parallel()
	deptest.StdlibOnly(t)
}
