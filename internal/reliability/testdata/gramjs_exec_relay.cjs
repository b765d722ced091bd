// GramJS 2.26.22 (layer 198), unmodified, run by `tgvault exec NAME --relay
// --format gramjs`: it holds only what exec put in its environment (the
// relay session string, the relay's SOCKS5 front, the relay's RSA key,
// trusted with the README's line), never the account's key. It prints one
// JSON line of what it saw; nothing else of its own (never the string).
const { TelegramClient, Api } = require("telegram");
const { StringSession } = require("telegram/sessions");
const bigInt = require("big-integer");

function refusal(e) {
  return { code: e.code, message: e.errorMessage };
}

async function main() {
  const env = process.env;
  // README.md, "Run a script without giving it the key": trust the relay's key.
  const jwk = require("node:crypto").createPublicKey(env.TGVAULT_RELAY_RSA_KEY).export({ format: "jwk" });
  require("telegram/crypto/RSA")._serverKeys.set(env.TGVAULT_RELAY_RSA_FINGERPRINT, { n: bigInt(Buffer.from(jwk.n, "base64url").toString("hex"), 16), e: 65537 });
  const client = new TelegramClient(new StringSession(env.TGVAULT_SESSION), 17349, "344583e45741c457fe1862106095a5eb", {
    connectionRetries: 1,
    proxy: { ip: env.TGVAULT_PROXY_HOST, port: Number(env.TGVAULT_PROXY_PORT), socksType: 5 },
  });
  client.setLogLevel("none");
  await client.connect();
  const out = { rsa_key_added: true, session_id: env.TGVAULT_RELAY_SESSION_ID || "", proxy_env: !!env.TGVAULT_PROXY_URL };
  const me = await client.getMe();
  out.me = { id: Number(me.id), self: !!me.self };
  const friend = await client.getEntity(process.argv[2]);
  out.friend = Number(friend.id);
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
