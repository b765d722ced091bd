package sessionstring

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
)

// gotdZeroConfig is how encoding/json writes gotd's zero session.Config.
const gotdZeroConfig = `{"BlockedMode":false,"ForceTryIpv6":false,"Date":0,"Expires":0,"TestMode":false,"ThisDC":0,"DCOptions":null,"DCTxtDomainName":"","TmpSessions":0,"WebfileDCID":0}`

type gotdFile struct {
	Version *int
	Data    json.RawMessage
}

// gotdData mirrors gotd's session.Data field order, which encoding/json
// follows when writing.
type gotdData struct {
	Config    json.RawMessage
	DC        int
	Addr      string
	AuthKey   []byte
	AuthKeyID []byte
	Salt      int64
}

type gotdFileOut struct {
	Version int
	Data    gotdData
}

func strictJSON(s string, v any) (off int, err error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return int(se.Offset), err
		}
		return -1, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return int(dec.InputOffset()), errors.New("trailing data")
	}
	return -1, nil
}

// gotdReason describes a strictJSON failure of gotd's data in fixed words:
// json's own messages quote the input (an unknown field's name).
func gotdReason(what string, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var be base64.CorruptInputError
	switch {
	case errors.As(err, &se):
		return what + " is not valid JSON"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return what + " is not valid JSON (it ends too early)"
	case errors.As(err, &te) && gotdFieldNames[te.Field] != "":
		return "its " + gotdFieldNames[te.Field] + " has the wrong JSON type"
	case errors.As(err, &te):
		return what + " has a value of the wrong JSON type"
	case errors.As(err, &be):
		return "its auth key or key id is not base64"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return what + " has a field gotd does not write"
	case err.Error() == "trailing data":
		return "data after the JSON object"
	}
	return what + " cannot be read"
}

// gotdFieldNames names gotd's fields in errors (in words: the error must
// not quote the input, which holds the field names).
var gotdFieldNames = map[string]string{
	"Version": "version", "Data": "data", "DC": "dc id", "Addr": "address",
	"AuthKey": "auth key", "AuthKeyID": "auth key id", "Salt": "salt", "Config": "config",
}

// decodeGotd reads a gotd session file, Version 1. Other versions are
// ErrUnknownVersion (gotd itself would say "not found" and log in afresh).
// A JSON object with neither Version nor Data is not a gotd session at all
// (ErrUnknownFormat); one with them says what is wrong with it.
//
// Long: gotd's file is JSON inside JSON; the checks of each layer come in
// order, each naming the position of what is wrong, and read best as the
// format's one description.
func decodeGotd(s string, base int) (Session, *ParseError) {
	const f = Gotd
	var top map[string]json.RawMessage
	if off, err := strictJSON(s, &top); err != nil || top == nil {
		if off >= 0 {
			off += base
		}
		if err == nil || errors.As(err, new(*json.UnmarshalTypeError)) {
			return Session{}, perr(Unknown, ErrUnknownFormat, "JSON that is not an object: not a session", -1)
		}
		// Broken JSON: a gotd file if it names gotd's fields.
		g := Unknown
		if strings.Contains(s, `"Version"`) || strings.Contains(s, `"Data"`) {
			g = f
		}
		return Session{}, perr(g, ErrMalformed, gotdReason("the JSON", err), off)
	}
	_, hasV := top["Version"]
	_, hasD := top["Data"]
	if !hasV && !hasD {
		return Session{}, perr(Unknown, ErrUnknownFormat, "a JSON object without Version and Data: not a session (a gotd session file has both)", -1)
	}
	var file gotdFile
	if _, err := strictJSON(s, &file); err != nil {
		return Session{}, deep(perr(f, ErrMalformed, gotdReason("the file", err), -1))
	}
	if file.Version == nil {
		return Session{}, deep(perr(f, ErrUnknownVersion, "no version field", -1))
	}
	if *file.Version != 1 {
		return Session{}, deep(perr(f, ErrUnknownVersion, "unsupported version", -1))
	}
	if len(file.Data) == 0 || file.Data[0] != '{' {
		return Session{}, deep(perr(f, ErrMalformed, "data is not an object", -1))
	}
	var d gotdData
	if _, err := strictJSON(string(file.Data), &d); err != nil {
		return Session{}, deep(perr(f, ErrMalformed, gotdReason("Data", err), -1))
	}
	if d.DC < 1 || d.DC > math.MaxInt32 {
		return Session{}, deep(perr(f, ErrMalformed, "dc id out of range", -1))
	}
	k, err := NewAuthKey(d.AuthKey)
	defer clear(d.AuthKey)
	if err != nil {
		return Session{}, deep(perr(f, ErrInvalidKey, "auth key is not 256 non-zero bytes", -1))
	}
	sum := sha1.Sum(d.AuthKey)
	if !bytes.Equal(d.AuthKeyID, sum[12:20]) {
		return Session{}, deep(perr(f, ErrInvalidKey, "auth key id does not match the key", -1))
	}
	ex := &GotdExtra{Addr: d.Addr, Salt: d.Salt}
	sess := Session{DCID: d.DC, AuthKey: k, Extra: Extra{Gotd: ex}}
	sess.Host, sess.Port = parseGotdAddr(d.Addr)
	if c := bytes.TrimSpace(d.Config); len(c) > 0 && !bytes.Equal(c, []byte("null")) {
		if c[0] != '{' {
			return Session{}, deep(perr(f, ErrMalformed, "config is not an object", -1))
		}
		var cfg struct {
			Date     int64
			TestMode bool
		}
		if json.Unmarshal(c, &cfg) != nil {
			return Session{}, deep(perr(f, ErrMalformed, "bad config object", -1))
		}
		norm, err := json.Marshal(json.RawMessage(c))
		if err != nil {
			return Session{}, deep(perr(f, ErrMalformed, "bad config object", -1))
		}
		if string(norm) != gotdZeroConfig {
			ex.Config = norm
		}
		// The config is only meaningful once gotd fetched it from the
		// server; its zero Date means it never did.
		if cfg.Date != 0 {
			sess.TestMode = Some(cfg.TestMode)
		}
	}
	if h, ok := sess.Host.Get(); ok && !sess.TestMode.Known() {
		// No config from the server: the address says it, as for a
		// Telethon string.
		sess.TestMode = TestModeOfAddress(h)
	}
	return sess, nil
}

// parseGotdAddr splits gotd's Addr: "ip:port", "[ipv6]:port", or a bare
// address. Anything else leaves both unknown (the text stays in Extra).
func parseGotdAddr(addr string) (Opt[string], Opt[int]) {
	if addr == "" {
		return None[string](), None[int]()
	}
	if h, p, err := net.SplitHostPort(addr); err == nil && validHost(h) {
		if port, err := strconv.Atoi(p); err == nil && port >= 0 && port <= 65535 && strconv.Itoa(port) == p {
			return Some(h), Some(port)
		}
		return None[string](), None[int]()
	}
	if validHost(addr) {
		return Some(addr), None[int]()
	}
	return None[string](), None[int]()
}

func gotdAddr(s Session) string {
	if ex := s.Extra.Gotd; ex != nil {
		h, p := parseGotdAddr(ex.Addr)
		if h == s.Host && p == s.Port {
			return ex.Addr
		}
	}
	host, ok := s.Host.Get()
	if !ok {
		return ""
	}
	if port, ok := s.Port.Get(); ok {
		return net.JoinHostPort(host, strconv.Itoa(port))
	}
	return host
}

// encodeGotd writes gotd's session file exactly as gotd's Loader.Save does
// (encoding/json, no trailing newline). Salt and Config come from
// Extra.Gotd; without it they are gotd's zero values.
func encodeGotd(s Session) (string, error) {
	const f = Gotd
	if s.AuthKey.IsZero() {
		return "", &MissingFieldError{Format: f, Field: "auth_key"}
	}
	if s.DCID < 1 || s.DCID > math.MaxInt32 {
		return "", &InvalidFieldError{Format: f, Field: "dc_id", Reason: "not positive"}
	}
	if h, ok := s.Host.Get(); ok && !validHost(h) {
		return "", &InvalidFieldError{Format: f, Field: "host", Reason: "not a valid host"}
	}
	if p, ok := s.Port.Get(); ok && (p < 0 || p > 65535) {
		return "", &InvalidFieldError{Format: f, Field: "port", Reason: "not in 0..65535"}
	}
	key := s.AuthKey.Bytes()
	sum := sha1.Sum(key)
	out := gotdFileOut{Version: 1, Data: gotdData{
		Config:    json.RawMessage(gotdZeroConfig),
		DC:        s.DCID,
		Addr:      gotdAddr(s),
		AuthKey:   key,
		AuthKeyID: sum[12:20],
	}}
	if ex := s.Extra.Gotd; ex != nil {
		out.Data.Salt = ex.Salt
		if len(ex.Config) > 0 {
			out.Data.Config = ex.Config
		}
	}
	b, err := json.Marshal(out)
	clear(key)
	if err != nil {
		return "", &InvalidFieldError{Format: f, Field: "config", Reason: "Extra.Gotd.Config is not valid JSON"}
	}
	return string(b), nil
}
