package sessionstring

import (
	"encoding/base64"
	"errors"
)

// isB64Char reports whether c belongs to either base64 alphabet.
func isB64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '+' || c == '/' || c == '-' || c == '_'
}

// decodeB64 decodes s leniently: either alphabet (even mixed), with correct
// padding or none. It is strict about everything else: stray characters,
// impossible lengths and non-zero trailing bits (so that re-encoding gives
// back the same text). base is the position of s in the caller's input, for
// error offsets.
func decodeB64(f Format, s string, base int) ([]byte, *ParseError) {
	body := s
	pad := 0
	for len(body) > 0 && body[len(body)-1] == '=' {
		body = body[:len(body)-1]
		pad++
	}
	if pad > 2 {
		return nil, perr(f, ErrMalformed, "too much base64 padding", base+len(body)+2)
	}
	buf := make([]byte, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '-':
			c = '+'
		case c == '_':
			c = '/'
		case !isB64Char(c):
			return nil, perr(f, ErrMalformed, "unexpected character", base+i)
		}
		buf[i] = c
	}
	if len(body)%4 == 1 {
		return nil, perr(f, ErrMalformed, "impossible base64 length", -1)
	}
	if pad != 0 && (4-len(body)%4)%4 != pad {
		return nil, perr(f, ErrMalformed, "wrong base64 padding", base+len(body))
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(buf)))
	n, err := base64.RawStdEncoding.Strict().Decode(out, buf)
	clear(buf)
	if err != nil {
		off := -1
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			off = base + int(ce)
		}
		return nil, perr(f, ErrMalformed, "invalid base64", off)
	}
	return out[:n], nil
}

// wipeEncode returns prefix + the base64 of b, then zeroes b, which holds
// key material.
func wipeEncode(enc *base64.Encoding, prefix string, b []byte) string {
	out := make([]byte, len(prefix)+enc.EncodedLen(len(b)))
	copy(out, prefix)
	enc.Encode(out[len(prefix):], b)
	clear(b)
	return string(out)
}
