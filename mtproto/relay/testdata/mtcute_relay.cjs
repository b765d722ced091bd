// mtcute 0.29.7 (@mtcute/node, layer 225), unmodified, through the relay: the
// test's side of TestRelayMtcute. It holds only a relay session string
// (mtcute's own format, pointing at the relay) and trusts the relay's RSA
// key for its key exchange with the relay's DC 4. One JSON line of results
// goes to stdout; "ready" asks the test to push two messages.
// MTCUTE_LOG_LEVEL=5 (say) logs mtcute's own debugging to stderr, which
// the test shows when it fails.
const { TelegramClient } = require("@mtcute/node");
const { MemoryStorage, Long } = require("@mtcute/core");
const { addPublicKey } = require("@mtcute/core/utils.js");
const fs = require("node:fs");

function refusal(e) {
  return { code: e.code, message: e.text };
}

async function main() {
  const env = process.env;
  const tg = new TelegramClient({
    apiId: 17349,
    apiHash: "344583e45741c457fe1862106095a5eb",
    storage: new MemoryStorage(),
    logLevel: Number(env.MTCUTE_LOG_LEVEL || 0),
  });
  if (env.MTCUTE_LOG_LEVEL) {
    const str = (a) => (typeof a === "object" ? JSON.stringify(a, (k, v) => (v instanceof Long ? String(v) : v)).slice(0, 300) : a);
    tg.log.mgr.handler = (color, level, tag, fmt, args) => console.error(new Date().toISOString(), level, tag, fmt, ...args.map(str));
  }
  addPublicKey(tg._client.crypto, fs.readFileSync(env.RELAY_PUBKEY, "utf8"));
  const friendID = Number(env.RELAY_FRIEND_ID);
  const got = [];
  let friendSeen;
  const seen = new Promise((resolve) => (friendSeen = resolve));
  tg.onNewMessage.add((msg) => {
    got.push({ from: msg.sender.id, text: msg.text });
    if (msg.sender.id === friendID) friendSeen();
  });
  await tg.importSession(env.RELAY_SESSION);
  const self = await tg.start();
  const out = {};
  out.me = { id: self.id, self: !!self.isSelf };
  const [friend] = await tg.getUsers(env.RELAY_FRIEND);
  out.friend = { id: friend.id, dc: friend.raw.photo && friend.raw.photo.dcId ? friend.raw.photo.dcId : 0 };
  const photo = await tg.downloadAsBuffer(friend.photo.big);
  out.photo_ok = Buffer.compare(Buffer.from(photo), fs.readFileSync(env.RELAY_PHOTO)) === 0;
  console.log("ready");
  // The relay withholds 777000's login code, so the friend's message comes
  // one pts late; mtcute postpones it 0.5 s and then fetches the
  // difference (which the relay filters too) -- unless its timer fires a
  // fraction of a millisecond early (node's timers are whole
  // milliseconds), when mtcute 0.29.7 looks again only on the next update.
  // So after 5 s without it, ask for the difference as mtcute meant to.
  const nudge = setTimeout(() => {
    console.error("no message after 5 s: catching up (mtcute's early postponed timer)");
    tg._client.updates.catchUp();
  }, 5000);
  await Promise.race([seen, new Promise((_, reject) => setTimeout(() => reject(new Error("no pushed message")), 60000))]);
  clearTimeout(nudge);
  out.updates = got;
  const dialogs = [];
  for await (const d of tg.iterDialogs()) dialogs.push(d.peer.id);
  out.dialogs = dialogs.sort((a, b) => a - b);
  try {
    await tg.call({
      _: "messages.getHistory",
      peer: { _: "inputPeerUser", userId: 777000, accessHash: Long.ZERO },
      offsetId: 0, offsetDate: 0, addOffset: 0, limit: 5, maxId: 0, minId: 0, hash: Long.ZERO,
    });
    out.service_history = "answered";
  } catch (e) {
    out.service_history = refusal(e);
  }
  try {
    await tg.call({ _: "auth.logOut" });
    out.log_out = "answered";
  } catch (e) {
    out.log_out = refusal(e);
  }
  console.log(JSON.stringify(out));
  await tg.destroy();
  process.exit(0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
