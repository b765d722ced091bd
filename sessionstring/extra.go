package sessionstring

import "encoding/json"

// Extra holds format-specific data that travels with a Session so that a
// round trip through the same format is byte-exact. Each field is set only
// by the decoder of its format and read only by the encoder of that format;
// the other encoders ignore it. The zero Extra makes every encoder write its
// library's default layout.
type Extra struct {
	// PyrogramLayout is the Pyrogram string layout that was decoded.
	PyrogramLayout PyrogramLayout `json:",omitempty"`
	// GramJSLayout is the layout a GramJS string used.
	GramJSLayout GramJSLayout `json:",omitempty"`
	// Mtcute keeps the mtcute details the neutral Session has no room for.
	Mtcute *MtcuteExtra `json:",omitempty"`
	// MTKruto records whether an MTKruto string had the api_id/is_bot/
	// user_id trailer.
	MTKruto *MTKrutoExtra `json:",omitempty"`
	// Gotd keeps the gotd session fields the neutral Session has no room for.
	Gotd *GotdExtra `json:",omitempty"`
}

// PyrogramLayout is one of Pyrogram's three session-string layouts.
type PyrogramLayout int

const (
	// PyrogramCurrent is the v2.0+ layout `>BI?256sQ?` (271 bytes). It is
	// the zero value and what Encode writes unless told otherwise.
	PyrogramCurrent PyrogramLayout = iota
	// PyrogramOld32 is the v0.15–v1.4 layout `>B?256sI?` (263 bytes).
	PyrogramOld32
	// PyrogramOld64 is the v1.3–v1.4 layout `>B?256sQ?` (267 bytes), also
	// what mtcute writes when it has no api_id.
	PyrogramOld64
)

// GramJSLayout tells which of the layouts GramJS reads a string used.
type GramJSLayout int

const (
	// GramJSNative is GramJS's own `[dc][i16 len][host][i16 port][key]`
	// layout in standard base64. It is the zero value.
	GramJSNative GramJSLayout = iota
	// GramJSTelethon is a Telethon StringSession (IPv4 or IPv6 layout),
	// which GramJS also reads. Encoding it writes Telethon's exact text
	// (base64url with padding).
	GramJSTelethon
)

// MtcuteDC is one mtcute "basic DC option".
type MtcuteDC struct {
	// Version is the option's format version: 1 or 2.
	Version int
	DCID    int
	// Flags: 1 = IPv6, 2 = media only, 4 = test mode (version 2 only).
	Flags int
	Host  string
	Port  int
}

// MtcuteExtra keeps what an mtcute v3 string carries beyond the Session.
type MtcuteExtra struct {
	// LegacyTestFlag records the outer flags bit 1 (test mode, written
	// before per-DC test flags existed).
	LegacyTestFlag bool `json:",omitempty"`
	// PrimaryVersion and PrimaryFlags are the primary DC option's format
	// version and raw flags.
	PrimaryVersion int
	PrimaryFlags   int
	// Media is the separate media DC (outer flags bit 2), or nil when the
	// string had none (mtcute then uses the primary DC for media).
	Media *MtcuteDC `json:",omitempty"`
}

// MTKrutoExtra records the MTKruto generation a string came from.
type MTKrutoExtra struct {
	// Trailer is true when the string had the int32 api_id, is_bot byte and
	// int64 user_id after the key (current MTKruto); false for the
	// dc-and-key-only form (MTKruto 0.1.x, mtcute).
	Trailer bool
}

// GotdExtra keeps what a gotd session file carries beyond the Session.
type GotdExtra struct {
	// Addr is the Addr field exactly as it was: "ip:port", a bare IP, or "".
	// Encode reuses it when it still agrees with Session.Host and Port.
	Addr string
	// Salt is the server salt.
	Salt int64
	// Config is the Config object, compacted as encoding/json writes it, or
	// nil for gotd's zero Config.
	Config json.RawMessage `json:",omitempty"`
}
