package sessionstring

import "net/netip"

type dcAddr struct {
	host string
	port int
}

// Pyrogram's DataCenter table (formats.md §1.6), also used by kurigram.
var (
	prodDCs = map[int]dcAddr{
		1:   {"149.154.175.53", 443},
		2:   {"149.154.167.51", 443},
		3:   {"149.154.175.100", 443},
		4:   {"149.154.167.91", 443},
		5:   {"91.108.56.130", 443},
		203: {"91.105.192.100", 443},
	}
	testDCs = map[int]dcAddr{
		1: {"149.154.175.10", 80},
		2: {"149.154.167.40", 80},
		3: {"149.154.175.117", 80},
	}
)

// DCAddress returns Pyrogram's address for a data centre: production DCs
// 1–5 and 203 on port 443, test DCs 1–3 on port 80. ok is false for a DC
// the table does not have.
func DCAddress(dc int, test bool) (host string, port int, ok bool) {
	t := prodDCs
	if test {
		t = testDCs
	}
	a, ok := t[dc]
	return a.host, a.port, ok
}

// WithDefaultAddress returns s with a missing Host (and Port) filled in
// from DCAddress, for exporting a session whose source carried no address
// (Pyrogram, MTKruto) to a format that needs one (Telethon, GramJS,
// mtcute). An unknown TestMode counts as production. A known Host is kept;
// if only Port is missing it becomes 443 (80 for test mode). s is returned
// unchanged when the table has no entry for its DC.
func (s Session) WithDefaultAddress() Session {
	test := s.TestMode.Or(false)
	if !s.Host.Known() {
		host, port, ok := DCAddress(s.DCID, test)
		if !ok {
			return s
		}
		s.Host = Some(host)
		if !s.Port.Known() {
			s.Port = Some(port)
		}
		return s
	}
	if !s.Port.Known() {
		if test {
			s.Port = Some(80)
		} else {
			s.Port = Some(443)
		}
	}
	return s
}

// knownTestIPs and knownProdIPs let a Telethon or GramJS import infer test
// mode from the server address: Telegram's test DCs, and the production
// addresses of Pyrogram's, mtcute's and Telethon's tables (main, media and
// IPv6).
var (
	knownTestIPs = addrSet(
		"149.154.175.10", "149.154.167.40", "149.154.175.117",
		"2001:b28:f23d:f001::e", "2001:67c:4e8:f002::e", "2001:b28:f23d:f003::e",
	)
	knownProdIPs = addrSet(
		"149.154.175.53", "149.154.167.51", "149.154.175.100", "149.154.167.91",
		"91.108.56.130", "91.105.192.100", "149.154.167.151", "149.154.164.250",
		"149.154.175.56", "149.154.167.41", "149.154.167.35", "91.108.56.179",
		"149.154.167.50", "149.154.167.222",
		"2001:b28:f23d:f001::a", "2001:67c:4e8:f002::a", "2001:b28:f23d:f003::a",
		"2001:67c:4e8:f004::a", "2001:b28:f23f:f005::a",
	)
)

func addrSet(ips ...string) map[netip.Addr]bool {
	m := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		m[netip.MustParseAddr(ip)] = true
	}
	return m
}

// inferTestMode guesses test mode from a server address: known only for
// Telegram's own test and production addresses, unknown for anything else
// (a proxy, a new DC), rather than a guess.
func inferTestMode(host string) Opt[bool] {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return None[bool]()
	}
	a = a.Unmap()
	switch {
	case knownTestIPs[a]:
		return Some(true)
	case knownProdIPs[a]:
		return Some(false)
	}
	return None[bool]()
}

// validHost reports whether h is a plausible server address as text:
// 1–253 printable ASCII characters without spaces, and an IP literal if it
// contains a colon.
func validHost(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	colon := false
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		if c == ':' {
			colon = true
		}
	}
	if colon {
		a, err := netip.ParseAddr(h)
		return err == nil && a.Zone() == ""
	}
	return true
}
