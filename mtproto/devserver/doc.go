// Package devserver is a local Telegram-like MTProto server for tests and
// demos (`tgvault dev-server`). It performs the real key exchange and real
// MTProto 2.0 encryption with gotd's exchange, crypto and transport
// packages, keeps accounts and auth keys in a state directory across
// restarts (state.json, written atomically, mode 0600), generates an RSA key
// and publishes its public half as a PEM file.
//
// It answers help.getConfig; the logins auth.importBotAuthorization (bot
// token "ID:secret"), auth.sendCode/auth.signIn (a fixed code per user) and
// account.getPassword/auth.checkPassword (2FA with real SRP); and, for a
// logged-in key, auth.logOut, users.getUsers, updates.getState,
// contacts.resolveUsername and messages.getDialogs over synthetic users,
// groups and channels. Other methods get INPUT_METHOD_INVALID_<id>; a key
// that is not logged in gets AUTH_KEY_UNREGISTERED (401); an unknown key
// gets the transport error -404, as from Telegram. Like Telegram, it closes
// a connection whose client asked for it with ping_delay_disconnect and then
// sent no such ping within the delay. Counters (Stats) show key exchanges,
// connections per key, calls per method, duplicate use of a key (optionally
// answered with AUTH_KEY_DUPLICATED), the delays asked and the connections
// they closed. FloodWait makes the
// next calls of a method fail with FLOOD_WAIT_X (420); PushUpdates sends
// updates to a user's open connections, as Telegram pushes them. RevokeKey logs a key out, ForgetKey
// makes the server lose it, SeedAccounts makes logged-in accounts without a
// key exchange.
//
// It builds its own server loop instead of gotd's tgtest, which keeps keys
// only in memory and races on its connection map.
package devserver
