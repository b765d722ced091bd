# Telethon 1.25.1 (layer 144), unmodified, through the relay: the test's side
# of TestRelayTelethon. It holds only a relay session string (Telethon's
# own format, pointing at the relay) and trusts the relay's RSA key for its
# key exchange with the relay's DC 4 (media). One JSON line of results goes
# to stdout; "ready" on stdout asks the test to push two messages.
import asyncio
import json
import os

from telethon import TelegramClient, errors, events, functions, types
from telethon.crypto import rsa
from telethon.sessions import StringSession


def refusal(e):
    return {"code": e.code, "message": e.message}


async def main():
    env = os.environ
    rsa.add_key(open(env["RELAY_PUBKEY"]).read(), old=False)
    client = TelegramClient(StringSession(env["RELAY_SESSION"]), 17349, "344583e45741c457fe1862106095a5eb", receive_updates=True)
    got = []
    friend_seen = asyncio.Event()
    friend_id = int(env["RELAY_FRIEND_ID"])

    @client.on(events.NewMessage(incoming=True))
    async def handler(event):
        got.append({"from": event.sender_id, "text": event.raw_text})
        if event.sender_id == friend_id:
            friend_seen.set()

    await client.connect()
    out = {}
    me = await client.get_me()
    out["me"] = {"id": me.id, "self": me.is_self}
    friend = await client.get_entity(env["RELAY_FRIEND"])
    out["friend"] = {"id": friend.id, "dc": friend.photo.dc_id if friend.photo else 0}
    photo = await client.download_profile_photo(friend, file=bytes)
    out["photo_ok"] = photo == open(env["RELAY_PHOTO"], "rb").read()
    print("ready", flush=True)
    await asyncio.wait_for(friend_seen.wait(), 60)
    out["updates"] = got
    dialogs = await client.get_dialogs()
    out["dialogs"] = sorted(d.id for d in dialogs)
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
