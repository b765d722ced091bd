# Telethon 1.25.1 (layer 144), unmodified, run by `tgvault exec NAME --relay
# --format telethon`: it holds only what exec put in its environment (the
# relay session string, the relay's RSA key), never the account's key. It
# prints one JSON line of what it saw; nothing else (never the string).
import asyncio
import json
import os
import sys

from telethon import TelegramClient, errors, functions, types
from telethon.crypto import rsa
from telethon.sessions import StringSession


def refusal(e):
    return {"code": e.code, "message": e.message}


async def main():
    env = os.environ
    out = {"rsa_key_added": rsa.add_key(env["TGVAULT_RELAY_RSA_KEY"], old=False) is None,
           "session_id": env.get("TGVAULT_RELAY_SESSION_ID", ""),
           "proxy_env": any(k.startswith("TGVAULT_PROXY_") for k in env)}
    client = TelegramClient(StringSession(env["TGVAULT_SESSION"]), 17349, "344583e45741c457fe1862106095a5eb")
    await client.connect()
    me = await client.get_me()
    out["me"] = {"id": me.id, "self": me.is_self}
    friend = await client.get_entity(sys.argv[1])
    out["friend"] = friend.id
    try:
        await client(functions.messages.GetHistoryRequest(
            peer=types.InputPeerUser(777000, 0), offset_id=0, offset_date=None,
            add_offset=0, limit=5, max_id=0, min_id=0, hash=0))
        out["service_history"] = "answered"
    except errors.RPCError as e:
        out["service_history"] = refusal(e)
    try:
        await client(functions.auth.LogOutRequest())
        out["log_out"] = "answered"
    except errors.RPCError as e:
        out["log_out"] = refusal(e)
    await client.disconnect()
    print(json.dumps(out), flush=True)


asyncio.run(main())
