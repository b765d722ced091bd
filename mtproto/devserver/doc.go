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
// updates.getDifference, contacts.resolveUsername, messages.getDialogs and
// messages.getHistory over synthetic users, groups and channels,
// auth.exportAuthorization and upload.getFile (profile photos). Other
// methods get INPUT_METHOD_INVALID_<id>; a key that is not logged in gets
// AUTH_KEY_UNREGISTERED (401); an unknown key gets the transport error -404,
// as from Telegram. Like Telegram, it closes a connection whose client asked
// for it with ping_delay_disconnect and then sent no such ping within the
// delay.
//
// Several DCs (Options.OtherDCs): each has a listener of its own and its
// own keys (a key is unknown on the other DCs); help.getConfig lists them
// all; a key of another DC is logged in by auth.importAuthorization of an
// auth.exportAuthorization; a profile photo lives on one DC (upload.getFile
// elsewhere answers FILE_MIGRATE_n). SendMessage and ServiceMessage (from
// Telegram's 777000) keep private messages in each user's history and push
// them as updateShortMessage with the user's pts; PushUpdates pushes any
// updates. Updates go to home-DC connections only.
//
// Layers: answers are built with gotd's types (tg.Layer) and re-encoded,
// by tlschema's schemas, into the layer each client announced with
// invokeWithLayer (144, 198, 225 exactly; layers between them as the
// nearest embedded one below), and queries are read back from it (layer.go).
//
// Counters (Stats) show key exchanges, authorizations (new logins) apart
// from exports and imports, per DC and in total; connections per key,
// calls per method, duplicate use of a key (optionally answered with
// AUTH_KEY_DUPLICATED) and use from two addresses at once; the ping delays
// asked and the connections they closed. FloodWait makes the next calls of
// a method fail with FLOOD_WAIT_X (420). RevokeKey logs a key out,
// ForgetKey makes the server lose it, SeedAccounts makes logged-in accounts
// without a key exchange.
//
// The MTProto server loop is mtproto/mtserver's (the relay's too).
//
// Layer rule: devserver imports gotd, mtserver, tlschema, sessionstring and
// storage (atomic writes); nothing imports it but tests, `tgvault
// dev-server` and the demo.
//
// It builds on its own server loop instead of gotd's tgtest, which keeps
// keys only in memory and races on its connection map.
package devserver
