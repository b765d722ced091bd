package sessionstring

import "strings"

// MaxLen is the longest input Decode and DecodeAs accept, in bytes. It is
// checked before anything else, so a huge input costs nothing to reject.
// Real session strings are under 500 bytes and gotd files a few KiB.
const MaxLen = 64 << 10

// Decoded is the result of Decode: the session, the format it was read as,
// and whether other formats would also have read the input (differently).
type Decoded struct {
	Session Session
	Format  Format
	// Ambiguous is true when at least one other format also decodes the
	// input. Alternatives lists them, most plausible first; DecodeAs gives
	// their readings.
	Ambiguous    bool
	Alternatives []Format
}

func trimInput(f Format, s string) (string, int, *ParseError) {
	if len(s) > MaxLen {
		return "", 0, perr(f, ErrTooLong, "input longer than MaxLen", -1)
	}
	t := strings.TrimLeft(s, " \t\r\n\v\f")
	base := len(s) - len(t)
	t = strings.TrimRight(t, " \t\r\n\v\f")
	if t == "" {
		return "", 0, perr(f, ErrMalformed, "empty input", -1)
	}
	return t, base, nil
}

var decoders = map[Format]func(string, int) (Session, *ParseError){
	Pyrogram: decodePyrogram,
	Telethon: decodeTelethon,
	GramJS:   decodeGramJS,
	Mtcute:   decodeMtcute,
	MTKruto:  decodeMTKruto,
	Gotd:     decodeGotd,
}

// DecodeAs decodes s as format f. Surrounding whitespace, missing or
// present base64 padding and either base64 alphabet are accepted; anything
// else unexpected is an error. Every error is a *ParseError.
//
// DecodeAs reads the way the library itself does: DecodeAs(Telethon, ...)
// of a GramJS string with a 14-character host succeeds with a meaningless
// IPv6 address, exactly like Telethon. Use Decode to detect such cases.
func DecodeAs(f Format, s string) (Session, error) {
	dec, ok := decoders[f]
	if !ok {
		return Session{}, perr(f, ErrUnknownFormat, "unknown format", -1)
	}
	t, base, err := trimInput(f, s)
	if err != nil {
		return Session{}, err
	}
	sess, err := dec(t, base)
	if err != nil {
		return Session{}, err
	}
	return sess, nil
}

// detectOrder is the order in which Decode prefers formats when several
// read the same string: the strictly framed ones first.
var detectOrder = []Format{Mtcute, MTKruto, Pyrogram, GramJS, Telethon}

// Decode detects the format of s and decodes it. A JSON object is a gotd
// session file; anything else must be one of the string formats. When two
// formats both read the input (a GramJS string with a 14-character host is
// also a valid Telethon IPv6 string), Decode picks the more plausible
// reading and reports the others in Alternatives with Ambiguous set. The
// GramJS reading is only valid when its host is a printable hostname or IP
// literal, and such a host beats the IPv6 address Telethon would make of
// the same bytes (which is never one of Telegram's). Every error is a *ParseError; ErrUnknownFormat means no
// format matched.
func Decode(s string) (Decoded, error) {
	t, base, perr0 := trimInput(Unknown, s)
	if perr0 != nil {
		return Decoded{}, perr0
	}
	if t[0] == '{' {
		sess, err := decodeGotd(t, base)
		if err != nil {
			return Decoded{}, err
		}
		return Decoded{Session: sess, Format: Gotd}, nil
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !isB64Char(c) && c != '=' {
			return Decoded{}, perr(Unknown, ErrMalformed, "unexpected character", base+i)
		}
	}
	var (
		found    []Format
		sessions = make(map[Format]Session, 2)
		firstErr *ParseError
	)
	for _, f := range detectOrder {
		sess, err := decoders[f](t, base)
		if err != nil {
			if err.layoutOK && firstErr == nil {
				firstErr = err
			}
			continue
		}
		if f == GramJS && sess.Extra.GramJSLayout == GramJSTelethon {
			continue // the same reading as Telethon's
		}
		found = append(found, f)
		sessions[f] = sess
	}
	if len(found) == 0 {
		if firstErr != nil {
			return Decoded{}, firstErr
		}
		return Decoded{}, perr(Unknown, ErrUnknownFormat, "no known format matches", -1)
	}
	d := Decoded{Session: sessions[found[0]], Format: found[0]}
	if len(found) > 1 {
		d.Ambiguous = true
		d.Alternatives = found[1:]
	}
	return d, nil
}

// Encode writes s in format f, byte-identical to what that library writes.
// Fields a format needs but s does not know give a *MissingFieldError
// (errors.Is ErrMissingField); values the format cannot hold give an
// *InvalidFieldError. Formats that need a server address (Telethon, GramJS,
// mtcute) take it from s.Host and s.Port; use WithDefaultAddress for
// sources that have none.
func Encode(f Format, s Session) (string, error) {
	switch f {
	case Pyrogram:
		return encodePyrogram(s)
	case Telethon:
		return encodeTelethon(Telethon, s)
	case GramJS:
		return encodeGramJS(s)
	case Mtcute:
		return encodeMtcute(s)
	case MTKruto:
		return encodeMTKruto(s)
	case Gotd:
		return encodeGotd(s)
	}
	return "", perr(f, ErrUnknownFormat, "unknown format", -1)
}
