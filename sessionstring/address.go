package sessionstring

import "net/netip"

// DCAddr is one of Telegram's data-centre addresses, as the client
// libraries' built-in tables hold them.
type DCAddr struct {
	DC   int
	Test bool // a test DC (Telegram's test environment)
	// IPv6 and Media say which kind of option the address is: an IPv6
	// address, a media-only one.
	IPv6  bool
	Media bool
	Host  string // the address in canonical form (netip.Addr.String)
	Port  int    // the port its library uses with it
	// Default marks the address tgvault writes for a session that carries
	// none (Pyrogram's DataCenter table, which Kurigram's migration uses
	// too): DCAddress returns it.
	Default bool
	// Sources names the libraries whose tables hold the address.
	Sources string
}

// dcTable is the one table of Telegram's DC addresses: every decoder that
// infers test mode from an address (Telethon and GramJS strings, gotd
// files without a fetched config, Telethon .session files) and every
// encoder that needs an address for a session without one use it.
//
// Each entry was checked against the library's own source:
//
//	Pyrogram  pyrogram/session/internals/data_center.py (TEST, PROD,
//	          PROD_MEDIA, TEST_IPV6, PROD_IPV6, PROD_IPV6_MEDIA) @30de1e21
//	Telethon  telethon/client/telegrambaseclient.py DEFAULT_IPV4_IP and
//	          DEFAULT_IPV6_IP (1.25.1; it learns the rest from the server)
//	GramJS    telegram/client/telegramBaseClient.js DEFAULT_IPV4_IP and
//	          DEFAULT_IPV6_IP (2.26.22)
//	mtcute    @mtcute/core utils/dcs.js (default DCs) and @mtcute/convert
//	          dcs.js (DC_MAPPING_PROD, DC_MAPPING_TEST), 0.29.7
//	tdesktop  Telegram/SourceFiles/mtproto/mtproto_dc_options.cpp
//	          (kBuiltInDcs, kBuiltInDcsIPv6, kBuiltInDcsTest,
//	          kBuiltInDcsIPv6Test)
//	gotd      telegram/dcs/prod.go and test.go, v0.162.0 ("gotd<0.162":
//	          the same files of an earlier gotd)
//
// Test mode is never inferred from an address outside the table (a proxy,
// a DC address Telegram handed out later): it stays unknown. The web
// hostnames (pluto.web.telegram.org, ...) are not here: GramJS and
// Pyrogram use the same names for both environments.
var dcTable = []DCAddr{
	// Production, IPv4.
	{DC: 1, Host: "149.154.175.53", Port: 443, Default: true, Sources: "Pyrogram, gotd"},
	{DC: 1, Host: "149.154.175.50", Port: 443, Sources: "tdesktop"},
	{DC: 1, Host: "149.154.175.52", Port: 443, Sources: "gotd"},
	{DC: 1, Host: "149.154.175.56", Port: 443, Sources: "mtcute-convert"},
	{DC: 1, Host: "149.154.175.59", Port: 443, Sources: "gotd<0.162"},
	{DC: 1, Media: true, Host: "149.154.175.211", Port: 443, Sources: "mtcute-convert"},
	{DC: 2, Host: "149.154.167.51", Port: 443, Default: true, Sources: "Pyrogram, Telethon, tdesktop, gotd<0.162"},
	{DC: 2, Host: "149.154.167.41", Port: 443, Sources: "gotd, mtcute-convert"},
	{DC: 2, Host: "149.154.167.50", Port: 443, Sources: "mtcute, gotd<0.162"},
	{DC: 2, Host: "95.161.76.100", Port: 443, Sources: "tdesktop"},
	{DC: 2, Media: true, Host: "149.154.167.151", Port: 443, Sources: "Pyrogram, gotd<0.162"},
	{DC: 2, Media: true, Host: "149.154.167.222", Port: 443, Sources: "mtcute, gotd"},
	{DC: 2, Media: true, Host: "149.154.167.35", Port: 443, Sources: "mtcute-convert"},
	{DC: 3, Host: "149.154.175.100", Port: 443, Default: true, Sources: "Pyrogram, tdesktop, gotd, mtcute-convert"},
	{DC: 4, Host: "149.154.167.91", Port: 443, Default: true, Sources: "Pyrogram, GramJS, tdesktop, gotd, mtcute-convert"},
	{DC: 4, Media: true, Host: "149.154.164.250", Port: 443, Sources: "Pyrogram"},
	{DC: 4, Media: true, Host: "149.154.166.120", Port: 443, Sources: "gotd"},
	{DC: 4, Media: true, Host: "149.154.167.255", Port: 443, Sources: "mtcute-convert"},
	{DC: 5, Host: "91.108.56.130", Port: 443, Default: true, Sources: "Pyrogram"},
	{DC: 5, Host: "149.154.171.5", Port: 443, Sources: "tdesktop"},
	{DC: 5, Host: "91.108.56.179", Port: 443, Sources: "mtcute-convert"},
	{DC: 5, Host: "91.108.56.191", Port: 443, Sources: "gotd"},
	{DC: 5, Host: "91.108.56.173", Port: 443, Sources: "gotd<0.162"},
	{DC: 5, Media: true, Host: "149.154.171.255", Port: 443, Sources: "mtcute-convert"},
	{DC: 203, Host: "91.105.192.100", Port: 443, Default: true, Sources: "Pyrogram"},

	// Production, IPv6.
	{DC: 1, IPv6: true, Host: "2001:b28:f23d:f001::a", Port: 443, Sources: "Pyrogram, tdesktop, gotd"},
	{DC: 2, IPv6: true, Host: "2001:67c:4e8:f002::a", Port: 443, Sources: "Pyrogram, Telethon, mtcute, tdesktop, gotd"},
	{DC: 2, IPv6: true, Media: true, Host: "2001:67c:4e8:f002::b", Port: 443, Sources: "Pyrogram, mtcute, gotd"},
	{DC: 3, IPv6: true, Host: "2001:b28:f23d:f003::a", Port: 443, Sources: "Pyrogram, tdesktop, gotd"},
	{DC: 4, IPv6: true, Host: "2001:67c:4e8:f004::a", Port: 443, Sources: "Pyrogram, GramJS, tdesktop, gotd"},
	{DC: 4, IPv6: true, Media: true, Host: "2001:67c:4e8:f004::b", Port: 443, Sources: "Pyrogram, gotd"},
	{DC: 5, IPv6: true, Host: "2001:b28:f23f:f005::a", Port: 443, Sources: "Pyrogram, tdesktop, gotd"},

	// Test, IPv4. Pyrogram and mtcute-convert (DC 1) use port 80, the
	// others 443.
	{DC: 1, Test: true, Host: "149.154.175.10", Port: 80, Default: true, Sources: "Pyrogram, mtcute-convert, tdesktop, gotd"},
	{DC: 2, Test: true, Host: "149.154.167.40", Port: 80, Default: true, Sources: "Pyrogram, mtcute, tdesktop, gotd"},
	{DC: 3, Test: true, Host: "149.154.175.117", Port: 80, Default: true, Sources: "Pyrogram, mtcute-convert, tdesktop, gotd"},

	// Test, IPv6.
	{DC: 1, Test: true, IPv6: true, Host: "2001:b28:f23d:f001::e", Port: 80, Sources: "Pyrogram, tdesktop, gotd"},
	{DC: 2, Test: true, IPv6: true, Host: "2001:67c:4e8:f002::e", Port: 80, Sources: "Pyrogram, mtcute, tdesktop, gotd"},
	{DC: 3, Test: true, IPv6: true, Host: "2001:b28:f23d:f003::e", Port: 80, Sources: "Pyrogram, tdesktop, gotd"},
}

// dcByAddr indexes dcTable by address.
var dcByAddr = func() map[netip.Addr]DCAddr {
	m := make(map[netip.Addr]DCAddr, len(dcTable))
	for _, a := range dcTable {
		ip := netip.MustParseAddr(a.Host)
		if ip.String() != a.Host {
			panic("sessionstring: DC table address not canonical: " + a.Host)
		}
		if _, dup := m[ip]; dup {
			panic("sessionstring: DC table address twice: " + a.Host)
		}
		m[ip] = a
	}
	return m
}()

// DCAddresses returns the table of Telegram's DC addresses that every
// decoder and encoder of this package uses. The caller owns the slice.
func DCAddresses() []DCAddr { return append([]DCAddr(nil), dcTable...) }

// LookupDCAddress finds host, an IP literal in any form (IPv6 expanded or
// not, IPv4-mapped), in the table.
func LookupDCAddress(host string) (DCAddr, bool) {
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return DCAddr{}, false
	}
	a, ok := dcByAddr[ip.Unmap()]
	return a, ok
}

// TestModeOfAddress says whether host is one of Telegram's test or
// production DC addresses: known only for the addresses of the table,
// unknown for anything else (a proxy, a new DC), rather than a guess.
func TestModeOfAddress(host string) Opt[bool] {
	if a, ok := LookupDCAddress(host); ok {
		return Some(a.Test)
	}
	return None[bool]()
}

// DCAddress returns the address tgvault writes for a session that has
// none: Pyrogram's (production DCs 1–5 and 203 on port 443, test DCs 1–3
// on port 80). ok is false for a DC the table does not have.
func DCAddress(dc int, test bool) (host string, port int, ok bool) {
	for _, a := range dcTable {
		if a.Default && a.DC == dc && a.Test == test {
			return a.Host, a.Port, true
		}
	}
	return "", 0, false
}

// WithDefaultAddress returns s with a missing Host (and Port) filled in
// from DCAddress, for exporting a session whose source carried no address
// (Pyrogram, MTKruto) to a format that needs one (Telethon, GramJS,
// mtcute). The address depends on test mode: with TestMode unknown no
// address is guessed and s is returned unchanged (the encoder then
// reports the missing host). A known Host is kept; if only Port is missing
// it becomes 443 (80 for test mode). s is returned unchanged when the
// table has no entry for its DC.
func (s Session) WithDefaultAddress() Session {
	test, known := s.TestMode.Get()
	if !s.Host.Known() {
		if !known {
			return s
		}
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
