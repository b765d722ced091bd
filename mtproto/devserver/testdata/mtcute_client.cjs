// mtcute 0.29.7 (@mtcute/node, layer 225) against the dev server: the
// test's side of TestClientsOtherDCs. Arguments come in the environment
// (DEV_MTCUTE_SESSION is the seeded account's session in mtcute's own
// string format); one JSON line of results goes to stdout; "ready" on
// stdout asks the test to push.
const fs = require("node:fs");
const { TelegramClient } = require("@mtcute/node");
const { MemoryStorage } = require("@mtcute/core");
const { addPublicKey } = require("@mtcute/core/utils.js");

async function main() {
  const env = process.env;
  const tg = new TelegramClient({
    apiId: 17349,
    apiHash: "344583e45741c457fe1862106095a5eb",
    storage: new MemoryStorage(),
    logLevel: 0,
  });
  addPublicKey(tg._client.crypto, fs.readFileSync(env.DEV_PUBKEY, "utf8"));
  const got = [];
  let done;
  const twoUpdates = new Promise((resolve) => (done = resolve));
  tg.onNewMessage.add((msg) => {
    got.push({ from: msg.sender.id, text: msg.text });
    if (got.length === 2) done();
  });
  await tg.importSession(env.DEV_MTCUTE_SESSION);
  const self = await tg.start();
  const out = {};
  out.me = { id: self.id, username: self.username, self: !!self.isSelf };
  const [friend] = await tg.getUsers(env.DEV_FRIEND);
  out.friend = { id: friend.id, dc: friend.raw.photo && friend.raw.photo.dcId ? friend.raw.photo.dcId : 0 };
  const photo = await tg.downloadAsBuffer(friend.photo.big);
  out.photo_len = photo ? photo.length : 0;
  out.photo_ok = !!photo && Buffer.compare(Buffer.from(photo), fs.readFileSync(env.DEV_PHOTO)) === 0;
  console.log("ready");
  await Promise.race([twoUpdates, new Promise((_, reject) => setTimeout(() => reject(new Error("no updates")), 60000))]);
  out.updates = got;
  const dialogs = [];
  for await (const d of tg.iterDialogs()) dialogs.push(d.peer.id);
  out.dialogs = dialogs.sort((a, b) => a - b);
  const history = await tg.getHistory(777000, { limit: 5 });
  out.service_history = history.map((m) => m.text);
  console.log(JSON.stringify(out));
  await tg.destroy();
  process.exit(0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
