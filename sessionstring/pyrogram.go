package sessionstring

import (
	"encoding/base64"
	"encoding/binary"
	"math"
)

const (
	pyroCurrentLen = 271 // >BI?256sQ?
	pyroOld32Len   = 263 // >B?256sI?
	pyroOld64Len   = 267 // >B?256sQ?
)

// decodePyrogram reads any of Pyrogram's three layouts, chosen by the
// decoded length (not, as Pyrogram does, by the string length).
func decodePyrogram(s string, base int) (Session, *ParseError) {
	const f = Pyrogram
	b, err := decodeB64(f, s, base)
	if err != nil {
		return Session{}, err
	}
	defer clear(b)
	var sess Session
	var key []byte
	var test, bot byte
	var user uint64
	switch len(b) {
	case pyroCurrentLen:
		api := binary.BigEndian.Uint32(b[1:5])
		if api > math.MaxInt32 {
			return Session{}, deep(perr(f, ErrMalformed, "api_id out of range", -1))
		}
		sess.APIID = Some(int32(api))
		test, key = b[5], b[6:262]
		user, bot = binary.BigEndian.Uint64(b[262:270]), b[270]
		sess.Extra.PyrogramLayout = PyrogramCurrent
	case pyroOld32Len:
		test, key = b[1], b[2:258]
		user, bot = uint64(binary.BigEndian.Uint32(b[258:262])), b[262]
		sess.Extra.PyrogramLayout = PyrogramOld32
	case pyroOld64Len:
		test, key = b[1], b[2:258]
		user, bot = binary.BigEndian.Uint64(b[258:266]), b[266]
		sess.Extra.PyrogramLayout = PyrogramOld64
	default:
		return Session{}, perr(f, ErrMalformed, "decoded length fits no layout", -1)
	}
	if b[0] == 0 {
		return Session{}, deep(perr(f, ErrMalformed, "dc id is 0", -1))
	}
	if test > 1 || bot > 1 {
		return Session{}, deep(perr(f, ErrMalformed, "boolean byte is neither 0 nor 1", -1))
	}
	if user > math.MaxInt64 {
		return Session{}, deep(perr(f, ErrMalformed, "user_id out of range", -1))
	}
	k, kerr := NewAuthKey(key)
	if kerr != nil {
		return Session{}, deep(perr(f, ErrInvalidKey, "auth key is all zero", -1))
	}
	sess.DCID = int(b[0])
	sess.TestMode = Some(test == 1)
	sess.AuthKey = k
	sess.UserID = Some(int64(user))
	sess.IsBot = Some(bot == 1)
	return sess, nil
}

// encodePyrogram writes the current layout, or the old layout recorded in
// Extra when api_id is unknown. A known api_id always gives the current
// layout, even for a session decoded from an old string.
func encodePyrogram(s Session) (string, error) {
	const f = Pyrogram
	layout := PyrogramCurrent
	api, apiOK := s.APIID.Get()
	if !apiOK {
		switch s.Extra.PyrogramLayout {
		case PyrogramOld32, PyrogramOld64:
			layout = s.Extra.PyrogramLayout
		default:
			return "", &MissingFieldError{Format: f, Field: "api_id"}
		}
	}
	if err := checkCommon(f, s); err != nil {
		return "", err
	}
	user, ok := s.UserID.Get()
	if !ok {
		return "", &MissingFieldError{Format: f, Field: "user_id"}
	}
	bot, ok := s.IsBot.Get()
	if !ok {
		return "", &MissingFieldError{Format: f, Field: "is_bot"}
	}
	test, ok := s.TestMode.Get()
	if !ok {
		return "", &MissingFieldError{Format: f, Field: "test_mode"}
	}
	if user < 0 {
		return "", &InvalidFieldError{Format: f, Field: "user_id", Reason: "negative"}
	}
	if api < 0 {
		return "", &InvalidFieldError{Format: f, Field: "api_id", Reason: "negative"}
	}
	b := make([]byte, 0, pyroCurrentLen)
	b = append(b, byte(s.DCID))
	switch layout {
	case PyrogramCurrent:
		b = binary.BigEndian.AppendUint32(b, uint32(api))
		b = append(b, boolByte(test))
		b = s.AuthKey.AppendTo(b)
		b = binary.BigEndian.AppendUint64(b, uint64(user))
	case PyrogramOld32:
		if user > math.MaxUint32 {
			return "", &InvalidFieldError{Format: f, Field: "user_id", Reason: "too large for the old 32-bit layout"}
		}
		b = append(b, boolByte(test))
		b = s.AuthKey.AppendTo(b)
		b = binary.BigEndian.AppendUint32(b, uint32(user))
	case PyrogramOld64:
		b = append(b, boolByte(test))
		b = s.AuthKey.AppendTo(b)
		b = binary.BigEndian.AppendUint64(b, uint64(user))
	}
	b = append(b, boolByte(bot))
	return wipeEncode(base64.RawURLEncoding, "", b), nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// checkCommon checks what every string format needs: a key and a dc id
// that fits one byte.
func checkCommon(f Format, s Session) error {
	if s.AuthKey.IsZero() {
		return &MissingFieldError{Format: f, Field: "auth_key"}
	}
	if s.DCID < 1 || s.DCID > 255 {
		return &InvalidFieldError{Format: f, Field: "dc_id", Reason: "not in 1..255"}
	}
	return nil
}
