// GramJS 2.26.22 (layer 198), unmodified, through the relay: the test's side
// of TestRelayGramJS. It holds only a relay session string (GramJS's own
// format) and goes through the relay's SOCKS5 front, which GramJS needs to
// reach another DC (it dials every other DC on port 443); it trusts the
// relay's RSA key for its key exchange with the relay's DC 4. One JSON line
// of results goes to stdout; "ready" asks the test to push two messages.
const { TelegramClient, Api } = require("telegram");
const { StringSession } = require("telegram/sessions");
const { NewMessage } = require("telegram/events");
const { _serverKeys } = require("telegram/crypto/RSA");
const bigInt = require("big-integer");
const fs = require("node:fs");

function refusal(e) {
  return { code: e.code, message: e.errorMessage };
}

async function main() {
  const env = process.env;
  _serverKeys.set(env.RELAY_RSA_FP, { n: bigInt(env.RELAY_RSA_N), e: 65537 });
  const [host, port] = env.RELAY_SOCKS5.split(":");
  const client = new TelegramClient(new StringSession(env.RELAY_SESSION), 17349, "344583e45741c457fe1862106095a5eb", {
    connectionRetries: 1,
    proxy: { ip: host, port: Number(port), socksType: 5 },
  });
  client.setLogLevel("none");
  const friendID = env.RELAY_FRIEND_ID;
  const got = [];
  let friendSeen;
  const seen = new Promise((resolve) => (friendSeen = resolve));
  client.addEventHandler((event) => {
    const m = event.message;
    got.push({ from: Number(m.senderId), text: m.message });
    if (String(m.senderId) === friendID) friendSeen();
  }, new NewMessage({ incoming: true }));

  await client.connect();
  const out = {};
  const me = await client.getMe();
  out.me = { id: Number(me.id), self: !!me.self };
  const friend = await client.getEntity(env.RELAY_FRIEND);
  out.friend = { id: Number(friend.id), dc: friend.photo ? friend.photo.dcId : 0 };
  const photo = await client.downloadProfilePhoto(friend, { isBig: true });
  out.photo_ok = Buffer.compare(Buffer.from(photo), fs.readFileSync(env.RELAY_PHOTO)) === 0;
  console.log("ready");
  await Promise.race([seen, new Promise((_, reject) => setTimeout(() => reject(new Error("no pushed message")), 60000))]);
  out.updates = got;
  const dialogs = await client.getDialogs({});
  out.dialogs = dialogs.map((d) => Number(d.id)).sort((a, b) => a - b);
  try {
    await client.invoke(new Api.messages.GetHistory({
      peer: new Api.InputPeerUser({ userId: bigInt(777000), accessHash: bigInt(0) }),
      offsetId: 0, offsetDate: 0, addOffset: 0, limit: 5, maxId: 0, minId: 0, hash: bigInt(0),
    }));
    out.service_history = "answered";
  } catch (e) {
    out.service_history = refusal(e);
  }
  try {
    await client.invoke(new Api.auth.LogOut());
    out.log_out = "answered";
  } catch (e) {
    out.log_out = refusal(e);
  }
  console.log(JSON.stringify(out));
  await client.destroy();
  process.exit(0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
