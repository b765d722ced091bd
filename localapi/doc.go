// Package localapi is tgvault's local API: HTTP and JSON on a unix socket
// over a running pool (mtproto.Pool), served by `tgvault run` (Handler,
// ListenUnix) and used by every command that asks a running run (`call`,
// `status`, `relay`, `exec --relay`, `demo`) through Client, a method per
// route. Server and client share one route table (routes.go) and one set
// of wire types (wire.go): Account, Me, Peer, the relay's, and ErrorBody
// with its Kind; a client sees an error answer as an *Error whose class
// errors.Is finds (ErrNotFound, ErrBadCall, ErrRefused). The routes and the
// TL JSON convention are in README.md ("The local API") and package
// mtproto/tljson.
//
// The socket is made 0600 and, where the OS tells (Linux, FreeBSD:
// internal/peercred), connections from other users are refused. No
// answer carries an account's auth key.
//
// With run's MTProto relay (Options.Relay, package mtproto/relay) it also
// mints, lists and revokes relay sessions (relay.go): a mint answers the
// session string in the client library's format, the only secret the API
// ever hands out, worthless anywhere but at that relay; env.go is the
// environment a program is given with it (RelayMinted.Env).
//
// Layer rule (docs/ARCHITECTURE.md): localapi imports mtproto,
// mtproto/tljson, mtproto/relay, sessionstring, storage and
// internal/peercred; never vault, gotd or cmd.
package localapi
