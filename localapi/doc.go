// Package localapi is tgvault's local API: HTTP and JSON on a unix socket
// over a running pool (mtproto.Pool), served by `tgvault run` (Handler,
// ListenUnix) and used by `tgvault call` and `tgvault status` (Client).
// Server and client share one set of wire types (wire.go): Account, Me,
// Peer, and ErrorBody with its Kind. The routes and the TL JSON convention
// are in README.md ("The local API") and package mtproto/tljson.
//
// The socket is made 0600 and, where the OS tells (Linux, FreeBSD:
// internal/peercred), connections from other users are refused. No
// answer carries an account's auth key.
//
// With run's MTProto relay (Options.Relay, package mtproto/relay) it also
// mints, lists and revokes relay sessions (relay.go): a mint answers the
// session string in the client library's format, the only secret the API
// ever hands out, worthless anywhere but at that relay.
//
// Layer rule (docs/ARCHITECTURE.md): localapi imports mtproto,
// mtproto/tljson, mtproto/relay, sessionstring, storage and
// internal/peercred; never vault, gotd or cmd.
package localapi
