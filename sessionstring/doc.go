// Package sessionstring decodes and encodes the session formats of
// Telegram client libraries: Pyrogram (and its forks) session strings,
// Telethon and GramJS StringSessions, mtcute v3 string sessions, MTKruto
// auth strings and gotd session files (JSON, Version 1).
//
// It owns three things: the pure codecs (Decode, DecodeAs, Encode), the
// neutral Session that every format is read into and written from, and the
// redacted AuthKey type that keeps the key out of logs, fmt output and
// JSON. Writers are byte-identical to what each library writes, and
// format-specific details travel in Session.Extra so that a round trip
// through one format gives back the same bytes.
//
// Readers are tolerant where it is safe (surrounding whitespace, base64
// padding present or not, either base64 alphabet) and strict elsewhere.
// Every decoding failure is a *ParseError wrapping one of the sentinels in
// errors.go; no error ever contains any part of the input.
//
// Decisions per format, where the libraries leave room:
//
//   - Pyrogram: the layout (current 271 bytes, old 263 or 267) is chosen by
//     the decoded length, not the string length, and recorded in
//     Extra.PyrogramLayout. Encode writes the current layout, which needs
//     api_id, user_id, is_bot and test_mode; with api_id unknown it writes
//     the recorded old layout, or fails with a *MissingFieldError.
//   - Telethon and GramJS carry no test flag. TestMode is inferred only
//     from Telegram's own addresses, with the one table of them in
//     address.go (DCAddresses; every address checked against Pyrogram's,
//     Telethon's, GramJS's, mtcute's, Telegram Desktop's and gotd's
//     tables): known true for a test DC, known false for a production
//     one, unknown for anything else. The Telethon .session reader of
//     package storage uses the same table.
//   - GramJS also reads Telethon strings; Extra.GramJSLayout records that,
//     and encoding such a session as GramJS writes Telethon's exact text.
//   - Damaged strings are never taken for another format. A GramJS string
//     whose length field is off fits Telethon's IPv6 layout (Telethon
//     itself reads it, with an "address" made of the host's text): the
//     Telethon reader refuses an IPv6 address whose bytes are text, and
//     Decode reads a string in the standard alphabet (GramJS's; Telethon
//     writes URL-safe) as Telethon's layout only where GramJS itself does.
//     Such input is ErrMalformed, and the ParseError names the format it
//     most likely is.
//   - mtcute and MTKruto write an unknown TestMode as production, as
//     mtcute's own converters do. MTKruto's api_id/is_bot/user_id trailer
//     is written when Extra.MTKruto says the source had it or, with no
//     record, when all three are known.
//   - gotd: only Version 1; any other version is ErrUnknownVersion, never
//     "not found". A JSON object without Version and Data is not a session
//     (ErrUnknownFormat); a broken gotd file says what is wrong. AuthKeyID
//     must match the key. Salt, Addr and Config are kept in Extra.Gotd.
//     TestMode comes from Config when the config was fetched (non-zero
//     Date), else from the address, as for Telethon.
//
// The package does no I/O and keeps no state; all functions are safe for
// concurrent use. It must never import anything but the standard library
// (internal/deptest checks it), so that it can be audited on its own.
package sessionstring
