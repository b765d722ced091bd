#!/usr/bin/env python3
"""Telethon's own SQLite session storage, under the workload of
storage/bench_test.go.

100,000 peers are stored in batches of 100, "as API results arrive": each
batch is a real TL result object (messages.Messages with users/chats lists of
real telethon.tl.types.User / Chat / Channel instances) handed to
SQLiteSession.process_entities, which is what TelegramClient does after every
call (client/users.py). session.save() (a COMMIT, with SQLite's default
journal_mode=DELETE and synchronous=FULL) is called once at the end, as the
client does on disconnect. The whole insert+save is timed.

Lookups then run on the 100,000-peer store:
  by_id_us        get_input_entity(marked_id)  (the client's path)
  by_username_us  get_entity_rows_by_username(username)
  by_phone_us     get_entity_rows_by_phone(phone)
"detail" also holds the raw get_entity_rows_by_id and the get_input_entity
('@username' / '+phone') paths. Telethon's entities table only has an index
on id (the primary key): username and phone lookups are full scans, so they
run far fewer iterations.

Every figure is the median of 5 runs (after a warm-up). Prints one JSON
object on stdout; progress goes to stderr.

The peer mix follows randomPeers in storage/image_test.go: users, bots,
basic groups, broadcast channels and supergroups in equal parts; 3/4 of
non-group peers have a username (1 in 50 of those is "shared_name"); 1/2 of
plain users have a phone. Basic groups have no access hash.
"""

import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

import telethon
from telethon import utils
from telethon.sessions import SQLiteSession
from telethon.tl import types

PEERS = 100_000
BATCH = 100
RUNS = 5

USER, BOT, GROUP, CHANNEL, SUPERGROUP = range(5)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def random_peers(n, seed):
    """Plain tuples (kind, id, access_hash, username, phone), ids unmarked
    as in the TL objects; same distribution as randomPeers in Go."""
    r = random.Random(seed)
    seen = set()
    out = []
    while len(out) < n:
        kind = r.randrange(5)
        if kind in (USER, BOT):
            raw = r.randrange(1 << 40)
            marked = raw
        elif kind == GROUP:
            raw = r.randrange(1 << 31) + 1
            marked = -raw
        else:
            raw = r.randrange(1 << 32) + 1
            marked = -(1_000_000_000_000 + raw)
        if raw == 0 or marked in seen:
            continue
        seen.add(marked)
        access_hash = r.getrandbits(64) - (1 << 63)
        if kind == GROUP:
            access_hash = None
        username = None
        if kind != GROUP and r.randrange(4) != 0:
            username = ("u%d_%x" % (len(out), r.getrandbits(64)))[: 8 + r.randrange(10)]
            if r.randrange(50) == 0:
                username = "shared_name"
        phone = None
        if kind == USER and r.randrange(2) == 0:
            phone = "1555%07d" % r.randrange(10_000_000)
        out.append((kind, raw, access_hash, username, phone))
    return out


def to_tl(p):
    kind, raw, access_hash, username, phone = p
    if kind in (USER, BOT):
        return types.User(
            id=raw, access_hash=access_hash, bot=(kind == BOT), min=False,
            first_name="Peer%d" % raw, username=username, phone=phone)
    if kind == GROUP:
        return types.Chat(
            id=raw, title="Group %d" % raw, photo=types.ChatPhotoEmpty(),
            participants_count=5, date=None, version=1)
    return types.Channel(
        id=raw, title="Channel %d" % raw, photo=types.ChatPhotoEmpty(),
        date=None, access_hash=access_hash, username=username, min=False,
        broadcast=(kind == CHANNEL), megagroup=(kind == SUPERGROUP))


def batches(peers):
    """One messages.Messages result per 100 peers, as an API call returns."""
    out = []
    for i in range(0, len(peers), BATCH):
        ents = [to_tl(p) for p in peers[i:i + BATCH]]
        out.append(types.messages.Messages(
            messages=[],
            chats=[e for e in ents if not isinstance(e, types.User)],
            users=[e for e in ents if isinstance(e, types.User)]))
    return out


def store(path, results):
    """Returns ((wall s, process_entities wall s, save wall s, CPU s),
    session) for 100k peers stored + saved."""
    for suffix in ("", "-journal"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    s = SQLiteSession(path)  # creates the tables and commits
    c0 = time.process_time()
    t0 = time.perf_counter()
    for res in results:
        s.process_entities(res)
    t1 = time.perf_counter()
    s.save()
    t2 = time.perf_counter()
    cpu = time.process_time() - c0
    return (t2 - t0, t1 - t0, t2 - t1, cpu), s


def time_lookups(fn, keys, iters, runs=RUNS, warm=None):
    """Median over runs of the mean µs per call of fn over iters keys
    (wall clock), the per-run figures, and the median CPU µs per call
    (time.process_time, less sensitive to other load on the machine)."""
    warm = min(len(keys), warm if warm is not None else max(10, iters // 10))
    for k in keys[:warm]:
        if fn(k) is None:
            raise SystemExit("lookup found nothing for %r" % (k,))
    per, cpu = [], []
    n = len(keys)
    for run in range(runs):
        ks = [keys[(run * iters + i) % n] for i in range(iters)]
        c0 = time.process_time()
        t0 = time.perf_counter()
        for k in ks:
            fn(k)
        per.append((time.perf_counter() - t0) / iters * 1e6)
        cpu.append((time.process_time() - c0) / iters * 1e6)
    return statistics.median(per), [round(x, 2) for x in per], statistics.median(cpu)


def main():
    t_start = time.perf_counter()
    peers = random_peers(PEERS, 7)
    results = batches(peers)
    log("built %d peers in %d results in %.1fs" % (len(peers), len(results), time.perf_counter() - t_start))

    tmp = tempfile.mkdtemp(prefix="telethon-bench-")
    try:
        path = os.path.join(tmp, "bench.session")
        runs = []
        s = None
        for run in range(RUNS):
            if s is not None:
                s.close()
            r, s = store(path, results)
            runs.append(r)
            log("store run %d: %.3fs (process_entities %.3fs + save %.3fs, CPU %.3fs): %.0f upserts/s"
                % (run + 1, r[0], r[1], r[2], r[3], PEERS / r[0]))
        med = lambda i: statistics.median(x[i] for x in runs)
        store_s = med(0)

        (count,) = s._execute("select count(*) from entities")
        if count != PEERS:
            raise SystemExit("stored %d entities, want %d" % (count, PEERS))
        file_mb = os.path.getsize(s.filename) / 1e6

        rnd = random.Random(99)
        ids = [utils.get_peer_id(utils.get_input_peer(to_tl(p))) for p in peers]
        rnd.shuffle(ids)
        # Usernames as Go's benchmark picks them: not empty, not shared.
        unames = [p[3].lower() for p in peers if p[3] and p[3] != "shared_name"]
        rnd.shuffle(unames)
        phones = [p[4] for p in peers if p[4]]
        rnd.shuffle(phones)

        detail = {
            "process_entities_100k_s": med(1),
            "save_s": med(2),
            "store_cpu_s": med(3),
            "upserts_per_cpu_s": PEERS / med(3),
        }

        def lookup(name, fn, keys, iters, warm=None):
            wall, per, cpu = time_lookups(fn, keys, iters, warm=warm)
            log("%s: %.2f µs (CPU %.2f µs) runs %s" % (name, wall, cpu, per))
            detail[name + "_cpu_us"] = cpu
            return wall

        by_id = lookup("get_input_entity_id", s.get_input_entity, ids, 20_000)
        detail["get_entity_rows_by_id_us"] = lookup(
            "get_entity_rows_by_id", s.get_entity_rows_by_id, ids, 20_000)
        by_username = lookup(
            "get_entity_rows_by_username", s.get_entity_rows_by_username, unames, 50, warm=5)
        detail["get_input_entity_username_us"] = lookup(
            "get_input_entity_username", s.get_input_entity, ["@" + u for u in unames], 50, warm=5)
        by_phone = lookup(
            "get_entity_rows_by_phone", s.get_entity_rows_by_phone, phones, 50, warm=5)
        detail["get_input_entity_phone_us"] = lookup(
            "get_input_entity_phone", s.get_input_entity, ["+" + p for p in phones], 50, warm=5)

        idx = [row[0] for row in s._cursor().execute(
            "select name from sqlite_master where type='index' and tbl_name='entities'")]
        s.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    out = {
        "library": "telethon",
        "version": telethon.__version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "peers": PEERS,
        "batch": BATCH,
        "runs": RUNS,
        "upserts_per_s": round(PEERS / store_s),
        "store_100k_s": round(store_s, 4),
        "store_runs_s": [round(x[0], 4) for x in runs],
        "by_id_us": round(by_id, 3),
        "by_username_us": round(by_username, 1),
        "by_phone_us": round(by_phone, 1),
        "detail": {k: round(v, 4) for k, v in sorted(detail.items())},
        "session_file_mb": round(file_mb, 2),
        "entities_indexes": idx,  # autoindexes only; id is the rowid
        "total_s": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
