package mtproto

import (
	"testing"

	tddcs "github.com/gotd/td/telegram/dcs"

	"github.com/tgvault/tgvault/sessionstring"
)

// TestDCTableHasGotdDCs checks sessionstring's one table of Telegram's DC
// addresses against gotd's own built-in lists (the gotd this module
// builds with): every address of gotd's production and test lists is in
// it, with the same DC, environment, IP version and media flag.
func TestDCTableHasGotdDCs(t *testing.T) {
	t.Parallel()
	for _, l := range []tddcs.List{tddcs.Prod(), tddcs.Test()} {
		for _, o := range l.Options {
			a, ok := sessionstring.LookupDCAddress(o.IPAddress)
			if !ok {
				t.Errorf("gotd's DC %d address %s (test %v) is not in the table", o.ID, o.IPAddress, l.Test)
				continue
			}
			if a.DC != o.ID || a.Test != l.Test || a.IPv6 != o.Ipv6 || a.Media != o.MediaOnly {
				t.Errorf("%s: table says dc %d test %v ipv6 %v media %v; gotd dc %d test %v ipv6 %v media %v",
					o.IPAddress, a.DC, a.Test, a.IPv6, a.Media, o.ID, l.Test, o.Ipv6, o.MediaOnly)
			}
		}
	}
}
