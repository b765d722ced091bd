package mtproto

import (
	"testing"

	"github.com/tgvault/tgvault/internal/deptest"
)

func TestLayerRule(t *testing.T) {
	t.Parallel()
	deptest.Banned(t, "github.com/tgvault/tgvault/cmd/...")
}
