// Package relay is tgvault's MTProto relay: it lets an unmodified Telegram
// client library (Telethon, GramJS, mtcute, Pyrogram, gotd) use a vault
// account without ever holding the account's auth key.
//
// A relay session (Relay.Mint) is a fresh random auth key that the relay
// mints for one account, with an expiry and a Policy; it is valid only at
// this relay and lives only in the memory of the process that runs it, so
// a restart, an expiry, Relay.Revoke or the account leaving the pool ends
// it. A client connects to the relay's loopback listener for the account's
// home DC as to a Telegram DC (mtproto/mtserver speaks MTProto to it); the
// relay decrypts each of its messages with the relay key, checks the call
// against the policy (method identity from the constructor id, with the
// union of the embedded TL schemas, mtproto/tlschema: one id is one
// layout in every layer; an unknown id is refused, fail closed), and
// sends the client's query bytes on, unchanged, inside
// invokeWithLayer(the client's layer, initConnection(the account's
// stored device and api_id, …)) over an upstream MTProto session of its
// own on the account's real key: one per client connection, a new session
// id on the account's existing authorization, never a new login nor a new
// key. Results and pushed updates come back as raw bytes, re-encrypted
// with the relay key. The relay re-encodes nothing except what it must
// rewrite (the dc_options of help.getConfig point at the relay) or
// withhold (messages of the service account 777000, unless the policy
// lets them through); a result or update it must read under the policy and
// cannot decode is refused or dropped, never passed.
//
// A call-rate cap per relay session, shared by all its connections on
// every DC (Config.CallRate and CallBurst, Policy.CallRate;
// DefaultCallRate a second after DefaultCallBurst at once) answers a call
// over it with rpc_error 420 FLOOD_WAIT_n and sends nothing upstream: a
// client stuck in a loop spends its own time, not the account's standing
// with Telegram. Connection caps (Config.SessionConns per relay session,
// Config.AccountConns per account) answer the calls of a connection over
// them with rpc_error 420 TGVAULT_TOO_MANY_CONNECTIONS before it costs an
// upstream session: a script cannot multiply its rate, nor the account's
// upstream sessions, by opening more connections.
//
// A SOCKS5 front (no authentication, CONNECT only, never dialing out)
// serves clients whose strings carry no address (Pyrogram) or that dial
// other DCs on a fixed port (GramJS): a dial of one of Telegram's DC
// addresses through it reaches the relay as that DC, and a client that
// came through it is told Telegram's own addresses in help.getConfig
// (Minted.SOCKSSessionString gives such a client its string).
//
// Other DCs: help.getConfig's dc_options point every DC at a relay port;
// a client's key exchange with a relay DC makes an unbound key, which
// auth.importAuthorization of the relay's own auth.exportAuthorization
// token binds to the session (nothing of either goes upstream); its calls
// there go upstream on the account's own key for that DC, made once by a
// real exchange, export and import, and kept by Account.SetDCKey. A
// client must trust the relay's RSA key (Relay.PublicKey) for that
// exchange, as it would a test server's: unmodified libraries trust only
// Telegram's keys.
//
// Layers: the policy and the filter decode with the union of the embedded
// schemas (layers 144, 198, 225 and 229; one constructor id is one layout
// in every layer). A client of another layer is served as far as what
// the policy must read holds only constructors of those layers; a query,
// result or update that does not decode is refused or dropped.
//
// tgvault run serves one (package daemon): the pool implements Accounts
// (mtproto.Pool.RelayAccounts), the local API mints, lists and revokes
// sessions (package localapi) and puts Metrics in /metrics; the CLI's
// `tgvault relay` and `exec --relay` are its clients.
//
// Layer rule: relay is under mtproto/ and may import gotd, sessionstring,
// mtproto/mtserver and mtproto/tlschema (its row in docs/ARCHITECTURE.md,
// checked by internal/deptest); never vault, storage, the pool or cmd:
// what it needs of the pool is the small Accounts interface its consumer
// implements.
package relay
