# Telethon 1.25.1 (layer 144) against the dev server: the test's side of
# TestClientsOtherDCs. Arguments come in the environment; one JSON line of
# results goes to stdout; "ready" on stdout asks the test to push.
import asyncio
import json
import os
import sys

from telethon import TelegramClient, events
from telethon.crypto import AuthKey, rsa
from telethon.sessions import StringSession


async def main():
    env = os.environ
    rsa.add_key(open(env["DEV_PUBKEY"]).read(), old=False)
    session = StringSession()
    session.set_dc(int(env["DEV_DC"]), env["DEV_HOST"], int(env["DEV_PORT"]))
    session.auth_key = AuthKey(bytes.fromhex(env["DEV_KEY"]))
    client = TelegramClient(session, 17349, "344583e45741c457fe1862106095a5eb", receive_updates=True)
    got = []
    done = asyncio.Event()

    @client.on(events.NewMessage(incoming=True))
    async def handler(event):
        got.append({"from": event.sender_id, "text": event.raw_text})
        if len(got) == 2:
            done.set()

    await client.connect()
    out = {}
    me = await client.get_me()
    out["me"] = {"id": me.id, "username": me.username, "self": me.is_self}
    friend = await client.get_entity(env["DEV_FRIEND"])
    out["friend"] = {"id": friend.id, "dc": friend.photo.dc_id if friend.photo else 0}
    photo = await client.download_profile_photo(friend, file=bytes)
    out["photo_len"] = len(photo) if photo else 0
    out["photo_ok"] = photo == open(env["DEV_PHOTO"], "rb").read()
    print("ready", flush=True)
    await asyncio.wait_for(done.wait(), 60)
    out["updates"] = got
    dialogs = await client.get_dialogs()
    out["dialogs"] = sorted(d.id for d in dialogs)
    msgs = await client.get_messages(777000, limit=5)
    out["service_history"] = [m.raw_text for m in msgs]
    await client.disconnect()
    print(json.dumps(out), flush=True)


asyncio.run(main())
