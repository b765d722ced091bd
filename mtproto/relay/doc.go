// Package relay is tgvault's MTProto relay: it lets an unmodified Telegram
// client library (Telethon, GramJS, mtcute, Pyrogram) use a vault account
// without ever holding the account's auth key.
//
// A relay session is a fresh random auth key that the relay mints for one
// account, with an expiry and a policy; it is valid only at this relay and
// lives only in the memory of the process that runs it (tgvault run), so
// a restart, an expiry or a revoke ends it. A client connects to the
// relay's loopback listener as to a Telegram DC; the relay decrypts each
// of its messages with the relay key, checks the call against the policy
// (method identity from constructor ids, with the TL schema of the layer
// the client announced, fail closed), and sends the client's query bytes
// on, unchanged, inside invokeWithLayer(the client's layer,
// initConnection(the account's stored device and api_id, …)) over an
// upstream MTProto session of its own on the account's real key (a new
// session id on the account's existing authorization, never a new
// login). Results and pushed updates come back as raw bytes, re-encrypted
// with the relay key; the relay re-encodes nothing except what it must
// rewrite (the dc_options of help.getConfig point at the relay) or
// withhold (messages of the service account 777000).
//
// Layer rule: relay is under mtproto/ and may import gotd and the
// sessionstring package; it never imports vault, storage, the pool
// (mtproto) or cmd: what it needs of the pool is the small Accounts
// interface its consumer implements.
package relay
