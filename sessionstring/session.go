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

// sessionJSON is Session's JSON form: the key is replaced by its id.
type sessionJSON struct {
	DCID      int
	APIID     Opt[int32]
	TestMode  Opt[bool]
	AuthKeyID *string
	UserID    Opt[int64]
	IsBot     Opt[bool]
	Host      Opt[string]
	Port      Opt[int]
	Extra     Extra
}

// MarshalJSON writes the session without its auth key: the key appears only
// as its key id (AuthKeyID, 16 hex digits, null without a key). Unknown
// fields are null. The output is for display and logs; it cannot be decoded
// back into a usable session.
func (s Session) MarshalJSON() ([]byte, error) {
	j := sessionJSON{
		DCID: s.DCID, APIID: s.APIID, TestMode: s.TestMode, UserID: s.UserID,
		IsBot: s.IsBot, Host: s.Host, Port: s.Port, Extra: s.Extra,
	}
	if !s.AuthKey.IsZero() {
		id := s.AuthKey.ID().String()
		j.AuthKeyID = &id
	}
	return json.Marshal(j)
}
