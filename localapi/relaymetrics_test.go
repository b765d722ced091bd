package localapi

import (
	"strings"
	"testing"

	"github.com/tgvault/tgvault/mtproto/relay"
)

// TestRelayConnRefusalMetrics: /metrics writes the relay's connection-cap
// refusals by cap, both caps always (0 included).
func TestRelayConnRefusalMetrics(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	writeRelayMetrics(&b, relay.Metrics{ConnRefusals: map[string]int64{"session": 3}})
	for _, want := range []string{
		"# TYPE tgvault_relay_connections_refused_total counter\n",
		`tgvault_relay_connections_refused_total{cap="session"} 3` + "\n",
		`tgvault_relay_connections_refused_total{cap="account"} 0` + "\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, b.String())
		}
	}
}
