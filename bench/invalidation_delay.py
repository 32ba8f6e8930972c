#!/usr/bin/env python3
"""Invalidation delay: from a write's acknowledgement by Redis until another process's near cache stops serving the old value.

Processes (spawned), all on this machine, against one redis-server that this
script starts on a free loopback port (no persistence), or --url:

  reader   a libcache.Cache with attach_redis(prefix, coherence=True). Before a
           run it writes the run's keys itself (set, then flush: its own
           clean local copies; Redis sends it no invalidation for its own
           writes). For each sample it is told the key, checks that the key
           is resident locally (a local hit, the store's read_hits counter
           unchanged), answers "ready" and polls cache.get(key) in a tight
           loop until the value is no longer the old one; it timestamps the
           start of that first get (time.monotonic_ns, CLOCK_MONOTONIC, one
           clock for every process). The get that sees the change reads
           through to Redis, and its round trip is not part of the delay.
  writer   this process. On "ready" it overwrites the key and timestamps the
           moment the write returned: redis-py SET (the reply read), or
           libcache's store.set_sync in a cache attached with coherence=False
           (Redis's reply, and the local apply). delay = reader's timestamp -
           writer's. It is often negative: Redis sends the invalidation
           before the writer's reply, and the writer still has to read that
           reply (set_sync: its flusher thread reads it and wakes the caller)
           while the reader drops its copy. The table also shows the delay
           from the start of the write (just before the SET or set_sync
           call): an upper bound that includes the writer's own round trip.
  load     (the loaded runs only) a client writing pipelined SETs of 100-byte
           values under the same prefix (100k keys, 500 per pipeline, RESP
           on a socket) at --load writes/s, paced per pipeline; the achieved rate
           is measured over the run and printed. Each of its writes sends the
           reader an invalidation (BCAST tracking of the prefix): that is the
           load the reader's invalidation path has to keep up with.

Each run takes --samples samples on fresh keys (one write per key); runs
alternate between the cases (writer x load), --runs times, and the table shows
per case the median over runs of each run's p50 and p99.

Usage: python bench/invalidation_delay.py [--quick] [--url redis://...] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

try:
    import libcache
    import redis
except ImportError as e:
    sys.exit(f"{e.name} is not installed in this Python: run scripts/setup.sh, then .venv/bin/python {sys.argv[0]}")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
from redis_server import REDIS_SERVER, RedisServer  # noqa: E402

POLL_LIMIT_S = 2.0  # a sample whose change is not seen within this is "not seen"
LOAD_KEYS = 100_000
LOAD_BATCH = 500
BYTES_TAG = b"b"  # how the Python binding stores a bytes value in Redis: this tag, then the bytes


def attach(cache: libcache.Cache, url: str, prefix: str, coherence: bool) -> Tuple[libcache.RedisStore, bool]:
    """(store, whether this libcache has the coherence option)."""
    try:
        return cache.attach_redis(url, prefix=prefix, coherence=coherence), True  # type: ignore[call-arg]
    except TypeError:  # before 1.4
        return cache.attach_redis(url, prefix=prefix), False


# ---- reader --------------------------------------------------------------------------------


def reader_main(conn: Connection, url: str) -> None:
    cache: Optional[libcache.Cache] = None
    store: Optional[libcache.RedisStore] = None
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "prepare":  # a run: a cache of its own, its prefix and keys
                _, run_prefix, keys, old = msg
                if cache is not None:
                    cache.close()  # closes its store too
                cache = libcache.Cache(max_bytes=256 << 20)
                store, has = attach(cache, url, run_prefix, True)
                for k in keys:
                    cache.set(k, old)
                store.flush(timeout=30)
                s = store.stats()
                conn.send(("prepared", has, s.read_hits))
            elif msg[0] == "sample":
                _, key, old = msg
                assert store is not None and cache is not None
                get = cache.get
                before = store.stats().read_hits
                resident = get(key) == old and store.stats().read_hits == before
                clock = time.monotonic_ns
                conn.send(("ready", resident))
                limit = clock() + int(POLL_LIMIT_S * 1e9)
                while True:
                    t = clock()
                    if get(key) != old:
                        break
                    if t > limit:
                        t = -1
                        break
                conn.send(("seen", t))
            elif msg[0] == "stats":
                assert store is not None
                conn.send(("stats", _asdict(store.stats())))
            elif msg[0] == "stop":
                break
    finally:
        if cache is not None:
            cache.close()


def _asdict(stats: Any) -> Dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(stats)


# ---- load generator -----------------------------------------------------------------------------


def resp(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def load_main(conn: Connection, host: str, port: int, prefix: str, rate: float) -> None:
    """Pipelined SETs under prefix at `rate` writes/s until told to stop; answers (writes, seconds).

    The pipelines are RESP built once and sent on a plain socket: redis-py
    builds a pipeline in Python at about 30-40k SETs/s on this machine, too
    slow to pace 50k/s from one process.
    """
    import socket

    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    value = os.urandom(100)
    batches = [
        b"".join(resp(b"SET", f"{prefix}load:{i}".encode(), value) for i in range(start, start + LOAD_BATCH))
        for start in range(0, LOAD_KEYS, LOAD_BATCH)
    ]
    reply = b"+OK\r\n" * LOAD_BATCH
    period = LOAD_BATCH / rate  # seconds per pipeline at the target rate
    conn.send("started")
    written = 0
    b = 0
    t0 = time.monotonic()
    next_at = t0
    while not conn.poll():
        sock.sendall(batches[b])
        b = (b + 1) % len(batches)
        got = bytearray()
        while len(got) < len(reply):
            chunk = sock.recv(len(reply) - len(got))
            if not chunk:
                raise ConnectionError("Redis closed the load generator's connection")
            got += chunk
        if got != reply:
            raise RuntimeError(f"unexpected replies to the load's SETs: {bytes(got[:80])!r}")
        written += LOAD_BATCH
        next_at += period
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            next_at = time.monotonic()  # behind: no catching up in a burst
    conn.recv()
    conn.send((written, time.monotonic() - t0))
    sock.close()


# ---- writer and runs -------------------------------------------------------------------------------


def pct(values: List[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def one_run(ctx: Any, url: str, reader: Connection, writer_kind: str, load: float, samples: int) -> Dict[str, Any]:
    prefix = f"inv:{uuid.uuid4().hex[:8]}:"
    keys = [f"k{i:07d}" for i in range(samples)]
    old, new = b"o" * 100, b"n" * 100
    reader.send(("prepare", prefix, keys, old))
    _, has_coherence, _ = reader.recv()
    if not has_coherence:  # before 1.4: the old value stays until its TTL; nothing to time
        return {"delays_us": [], "p50_us": None, "p99_us": None, "max_us": None, "p50_start_us": None,
                "p99_start_us": None, "not_resident": 0,
                "not_seen": samples, "load_achieved": 0.0, "coherence": False}
    r = redis.Redis.from_url(url)
    wcache = libcache.Cache(max_bytes=64 << 20)
    wstore, _ = attach(wcache, url, prefix, False)
    loader = None
    if load > 0:
        lconn, child = ctx.Pipe()
        where = redis.Redis.from_url(url).connection_pool.connection_kwargs
        loader = ctx.Process(target=load_main, args=(child, where["host"], where["port"], prefix, load))
        loader.start()
        child.close()
        lconn.recv()
        time.sleep(0.3)  # let it reach its rate
    delays: List[float] = []
    from_start: List[float] = []
    not_resident = not_seen = 0
    try:
        for k in keys:
            reader.send(("sample", k, old))
            _, resident = reader.recv()
            t_send = time.monotonic_ns()
            if writer_kind == "redis-py SET":
                # The key in Redis is the prefix plus the cache's key; the
                # value as the binding stores bytes (its type tag b"b", then
                # the payload), so that the reader's read-through returns it.
                r.set(prefix + k, BYTES_TAG + new)
            else:
                wstore.set_sync(k, new, timeout=10)
            t_ack = time.monotonic_ns()
            _, t_seen = reader.recv()
            if not resident:
                not_resident += 1
            elif t_seen < 0:
                not_seen += 1
            else:
                delays.append((t_seen - t_ack) / 1000.0)
                from_start.append((t_seen - t_send) / 1000.0)
    finally:
        achieved = 0.0
        if loader is not None:
            lconn.send("stop")
            written, seconds = lconn.recv()
            achieved = written / seconds
            loader.join()
        wstore.close()
        wcache.close()
        r.delete(*[prefix + k for k in keys])
    return {
        "delays_us": delays,
        "p50_us": pct(delays, 50) if delays else None,
        "p99_us": pct(delays, 99) if delays else None,
        "max_us": max(delays) if delays else None,
        "p50_start_us": pct(from_start, 50) if from_start else None,
        "p99_start_us": pct(from_start, 99) if from_start else None,
        "not_resident": not_resident,
        "not_seen": not_seen,
        "load_achieved": achieved,
        "coherence": has_coherence,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples and runs")
    ap.add_argument("--url", help="an existing Redis (keys under inv: are written and deleted)")
    ap.add_argument("--samples", type=int, help="samples per run (default 2000; --quick 300)")
    ap.add_argument("--runs", type=int, help="runs per case (default 5; --quick 2)")
    ap.add_argument("--load", type=float, default=50_000, help="background writes/s of the loaded case (default 50,000)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    samples = args.samples or (300 if args.quick else 2000)
    runs = args.runs or (2 if args.quick else 5)

    server = None
    url = args.url
    if url is None:
        if REDIS_SERVER is None:
            sys.exit("redis-server not found (Debian: redis-server), and no --url given")
        server = RedisServer(Path(tempfile.mkdtemp(prefix="libcache-bench-")))
        server.start()
        url = server.url
    ctx = multiprocessing.get_context("spawn")
    rconn, child = ctx.Pipe()
    reader = ctx.Process(target=reader_main, args=(child, url))
    reader.start()
    child.close()
    cases = [(w, load) for load in (0.0, args.load) for w in ("redis-py SET", "libcache set_sync")]
    results: Dict[Tuple[str, float], List[Dict[str, Any]]] = {c: [] for c in cases}
    try:
        for rep in range(runs):
            for case in cases:
                res = one_run(ctx, url, rconn, case[0], case[1], samples)
                results[case].append(res)
                print(f"run {rep + 1}/{runs}, writer {case[0]}, load {case[1]:,.0f}/s: p50 {fmt(res['p50_us'])} µs, "
                      f"p99 {fmt(res['p99_us'])} µs, max {fmt(res['max_us'])} µs, achieved load "
                      f"{res['load_achieved']:,.0f}/s, not seen within {POLL_LIMIT_S:g} s: {res['not_seen']}, "
                      f"not resident: {res['not_resident']}", file=sys.stderr)
        rconn.send(("stats",))
        reader_stats = rconn.recv()[1]
        rconn.send(("stop",))
    finally:
        reader.join(30)
        if reader.is_alive():
            reader.terminate()
        if server is not None:
            server.stop()

    rows = []
    for (writer, load), rs in results.items():
        ok = [r for r in rs if r["p50_us"] is not None]
        rows.append({
            "writer": writer,
            "load_target": load,
            "load_achieved": statistics.median(r["load_achieved"] for r in rs),
            "p50_us": statistics.median(r["p50_us"] for r in ok) if ok else None,
            "p99_us": statistics.median(r["p99_us"] for r in ok) if ok else None,
            "max_us": max(r["max_us"] for r in ok) if ok else None,
            "p50_start_us": statistics.median(r["p50_start_us"] for r in ok) if ok else None,
            "p99_start_us": statistics.median(r["p99_start_us"] for r in ok) if ok else None,
            "samples": sum(len(r["delays_us"]) for r in rs),
            "not_seen": sum(r["not_seen"] for r in rs),
            "not_resident": sum(r["not_resident"] for r in rs),
            "runs": len(rs),
        })  # fmt: skip
    coherence = all(r["coherence"] for rs in results.values() for r in rs)
    print(f"libcache {libcache.__version__}, redis-py {redis.__version__}, {os.cpu_count()} cores, {runs} runs of "
          f"{samples} samples per case, medians over runs{'' if coherence else ' -- NO COHERENCE in this libcache'}")
    print(f"{'':39} {'from the ack':>30} {'from the write':>20}")
    print(f"{'writer':20} {'load (achieved)':>18} {'p50 µs':>9} {'p99 µs':>9} {'max µs':>10} {'p50 µs':>9} "
          f"{'p99 µs':>9} {'not seen':>9}")
    for row in rows:
        load = f"{row['load_target']:,.0f} ({row['load_achieved']:,.0f})" if row["load_target"] else "0"
        print(f"{row['writer']:20} {load:>18} {fmt(row['p50_us']):>9} {fmt(row['p99_us']):>9} "
              f"{fmt(row['max_us']):>10} {fmt(row['p50_start_us']):>9} {fmt(row['p99_start_us']):>9} "
              f"{row['not_seen']:>9}")
    inv = reader_stats.get("invalidations")
    if inv is not None:
        print(f"reader: {inv:,} invalidations, {reader_stats.get('invalidated', 0):,} local copies dropped, "
              f"{reader_stats.get('tracking_resets', 0)} tracking resets (its last store)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "libcache": libcache.__version__, "redis_py": redis.__version__, "python": platform.python_version(),
            "cores": os.cpu_count(), "runs": runs, "samples": samples, "poll_limit_s": POLL_LIMIT_S,
            "coherence": coherence, "rows": rows, "reader_stats": reader_stats,
            "load_avg": open("/proc/loadavg").read().split()[:3],
        }, indent=2))  # fmt: skip


def fmt(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.1f}"


if __name__ == "__main__":
    main()
