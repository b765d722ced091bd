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
// DecodeAs reads the way the library itself does, with one exception: a
// GramJS string with a 14-character host fits Telethon's IPv6 layout, and
// Telethon reads it with a meaningless "IPv6 address" made of the host's
// text; DecodeAs(Telethon, ...) refuses it (ErrMalformed, Likely GramJS).
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
// formats both read the input, Decode picks the more plausible reading and
// reports the others in Alternatives with Ambiguous set.
//
// Decode never takes a damaged string of one format for another: Telethon
// writes the URL-safe base64 alphabet and GramJS the standard one, so a
// string with '+' or '/' is read as Telethon's layout only where GramJS
// itself reads it that way (a GramJS string whose length field is damaged
// fits Telethon's IPv6 layout, with an "address" made of the host's
// text); and a Telethon IPv6 address whose bytes are printable text is
// refused by the Telethon reader itself. Such input is refused with
// ErrMalformed, and the *ParseError names the format it most likely is
// (Likely, or Format when no format's framing matched).
//
// Every error is a *ParseError; ErrUnknownFormat means nothing about the
// input looks like a known format.
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
			e := perr(Unknown, ErrMalformed, "unexpected character", base+i)
			e.Likely = likelyFormat(t)
			return Decoded{}, e
		}
	}
	var (
		found      []Format
		sessions   = make(map[Format]Session, 2)
		firstErr   *ParseError
		gramjsTele bool // GramJS read it as Telethon's layout
	)
	// The error to report: the first one raised past a format's framing
	// (or naming a likely format), in detection order.
	note := func(err *ParseError) {
		if firstErr == nil && (err.layoutOK || err.Likely != Unknown) {
			firstErr = err
		}
	}
	for _, f := range detectOrder {
		sess, err := decoders[f](t, base)
		if err != nil {
			note(err)
			continue
		}
		if f == GramJS && sess.Extra.GramJSLayout == GramJSTelethon {
			gramjsTele = true
			continue // the same reading as Telethon's
		}
		if f == Telethon && !gramjsTele && strings.ContainsAny(t, "+/") {
			// The standard alphabet is GramJS's, and GramJS does not read
			// this as Telethon's layout: a damaged GramJS string.
			e := deep(perr(GramJS, ErrMalformed, "a GramJS string (standard base64) whose layout does not fit", -1))
			e.Likely = GramJS
			note(e)
			continue
		}
		found = append(found, f)
		sessions[f] = sess
	}
	if len(found) == 0 {
		if firstErr != nil {
			return Decoded{}, firstErr
		}
		if f := likelyFormat(t); f != Unknown {
			e := perr(f, ErrMalformed, "damaged: its length or content fits no layout of the format", -1)
			e.Likely = f
			return Decoded{}, e
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

// likelyFormat guesses, from its shape alone, which format a string that
// no decoder read was meant to be: Telethon or GramJS for a '1' and about
// their length (GramJS if it uses the standard alphabet), mtcute for its
// version byte, Pyrogram for one of its lengths. Unknown when nothing
// fits.
func likelyFormat(t string) Format {
	n := len(strings.TrimRight(t, "="))
	switch {
	case t[0] == '1' && n >= 340 && n <= 420:
		if strings.ContainsAny(t, "+/") {
			return GramJS
		}
		return Telethon
	case strings.HasPrefix(t, "Aw") && n >= 380 && n <= 700:
		return Mtcute
	case n >= 345 && n <= 368:
		return Pyrogram
	}
	return Unknown
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

// EncodeStrict is Encode for a caller that must not guess: where Encode
// writes a value the session does not know (mtcute and MTKruto write an
// unknown TestMode as production, and mtcute an unknown IsBot as false
// beside a known UserID), EncodeStrict fails with a *MissingFieldError for
// test_mode, or leaves mtcute's optional self info out.
func EncodeStrict(f Format, s Session) (string, error) {
	switch f {
	case Mtcute, MTKruto:
		if !s.TestMode.Known() {
			if s.AuthKey.IsZero() {
				return "", &MissingFieldError{Format: f, Field: "auth_key"}
			}
			return "", &MissingFieldError{Format: f, Field: "test_mode"}
		}
		if f == Mtcute && !s.IsBot.Known() {
			s.UserID = None[int64]()
		}
	}
	return Encode(f, s)
}
