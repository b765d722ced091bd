// GramJS 2.26.22, unmodified, through the relay's SOCKS5 front: the test's
// side of TestRelayConnCapClients/gramjs. Its relay session is at its
// connection cap, so connect() and getMe must fail with a clear error
// (not hang, not reconnect in a loop): one JSON line says what was thrown
// and how long it took. Then "refused" on stdout; once the test answers a
// line on stdin (another connection of the session closed), the same
// client connects again and getMe must work (GramJS waits for a connect
// that succeeded before it sends any call).
const { TelegramClient } = require("telegram");
const { StringSession } = require("telegram/sessions");

function thrown(e) {
  return { class: e.constructor.name, code: e.code, message: e.errorMessage || String(e) };
}

function within(p, ms) {
  return Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms))]);
}

async function main() {
  const env = process.env;
  const [host, port] = env.RELAY_SOCKS5.split(":");
  const client = new TelegramClient(new StringSession(env.RELAY_SESSION), 17349, "344583e45741c457fe1862106095a5eb", {
    connectionRetries: 1,
    proxy: { ip: host, port: Number(port), socksType: 5 },
  });
  client.setLogLevel("none");
  let out = {};
  const start = Date.now();
  try {
    await within(client.connect(), 60000);
    await within(client.getMe(), 60000);
    out.connect = "connected";
  } catch (e) {
    out.connect = thrown(e);
  }
  out.seconds = (Date.now() - start) / 1000;
  console.log(JSON.stringify(out));
  console.log("refused");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  try {
    await within(client.disconnect(), 60000);
    await within(client.connect(), 60000);
    const me = await within(client.getMe(), 60000);
    out = { me: Number(me.id) };
  } catch (e) {
    out = { me: 0, error: String(e) };
  }
  console.log(JSON.stringify(out));
  await client.destroy();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
