// Package mtproto connects tgvault's accounts to Telegram through
// github.com/gotd/td. It owns the gotd adapter (a session storage backed by
// one account's storage.Storage), the login flows, the multi-account pool,
// the local API and, in package devserver, a local Telegram-like server for
// tests and demos.
//
// It is the only package of tgvault that imports gotd; gotd packages are
// imported under fixed aliases (tdtelegram, tdsession, tdcrypto, tdtg, ...)
// so that they never clash with ours. It never imports cmd.
//
// The adapter fails closed. gotd starts a fresh key exchange whenever a
// session load says "not found", and stores a new key over the authorized
// one when the server has lost the key or the primary DC migrates; both
// silently destroy a login. Here a load failure stays the failure it is, a
// store that has no key may only be filled during a login (LoginBot,
// LoginUser), a -404 for a stored key stops the client before gotd makes a
// new one, and a key that differs from the authorized one is never stored:
// the account is reported through OnKeyLost and its client is stopped.
// Every connect has a deadline (gotd alone retries an unreachable DC
// forever). Auth keys stay sessionstring.AuthKey values until the gotd
// boundary and are never logged; errors name keys by key id only, and never
// carry phone numbers, codes, passwords or bot tokens.
//
// Every RPC result's users and chats feed the account's peer cache with
// Pyrogram's rules (PeersOf), and so do the users and chats of pushed
// updates. Every call waits out a FLOOD_WAIT (up to Options.MaxFloodWait)
// and is sent again; gotd alone does not. A Pool keeps many accounts
// connected with bounded concurrent connects and back-off, a keep-alive
// call per ready account, per-account update fan-out and atomic counters
// (WriteMetrics), update subscriptions (Subscribe), and never creates
// keys; package localapi serves it over a unix socket, raw method calls
// included: Client.InvokeTL (InvokeCall) takes any
// TL method as JSON and answers its result as JSON (package tljson, a codec
// over gotd's type maps), and refuses the methods that could export,
// replace or end the login (tljson.RefusedMethod).
//
// How an account connects (its server, api_hash, proxy and device) is kept
// in its tgvault_meta table under the keys of settings.go, read for run by
// LoadOptions and written at login by SaveLogin; docs/design.md §1.4 lists
// every meta key.
//
// For a fleet worker (whose accounts another worker takes over when its
// lease lapses) a client arms Telegram's ping_delay_disconnect on every
// connection before anything else (Options.DeadMan: the server closes the
// connections of a process that stopped), and writes nothing past its
// lease's deadline (Options.Fence, checked right before the socket).
//
// A client connects directly, through a dialer (Options.Dial, a SOCKS5
// proxy, say) or through an MTProxy (Options.MTProxy: gotd's obfuscated2
// and fake-TLS transports, the proxy routing by DC id); package dial (below
// mtproto, importing no tgvault package) has the SOCKS5 dialer, the
// MTProxy secrets and the proxy URLs. MTProxy secrets are credentials and
// never appear in errors or logs.
package mtproto
