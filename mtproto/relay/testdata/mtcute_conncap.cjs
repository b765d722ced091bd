// mtcute 0.29.7 (@mtcute/node), unmodified, through the relay: the test's
// side of TestRelayConnCapClients/mtcute. Its relay session is at its
// connection cap, so start() (which gets the account's user) must fail
// with a clear error (not hang, not reconnect in a loop): one JSON line
// says what was thrown and how long it took. Then "refused" on stdout;
// once the test answers a line on stdin (another connection of the
// session closed), getMe on the same client must work.
const { TelegramClient } = require("@mtcute/node");
const { MemoryStorage } = require("@mtcute/core");

function thrown(e) {
  return { class: e.constructor.name, code: e.code, message: e.text || String(e) };
}

function within(p, ms) {
  return Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms))]);
}

async function main() {
  const env = process.env;
  const tg = new TelegramClient({
    apiId: 17349,
    apiHash: "344583e45741c457fe1862106095a5eb",
    storage: new MemoryStorage(),
    logLevel: 0,
  });
  await tg.importSession(env.RELAY_SESSION);
  let out = {};
  const start = Date.now();
  try {
    await within(tg.start(), 60000);
    out.connect = "connected";
  } catch (e) {
    out.connect = thrown(e);
  }
  out.seconds = (Date.now() - start) / 1000;
  console.log(JSON.stringify(out));
  console.log("refused");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  try {
    const me = await within(tg.getMe(), 60000);
    out = { me: me.id };
  } catch (e) {
    out = { me: 0, error: String(e) };
  }
  console.log(JSON.stringify(out));
  await tg.destroy();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
