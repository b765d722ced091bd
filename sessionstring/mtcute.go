package sessionstring

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
)

const (
	mtcuteVersion   = 3
	tlBoolTrue      = 0x997275b5
	tlBoolFalse     = 0xbc799737
	mtcuteFlagSelf  = 1
	mtcuteFlagTest  = 2 // legacy, read only
	mtcuteFlagMedia = 4
	dcFlagIPv6      = 1
	dcFlagMedia     = 2
	dcFlagTest      = 4
)

// tlReader reads the TL-style little-endian stream of mtcute and MTKruto,
// strictly: canonical lengths and zero padding only, so that re-encoding is
// exact.
type tlReader struct {
	b   []byte
	off int
}

func (r *tlReader) bytes() ([]byte, bool) {
	if r.off >= len(r.b) {
		return nil, false
	}
	n, hdr := int(r.b[r.off]), 1
	switch {
	case n == 254:
		if r.off+4 > len(r.b) {
			return nil, false
		}
		n = int(r.b[r.off+1]) | int(r.b[r.off+2])<<8 | int(r.b[r.off+3])<<16
		hdr = 4
		if n < 254 {
			return nil, false
		}
	case n == 255:
		return nil, false
	}
	total := (hdr + n + 3) &^ 3
	if total > len(r.b)-r.off {
		return nil, false
	}
	data := r.b[r.off+hdr : r.off+hdr+n]
	for _, c := range r.b[r.off+hdr+n : r.off+total] {
		if c != 0 {
			return nil, false
		}
	}
	r.off += total
	return data, true
}

func (r *tlReader) uint32() (uint32, bool) {
	if len(r.b)-r.off < 4 {
		return 0, false
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, true
}

func (r *tlReader) uint64() (uint64, bool) {
	if len(r.b)-r.off < 8 {
		return 0, false
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v, true
}

func (r *tlReader) done() bool { return r.off == len(r.b) }

func appendTLBytes(dst, data []byte) []byte {
	n := len(data)
	hdr := 1
	if n < 254 {
		dst = append(dst, byte(n))
	} else {
		dst = append(dst, 254, byte(n), byte(n>>8), byte(n>>16))
		hdr = 4
	}
	dst = append(dst, data...)
	for i := hdr + n; i%4 != 0; i++ {
		dst = append(dst, 0)
	}
	return dst
}

func parseMtcuteDC(data []byte) (MtcuteDC, bool) {
	if len(data) < 3 {
		return MtcuteDC{}, false
	}
	dc := MtcuteDC{Version: int(data[0]), DCID: int(data[1]), Flags: int(data[2])}
	allowed := dcFlagIPv6 | dcFlagMedia | dcFlagTest
	if dc.Version == 1 {
		allowed = dcFlagIPv6 | dcFlagMedia
	} else if dc.Version != 2 {
		return MtcuteDC{}, false
	}
	if dc.Flags&^allowed != 0 || dc.DCID == 0 {
		return MtcuteDC{}, false
	}
	r := tlReader{b: data, off: 3}
	host, ok := r.bytes()
	if !ok || !validHost(string(host)) {
		return MtcuteDC{}, false
	}
	port, ok := r.uint32()
	if !ok || port > 65535 || !r.done() {
		return MtcuteDC{}, false
	}
	dc.Host, dc.Port = string(host), int(port)
	return dc, true
}

func appendMtcuteDC(dst []byte, dc MtcuteDC) ([]byte, bool) {
	allowed := dcFlagIPv6 | dcFlagMedia | dcFlagTest
	if dc.Version == 1 {
		allowed = dcFlagIPv6 | dcFlagMedia
	}
	if dc.Version != 1 && dc.Version != 2 || dc.DCID < 1 || dc.DCID > 255 ||
		dc.Flags&^allowed != 0 || !validHost(dc.Host) || dc.Port < 0 || dc.Port > 65535 {
		return dst, false
	}
	opt := make([]byte, 0, 3+4+len(dc.Host)+4)
	opt = append(opt, byte(dc.Version), byte(dc.DCID), byte(dc.Flags))
	opt = appendTLBytes(opt, []byte(dc.Host))
	opt = binary.LittleEndian.AppendUint32(opt, uint32(dc.Port))
	return appendTLBytes(dst, opt), true
}

// decodeMtcute reads an mtcute version 3 string session.
func decodeMtcute(s string, base int) (Session, *ParseError) {
	const f = Mtcute
	b, err := decodeB64(f, s, base)
	if err != nil {
		return Session{}, err
	}
	defer clear(b)
	if len(b) == 0 {
		return Session{}, perr(f, ErrMalformed, "empty", -1)
	}
	if b[0] != mtcuteVersion {
		return Session{}, perr(f, ErrUnknownVersion, "unknown version byte", -1)
	}
	r := tlReader{b: b, off: 1}
	flags, ok := r.uint32()
	if !ok {
		return Session{}, perr(f, ErrMalformed, "truncated flags", -1)
	}
	if flags&^(mtcuteFlagSelf|mtcuteFlagTest|mtcuteFlagMedia) != 0 {
		return Session{}, perr(f, ErrMalformed, "unknown flag bits", -1)
	}
	raw, ok := r.bytes()
	if !ok {
		return Session{}, perr(f, ErrMalformed, "bad primary dc", -1)
	}
	primary, ok := parseMtcuteDC(raw)
	if !ok {
		return Session{}, perr(f, ErrMalformed, "bad primary dc", -1)
	}
	ex := &MtcuteExtra{
		LegacyTestFlag: flags&mtcuteFlagTest != 0,
		PrimaryVersion: primary.Version,
		PrimaryFlags:   primary.Flags,
	}
	if flags&mtcuteFlagMedia != 0 {
		raw, ok := r.bytes()
		if !ok {
			return Session{}, perr(f, ErrMalformed, "bad media dc", -1)
		}
		media, ok := parseMtcuteDC(raw)
		if !ok {
			return Session{}, perr(f, ErrMalformed, "bad media dc", -1)
		}
		ex.Media = &media
	}
	sess := Session{
		DCID:     primary.DCID,
		Host:     Some(primary.Host),
		Port:     Some(primary.Port),
		TestMode: Some(primary.Flags&dcFlagTest != 0 || ex.LegacyTestFlag),
		Extra:    Extra{Mtcute: ex},
	}
	if flags&mtcuteFlagSelf != 0 {
		user, ok1 := r.uint64()
		bot, ok2 := r.uint32()
		if !ok1 || !ok2 || bot != tlBoolTrue && bot != tlBoolFalse {
			return Session{}, perr(f, ErrMalformed, "bad self info", -1)
		}
		sess.UserID = Some(int64(user))
		sess.IsBot = Some(bot == tlBoolTrue)
	}
	key, ok := r.bytes()
	if !ok || len(key) != AuthKeySize {
		return Session{}, perr(f, ErrMalformed, "bad auth key field", -1)
	}
	if !r.done() {
		return Session{}, perr(f, ErrMalformed, "trailing data", -1)
	}
	k, kerr := NewAuthKey(key)
	if kerr != nil {
		return Session{}, deep(perr(f, ErrInvalidKey, "auth key is all zero", -1))
	}
	sess.AuthKey = k
	return sess, nil
}

// encodeMtcute writes an mtcute version 3 string. An unknown TestMode is
// written as production, as mtcute's own converters do; the media DC is
// written only when Extra.Mtcute has one; self info only when UserID is
// known (IsBot unknown counts as false).
func encodeMtcute(s Session) (string, error) {
	const f = Mtcute
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
	primary := MtcuteDC{Version: 2, DCID: s.DCID, Host: host, Port: port}
	if strings.Contains(host, ":") {
		primary.Flags = dcFlagIPv6
	}
	legacy := false
	ex := s.Extra.Mtcute
	if ex != nil && (ex.PrimaryVersion == 1 || ex.PrimaryVersion == 2) {
		primary.Version, primary.Flags, legacy = ex.PrimaryVersion, ex.PrimaryFlags, ex.LegacyTestFlag
	}
	if primary.Version == 1 {
		primary.Flags &^= dcFlagTest
	}
	if !s.TestMode.Or(false) {
		primary.Flags &^= dcFlagTest
		legacy = false
	} else if !legacy && primary.Flags&dcFlagTest == 0 {
		if primary.Version == 2 {
			primary.Flags |= dcFlagTest
		} else {
			legacy = true
		}
	}
	var flags uint32
	user, self := s.UserID.Get()
	if self {
		flags |= mtcuteFlagSelf
	}
	if legacy {
		flags |= mtcuteFlagTest
	}
	if ex != nil && ex.Media != nil {
		flags |= mtcuteFlagMedia
	}
	b := make([]byte, 0, 360)
	b = append(b, mtcuteVersion)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b, ok = appendMtcuteDC(b, primary)
	if !ok {
		return "", &InvalidFieldError{Format: f, Field: "host", Reason: "not a valid host, or port not in 0..65535"}
	}
	if flags&mtcuteFlagMedia != 0 {
		if b, ok = appendMtcuteDC(b, *ex.Media); !ok {
			return "", &InvalidFieldError{Format: f, Field: "media dc", Reason: "invalid media dc option"}
		}
	}
	if self {
		b = binary.LittleEndian.AppendUint64(b, uint64(user))
		if s.IsBot.Or(false) {
			b = binary.LittleEndian.AppendUint32(b, tlBoolTrue)
		} else {
			b = binary.LittleEndian.AppendUint32(b, tlBoolFalse)
		}
	}
	b = appendTLBytes(b, s.AuthKey.AppendTo(make([]byte, 0, AuthKeySize)))
	return wipeEncode(base64.RawURLEncoding, "", b), nil
}

// rleDecode undoes Telegram's zero-run encoding (00 <count>), accepting
// only the canonical form: no zero counts, and a run continued by another
// run only after a full 255.
func rleDecode(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b)+64)
	prevRun := -1
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			out = append(out, b[i])
			prevRun = -1
			continue
		}
		if i+1 >= len(b) || b[i+1] == 0 || prevRun >= 0 && prevRun < 255 {
			return nil, false
		}
		n := int(b[i+1])
		for range n {
			out = append(out, 0)
		}
		prevRun = n
		i++
	}
	return out, true
}

// rleEncode applies Telegram's zero-run encoding. Runs longer than 255 are
// split (mtcute's encoder would overflow the count byte instead).
func rleEncode(b []byte) []byte {
	out := make([]byte, 0, len(b))
	run := 0
	for _, c := range b {
		if c == 0 {
			run++
			if run == 255 {
				out = append(out, 0, 255)
				run = 0
			}
			continue
		}
		if run > 0 {
			out = append(out, 0, byte(run))
			run = 0
		}
		out = append(out, c)
	}
	if run > 0 {
		out = append(out, 0, byte(run))
	}
	return out
}

const mtkrutoTrailerLen = 4 + 1 + 8

// decodeMTKruto reads an MTKruto auth string: RLE of TL string dc ("2" or
// "2-test"), TL bytes key, and optionally int32 LE api_id, a byte is_bot
// and int64 LE user_id.
func decodeMTKruto(s string, base int) (Session, *ParseError) {
	const f = MTKruto
	raw, err := decodeB64(f, s, base)
	if err != nil {
		return Session{}, err
	}
	defer clear(raw)
	b, ok := rleDecode(raw)
	defer clear(b)
	if !ok {
		return Session{}, perr(f, ErrMalformed, "bad zero-run encoding", -1)
	}
	r := tlReader{b: b}
	dcText, ok := r.bytes()
	if !ok {
		return Session{}, perr(f, ErrMalformed, "bad dc field", -1)
	}
	num, test := strings.CutSuffix(string(dcText), "-test")
	dc, cerr := strconv.Atoi(num)
	if cerr != nil || dc < 1 || dc > 255 || strconv.Itoa(dc) != num {
		return Session{}, perr(f, ErrMalformed, "bad dc field", -1)
	}
	key, ok := r.bytes()
	if !ok || len(key) != AuthKeySize {
		return Session{}, perr(f, ErrMalformed, "bad auth key field", -1)
	}
	sess := Session{DCID: dc, TestMode: Some(test), Extra: Extra{MTKruto: &MTKrutoExtra{}}}
	switch len(b) - r.off {
	case 0:
	case mtkrutoTrailerLen:
		t := b[r.off:]
		if t[4] > 1 {
			return Session{}, deep(perr(f, ErrMalformed, "boolean byte is neither 0 nor 1", -1))
		}
		sess.APIID = Some(int32(binary.LittleEndian.Uint32(t)))
		sess.IsBot = Some(t[4] == 1)
		sess.UserID = Some(int64(binary.LittleEndian.Uint64(t[5:])))
		sess.Extra.MTKruto.Trailer = true
	default:
		return Session{}, perr(f, ErrMalformed, "trailing data", -1)
	}
	k, kerr := NewAuthKey(key)
	if kerr != nil {
		return Session{}, deep(perr(f, ErrInvalidKey, "auth key is all zero", -1))
	}
	sess.AuthKey = k
	return sess, nil
}

// encodeMTKruto writes an MTKruto auth string. The trailer is written when
// Extra.MTKruto says the source had one, or, without that record, when
// api_id, is_bot and user_id are all known. An unknown TestMode counts as
// production.
func encodeMTKruto(s Session) (string, error) {
	const f = MTKruto
	if err := checkCommon(f, s); err != nil {
		return "", err
	}
	trailer := s.APIID.Known() && s.IsBot.Known() && s.UserID.Known()
	if s.Extra.MTKruto != nil {
		trailer = s.Extra.MTKruto.Trailer
	}
	dc := strconv.Itoa(s.DCID)
	if s.TestMode.Or(false) {
		dc += "-test"
	}
	b := make([]byte, 0, 8+4+AuthKeySize+mtkrutoTrailerLen)
	b = appendTLBytes(b, []byte(dc))
	b = appendTLBytes(b, s.AuthKey.AppendTo(make([]byte, 0, AuthKeySize)))
	if trailer {
		api, ok := s.APIID.Get()
		if !ok {
			return "", &MissingFieldError{Format: f, Field: "api_id"}
		}
		bot, ok := s.IsBot.Get()
		if !ok {
			return "", &MissingFieldError{Format: f, Field: "is_bot"}
		}
		user, ok := s.UserID.Get()
		if !ok {
			return "", &MissingFieldError{Format: f, Field: "user_id"}
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(api))
		b = append(b, boolByte(bot))
		b = binary.LittleEndian.AppendUint64(b, uint64(user))
	}
	out := wipeEncode(base64.RawURLEncoding, "", rleEncode(b))
	clear(b)
	return out, nil
}
