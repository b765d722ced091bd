package relay

import (
	"fmt"
	"slices"
	"strings"

	tdcrypto "github.com/gotd/td/crypto"

	"github.com/tgvault/tgvault/sessionstring"
)

// ClientFormats are the string formats a relay session is handed out in:
// the libraries the relay serves.
var ClientFormats = []sessionstring.Format{
	sessionstring.Telethon, sessionstring.GramJS, sessionstring.Mtcute, sessionstring.Pyrogram, sessionstring.Gotd,
}

// ClientFormatNames lists ClientFormats by name ("telethon, gramjs, …"),
// for messages and help.
func ClientFormatNames() string {
	names := make([]string, len(ClientFormats))
	for i, f := range ClientFormats {
		names[i] = f.String()
	}
	return strings.Join(names, ", ")
}

// ViaSOCKS reports whether a client library of format f must reach the
// relay through its SOCKS5 front: GramJS (its strings keep the port as an
// int16 and it dials other DCs on port 443 whatever it is told) and
// Pyrogram (its strings carry no address). Telethon, mtcute and gotd
// strings carry the relay's own address.
func ViaSOCKS(f sessionstring.Format) bool {
	return f == sessionstring.GramJS || f == sessionstring.Pyrogram
}

// ClientString encodes the minted session in a client library's own
// string format: SessionString (the relay's address) or, for a library
// that must come through the SOCKS5 front (ViaSOCKS),
// SOCKSSessionString. The string is a secret for as long as the session
// lives.
func (m Minted) ClientString(f sessionstring.Format) (string, error) {
	if !slices.Contains(ClientFormats, f) {
		return "", fmt.Errorf("relay: no client of format %s is served", f)
	}
	s := m.SessionString()
	if ViaSOCKS(f) {
		var err error
		if s, err = m.SOCKSSessionString(); err != nil {
			return "", err
		}
	}
	return sessionstring.Encode(f, s)
}

// PublicKeyFingerprint is the fingerprint of the relay's RSA key, by which
// MTProto names it in a key exchange (GramJS keys its table of trusted
// keys by it).
func (r *Relay) PublicKeyFingerprint() int64 { return tdcrypto.RSAFingerprint(r.PublicKey()) }
