// Package mtserver is the server side of MTProto 2.0, for servers that
// speak to real Telegram clients: the dev server (mtproto/devserver) and the
// relay. It accepts every transport the client libraries use (abridged,
// intermediate, padded intermediate and full, and obfuscated2 over the
// first three), performs the real key exchange with gotd's exchange package
// (req_DH_params in RSA_PAD, or in the older sha1(data)+data scheme that
// Telethon 1.25 still uses and Telegram still accepts: legacyrsa.go),
// decrypts and encrypts with gotd's crypto package, and handles what is
// MTProto rather than API: server salts and new_session_created, message
// ids and sequence numbers, containers, gzip_packed, acks, ping and
// ping_delay_disconnect, get_future_salts, rpc_drop_answer and
// destroy_session, and the binding of auth keys to connections (which counts
// a key used by two connections at once).
//
// What the server answers is its Handler's business: the Handler gets each
// RPC as raw query bytes, unwrapped from invokeWithLayer, initConnection and
// invokeWithoutUpdates (the layer and the client's parameters are on the
// Request), and answers it with raw result bytes or an rpc_error, at once or
// later from another goroutine. Auth keys live in the consumer's Keys: the
// dev server keeps them in its state, the relay mints its own.
//
// Layer rule: mtserver imports gotd's low-level packages (bin, crypto,
// exchange, mt, proto, transport, tg for the wrappers) and sessionstring for
// the key types; it imports nothing else of tgvault, and no tgvault package
// but servers (devserver, the relay) imports it.
package mtserver
