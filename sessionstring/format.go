package sessionstring

import "strings"

// Format names a session format.
type Format int

// The supported formats. The zero Format is Unknown.
const (
	Unknown  Format = iota
	Pyrogram        // Pyrogram / PyroFork / Kurigram session string
	Telethon        // Telethon StringSession
	GramJS          // GramJS StringSession
	Mtcute          // mtcute string session, version 3
	MTKruto         // MTKruto auth string
	Gotd            // gotd/td session JSON, {"Version":1,"Data":{...}}
)

var allFormats = [...]Format{Pyrogram, Telethon, GramJS, Mtcute, MTKruto, Gotd}

// Formats returns every supported format, in the order of the constants.
// The caller owns the returned slice.
func Formats() []Format { return append([]Format(nil), allFormats[:]...) }

var formatNames = [...]string{
	Unknown:  "unknown",
	Pyrogram: "pyrogram",
	Telethon: "telethon",
	GramJS:   "gramjs",
	Mtcute:   "mtcute",
	MTKruto:  "mtkruto",
	Gotd:     "gotd",
}

// String returns the format's lower-case name ("pyrogram", "telethon", ...).
func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "unknown"
}

// ParseFormat returns the format with the given name, as returned by
// String. Case and surrounding space are ignored. An unknown name gives an
// error wrapping ErrUnknownFormat.
func ParseFormat(name string) (Format, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, f := range allFormats {
		if formatNames[f] == n {
			return f, nil
		}
	}
	return Unknown, perr(Unknown, ErrUnknownFormat, "unknown format name", -1)
}
