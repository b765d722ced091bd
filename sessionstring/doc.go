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
//     from Telegram's own addresses: known true for its test DCs, known
//     false for its production DCs (main, media and IPv6 addresses in the
//     Pyrogram, mtcute and Telethon tables), unknown for anything else.
//   - GramJS also reads Telethon strings; Extra.GramJSLayout records that,
//     and encoding such a session as GramJS writes Telethon's exact text.
//     Decode prefers the GramJS reading of a string both accept when its
//     host is a valid address, and reports the ambiguity.
//   - mtcute and MTKruto write an unknown TestMode as production, as
//     mtcute's own converters do. MTKruto's api_id/is_bot/user_id trailer
//     is written when Extra.MTKruto says the source had it or, with no
//     record, when all three are known.
//   - gotd: only Version 1; any other version is ErrUnknownVersion, never
//     "not found". AuthKeyID must match the key. Salt, Addr and Config are
//     kept in Extra.Gotd. TestMode comes from Config only when the config
//     was fetched (non-zero Date).
//
// The package does no I/O and keeps no state; all functions are safe for
// concurrent use. It must never import anything but the standard library
// (deps_test.go enforces this), so that it can be audited on its own.
package sessionstring
