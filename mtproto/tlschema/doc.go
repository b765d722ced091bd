// Package tlschema knows Telegram's TL schemas by layer, and decodes TL
// bytes by them without generated types: where each object and field of
// a message lies, so that a program can read a method's name, find a
// peer in a query, or cut an object out of a result, and leave every
// other byte as it came.
//
// The schemas of the layers that tgvault's relay serves are embedded
// (data/, written by gen from their sources and checked against them by
// TestSourcesMatch): 144 (Telethon 1.25.1), 198 (GramJS 2.26.22), 225
// (mtcute 0.29.7) and 229 (gotd v0.162.0), with MTProto's own. A
// constructor id is the CRC32 of its combinator's text, so one id has one
// layout in every layer; All is the union of the layers, and bytes of any
// of them (or of a layer between them, for the constructors they share)
// decode with it. An id none of them has is ErrUnknownConstructor: a
// caller that must understand the bytes fails closed on it.
//
// Layer rule: tlschema imports the standard library only (its tests use
// gotd to make bytes); the relay and the dev server use it.
package tlschema
