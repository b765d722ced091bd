package sessionstring

import (
	"encoding/base64"
	"encoding/binary"
	"net/netip"
)

const (
	telethonV4Len = 263 // >B4sH256s
	telethonV6Len = 275 // >B16sH256s
)

// decodeTelethon reads a Telethon StringSession: '1' + base64 of the
// IPv4 or IPv6 layout, chosen by the decoded length.
func decodeTelethon(s string, base int) (Session, *ParseError) {
	const f = Telethon
	if len(s) == 0 || s[0] != '1' {
		return Session{}, perr(f, ErrMalformed, "missing version prefix '1'", base)
	}
	b, err := decodeB64(f, s[1:], base+1)
	if err != nil {
		return Session{}, err
	}
	defer clear(b)
	return parseTelethonPayload(f, b)
}

func parseTelethonPayload(f Format, b []byte) (Session, *ParseError) {
	var addr netip.Addr
	var rest []byte
	switch len(b) {
	case telethonV4Len:
		addr = netip.AddrFrom4([4]byte(b[1:5]))
		rest = b[5:]
	case telethonV6Len:
		addr = netip.AddrFrom16([16]byte(b[1:17]))
		rest = b[17:]
	default:
		return Session{}, perr(f, ErrMalformed, "decoded length fits no layout", -1)
	}
	if b[0] == 0 {
		return Session{}, deep(perr(f, ErrMalformed, "dc id is 0", -1))
	}
	if len(b) == telethonV6Len && textAddr(b[1:17]) {
		// GramJS's layout puts a 2-byte length and the host as text
		// where Telethon's has the IPv6 address: a GramJS string whose
		// length field is damaged reads as Telethon's IPv6 layout.
		e := deep(perr(f, ErrMalformed, "the IPv6 address is text, not an address", -1))
		e.Likely = GramJS
		return Session{}, e
	}
	k, kerr := NewAuthKey(rest[2:])
	if kerr != nil {
		return Session{}, deep(perr(f, ErrInvalidKey, "auth key is all zero", -1))
	}
	host := addr.String()
	return Session{
		DCID:     int(b[0]),
		AuthKey:  k,
		Host:     Some(host),
		Port:     Some(int(binary.BigEndian.Uint16(rest[:2]))),
		TestMode: TestModeOfAddress(host),
	}, nil
}

// textAddr reports whether the 16 bytes of an IPv6 address are, after
// the first two, printable ASCII: a host name or IPv4 literal as text (as
// GramJS writes it), which no real address is.
func textAddr(a []byte) bool {
	for _, c := range a[2:] {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func encodeTelethon(f Format, s Session) (string, error) {
	if err := checkCommon(f, s); err != nil {
		return "", err
	}
	host, ok := s.Host.Get()
	if !ok {
		return "", &MissingFieldError{Format: f, Field: "host"}
	}
	port, ok := s.Port.Get()
	if !ok {
		return "", &MissingFieldError{Format: f, Field: "port"}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.Zone() != "" {
		return "", &InvalidFieldError{Format: f, Field: "host", Reason: "not an IP literal"}
	}
	if port < 0 || port > 65535 {
		return "", &InvalidFieldError{Format: f, Field: "port", Reason: "not in 0..65535"}
	}
	b := make([]byte, 0, telethonV6Len)
	b = append(b, byte(s.DCID))
	if addr.Is4() {
		a := addr.As4()
		b = append(b, a[:]...)
	} else {
		a := addr.As16()
		b = append(b, a[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(port))
	b = s.AuthKey.AppendTo(b)
	return wipeEncode(base64.URLEncoding, "1", b), nil
}

// decodeGramJS reads a GramJS StringSession the way GramJS does: a
// 263-byte payload is Telethon's IPv4 layout; otherwise a length field
// above 100 means Telethon's IPv6 layout; otherwise it is GramJS's own
// `[dc][i16 len][host][i16 port][key]`.
func decodeGramJS(s string, base int) (Session, *ParseError) {
	const f = GramJS
	if len(s) == 0 || s[0] != '1' {
		return Session{}, perr(f, ErrMalformed, "missing version prefix '1'", base)
	}
	b, err := decodeB64(f, s[1:], base+1)
	if err != nil {
		return Session{}, err
	}
	defer clear(b)
	if len(b) < 3 {
		return Session{}, perr(f, ErrMalformed, "decoded length fits no layout", -1)
	}
	n := int(int16(binary.BigEndian.Uint16(b[1:3])))
	if len(b) == telethonV4Len || n > 100 {
		sess, err := parseTelethonPayload(f, b)
		if err != nil {
			return Session{}, err
		}
		sess.Extra.GramJSLayout = GramJSTelethon
		return sess, nil
	}
	if n < 1 || len(b) != 261+n {
		return Session{}, perr(f, ErrMalformed, "decoded length fits no layout", -1)
	}
	if b[0] == 0 {
		return Session{}, deep(perr(f, ErrMalformed, "dc id is 0", -1))
	}
	host := string(b[3 : 3+n])
	if !validHost(host) {
		return Session{}, deep(perr(f, ErrMalformed, "server address is not a valid host", -1))
	}
	port := int(int16(binary.BigEndian.Uint16(b[3+n : 5+n])))
	if port < 0 {
		return Session{}, deep(perr(f, ErrMalformed, "port is negative", -1))
	}
	k, kerr := NewAuthKey(b[5+n:])
	if kerr != nil {
		return Session{}, deep(perr(f, ErrInvalidKey, "auth key is all zero", -1))
	}
	return Session{
		DCID:     int(b[0]),
		AuthKey:  k,
		Host:     Some(host),
		Port:     Some(port),
		TestMode: TestModeOfAddress(host),
	}, nil
}

func encodeGramJS(s Session) (string, error) {
	const f = GramJS
	if s.Extra.GramJSLayout == GramJSTelethon {
		if h, ok := s.Host.Get(); ok {
			if _, err := netip.ParseAddr(h); err == nil {
				return encodeTelethon(f, s)
			}
		}
	}
	if err := checkCommon(f, s); err != nil {
		return "", err
	}
	host, ok := s.Host.Get()
	if !ok {
		return "", &MissingFieldError{Format: f, Field: "host"}
	}
	port, ok := s.Port.Get()
	if !ok {
		return "", &MissingFieldError{Format: f, Field: "port"}
	}
	if !validHost(host) || len(host) > 100 {
		// GramJS reads a length above 100 as Telethon's IPv6 layout.
		return "", &InvalidFieldError{Format: f, Field: "host", Reason: "not a valid host of at most 100 bytes"}
	}
	if port < 0 || port > 32767 {
		return "", &InvalidFieldError{Format: f, Field: "port", Reason: "GramJS stores ports as int16 (0..32767)"}
	}
	b := make([]byte, 0, 261+len(host))
	b = append(b, byte(s.DCID))
	b = binary.BigEndian.AppendUint16(b, uint16(len(host)))
	b = append(b, host...)
	b = binary.BigEndian.AppendUint16(b, uint16(port))
	b = s.AuthKey.AppendTo(b)
	return wipeEncode(base64.StdEncoding, "1", b), nil
}
