package sessionstring

import "encoding/json"

// Session is the neutral form of one Telegram session, whatever library made
// it. A field that the source format does not carry is unknown (a zero Opt),
// never a made-up zero. DCID is the one field every format carries.
//
// Extra holds what a format carries beyond these fields (which Pyrogram layout
// a string used, mtcute's media DC, gotd's salt and config, ...), so that
// decoding a string and encoding it again in the same format gives back the
// same bytes.
type Session struct {
	DCID     int
	APIID    Opt[int32]
	TestMode Opt[bool]
	AuthKey  AuthKey
	UserID   Opt[int64]
	IsBot    Opt[bool]
	// Host is the server address as the source gave it: an IPv4 or IPv6
	// literal, or (GramJS) a hostname. Port is its TCP port.
	Host Opt[string]
	Port Opt[int]

	Extra Extra
}

// sessionJSON is Session's JSON form, with the snake_case names tgvault
// prints everywhere: the key is replaced by its id.
type sessionJSON struct {
	DCID      int         `json:"dc_id"`
	APIID     Opt[int32]  `json:"api_id"`
	TestMode  Opt[bool]   `json:"test_mode"`
	AuthKeyID *string     `json:"auth_key_id"`
	UserID    Opt[int64]  `json:"user_id"`
	IsBot     Opt[bool]   `json:"is_bot"`
	Host      Opt[string] `json:"host"`
	Port      Opt[int]    `json:"port"`
	Extra     extraJSON   `json:"extra"`
}

// extraJSON shows Extra in the same naming. (Extra's own JSON form, with
// Go's field names, is what the vault stores; it does not change.)
type extraJSON struct {
	PyrogramLayout string       `json:"pyrogram_layout,omitempty"`
	GramJSLayout   string       `json:"gramjs_layout,omitempty"`
	Mtcute         *mtcuteJSON  `json:"mtcute,omitempty"`
	MTKruto        *mtkrutoJSON `json:"mtkruto,omitempty"`
	Gotd           *gotdJSON    `json:"gotd,omitempty"`
}

type mtcuteDCJSON struct {
	Version int    `json:"version"`
	DCID    int    `json:"dc_id"`
	Flags   int    `json:"flags"`
	Host    string `json:"host"`
	Port    int    `json:"port"`
}

type mtcuteJSON struct {
	LegacyTestFlag bool          `json:"legacy_test_flag,omitempty"`
	PrimaryVersion int           `json:"primary_version"`
	PrimaryFlags   int           `json:"primary_flags"`
	Media          *mtcuteDCJSON `json:"media,omitempty"`
}

type mtkrutoJSON struct {
	Trailer bool `json:"trailer"`
}

type gotdJSON struct {
	Addr   string          `json:"addr"`
	Salt   int64           `json:"salt"`
	Config json.RawMessage `json:"config,omitempty"`
}

var pyrogramLayoutNames = map[PyrogramLayout]string{PyrogramOld32: "old32", PyrogramOld64: "old64"}

func extraView(e Extra) extraJSON {
	x := extraJSON{PyrogramLayout: pyrogramLayoutNames[e.PyrogramLayout]}
	if e.GramJSLayout == GramJSTelethon {
		x.GramJSLayout = "telethon"
	}
	if m := e.Mtcute; m != nil {
		x.Mtcute = &mtcuteJSON{LegacyTestFlag: m.LegacyTestFlag, PrimaryVersion: m.PrimaryVersion, PrimaryFlags: m.PrimaryFlags}
		if d := m.Media; d != nil {
			x.Mtcute.Media = &mtcuteDCJSON{Version: d.Version, DCID: d.DCID, Flags: d.Flags, Host: d.Host, Port: d.Port}
		}
	}
	if k := e.MTKruto; k != nil {
		x.MTKruto = &mtkrutoJSON{Trailer: k.Trailer}
	}
	if g := e.Gotd; g != nil {
		x.Gotd = &gotdJSON{Addr: g.Addr, Salt: g.Salt, Config: g.Config}
	}
	return x
}

// MarshalJSON writes the session without its auth key: the key appears only
// as its key id (auth_key_id, 16 hex digits, null without a key). Unknown
// fields are null; names are snake_case (dc_id, api_id, test_mode, ...), as
// tgvault's show and list print them. The output is for display and logs;
// it cannot be decoded back into a usable session.
func (s Session) MarshalJSON() ([]byte, error) {
	j := sessionJSON{
		DCID: s.DCID, APIID: s.APIID, TestMode: s.TestMode, UserID: s.UserID,
		IsBot: s.IsBot, Host: s.Host, Port: s.Port, Extra: extraView(s.Extra),
	}
	if !s.AuthKey.IsZero() {
		id := s.AuthKey.ID().String()
		j.AuthKeyID = &id
	}
	return json.Marshal(j)
}
