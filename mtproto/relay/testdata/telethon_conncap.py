# Telethon 1.25.1 (layer 144), unmodified, through the relay: the test's
# side of TestRelayConnCapClients/telethon. Its relay session is at its connection
# cap, so connect() must fail with a clear error (not hang, not reconnect
# in a loop): one JSON line says what it raised and how long it took. Then
# "refused" on stdout; once the test answers a line on stdin (another
# connection of the session closed), get_me on the same client must work.
import asyncio
import json
import os
import sys
import time

from telethon import TelegramClient, errors
from telethon.sessions import StringSession


async def main():
    client = TelegramClient(StringSession(os.environ["RELAY_SESSION"]), 17349, "344583e45741c457fe1862106095a5eb")
    out = {}
    start = time.monotonic()
    try:
        await asyncio.wait_for(client.connect(), 60)
        out["connect"] = "connected"
    except errors.RPCError as e:
        out["connect"] = {"class": type(e).__name__, "code": e.code, "message": e.message}
    except Exception as e:  # a hang (TimeoutError) or anything else
        out["connect"] = {"class": type(e).__name__, "error": str(e)}
    out["seconds"] = time.monotonic() - start
    print(json.dumps(out), flush=True)
    print("refused", flush=True)
    sys.stdin.readline()
    try:
        me = await asyncio.wait_for(client.get_me(), 60)
        out = {"me": me.id}
    except Exception as e:
        out = {"me": 0, "error": "%s: %s" % (type(e).__name__, e)}
    await client.disconnect()
    print(json.dumps(out), flush=True)


asyncio.run(main())
