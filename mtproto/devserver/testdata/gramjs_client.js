// GramJS 2.26 (layer 198) against the dev server: the test's side of
// TestClientsOtherDCs. Arguments come in the environment; one JSON line of
// results goes to stdout; "ready" on stdout asks the test to push.
const fs = require("fs");
const bigInt = require("big-integer");
const { TelegramClient } = require("telegram");
const { StringSession } = require("telegram/sessions");
const { AuthKey } = require("telegram/crypto/AuthKey");
const { NewMessage } = require("telegram/events");
const RSA = require("telegram/crypto/RSA");
const { PromisedNetSockets } = require("telegram/extensions");

// GramJS dials port 80 at home and 443 on other DCs, whatever the session
// or help.getConfig says; the test gives each DC an address of its own
// and DEV_PORTS maps each to its port.
const ports = JSON.parse(process.env.DEV_PORTS);
class MappedSocket extends PromisedNetSockets {
  async connect(port, ip) {
    return super.connect(ports[ip] || port, ip);
  }
}

async function main() {
  const env = process.env;
  RSA._serverKeys.set(bigInt(env.DEV_FINGERPRINT).toString(), { n: bigInt(env.DEV_MODULUS), e: 65537 });
  const session = new StringSession("");
  // (The port is what GramJS dials anyway; its StringSession stores a
  // port as a signed 16-bit number.)
  session.setDC(Number(env.DEV_DC), env.DEV_HOST, 80);
  const key = new AuthKey();
  await key.setKey(Buffer.from(env.DEV_KEY, "hex"));
  session.setAuthKey(key);
  const client = new TelegramClient(session, 17349, "344583e45741c457fe1862106095a5eb", { connectionRetries: 1, networkSocket: MappedSocket });
  client.setLogLevel("error");
  const got = [];
  let done;
  const twoUpdates = new Promise((resolve) => { done = resolve; });
  client.addEventHandler((event) => {
    got.push({ from: Number(event.message.senderId), text: event.message.message });
    if (got.length === 2) done();
  }, new NewMessage({ incoming: true }));
  await client.connect();
  const out = {};
  const me = await client.getMe();
  out.me = { id: Number(me.id), username: me.username, self: !!me.self };
  const friend = await client.getEntity(env.DEV_FRIEND);
  out.friend = { id: Number(friend.id), dc: friend.photo ? friend.photo.dcId : 0 };
  const photo = await client.downloadProfilePhoto(friend, { isBig: true });
  out.photo_len = photo ? photo.length : 0;
  out.photo_ok = !!photo && Buffer.compare(Buffer.from(photo), fs.readFileSync(env.DEV_PHOTO)) === 0;
  console.log("ready");
  await Promise.race([twoUpdates, new Promise((_, reject) => setTimeout(() => reject(new Error("no updates")), 60000))]);
  out.updates = got;
  const dialogs = await client.getDialogs({});
  out.dialogs = dialogs.map((d) => Number(d.id)).sort();
  const msgs = await client.getMessages("777000", { limit: 5 }).catch(async () => client.getMessages(777000, { limit: 5 }));
  out.service_history = msgs.map((m) => m.message);
  console.log(JSON.stringify(out));
  await client.destroy();
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });
