#!/usr/bin/env python3
"""The Redis tier from Python: libcache's write-behind and read-through against redis-py, same Redis, same run.

Starts its own redis-server on a free loopback port (no persistence), or uses
--url. Keys are 16-character ASCII str, values 100-byte bytes. Cases (µs/op):

  libcache set (write-behind)   c.set(k, v) on a cache linked to Redis: the
                                call returns once the write is local and queued
  libcache set + flush          the same loop, then store.flush(): the time
                                until Redis has every write, per write
  redis-py set                  r.set(k, v): one round trip each
  redis-py pipeline set         the same writes in one pipeline
                                (transaction=False), per write
  libcache get, read-through    c.get(k) of a key Redis holds and the local
                                cache does not (cleared before the loop): a
                                round trip (GET and PTTL), then a local fill
  libcache get, miss through    c.get(k) of a key neither has: a round trip
  libcache get, local hit       c.get(k) once filled (linked cache: it
                                releases the GIL around the engine call)
  plain get, local hit          c.get(k) on a cache with no store, for scale
  redis-py get hit / miss       r.get(k)

Each repetition runs every case once, in a shuffled order; the table shows
medians over repetitions (the garbage collector off in the timed loops).

Usage: python bench/python_redis_bench.py [--quick] [--url redis://...] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

try:
    import libcache
    import redis
except ImportError as e:
    sys.exit(f"{e.name} is not installed in this Python: run scripts/setup.sh, then .venv/bin/python {sys.argv[0]}")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
from redis_server import REDIS_SERVER, RedisServer  # noqa: E402


def keys_of(prefix: str, n: int) -> List[str]:
    return [f"{prefix}{i:014d}"[-16:].rjust(16, "k") for i in range(n)]


def timed(fn: Callable[[], None], n: int) -> float:
    """µs per op of fn() (which does n ops), garbage collector off."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        fn()
        t1 = time.perf_counter_ns()
    finally:
        gc.enable()
    return (t1 - t0) / n / 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer ops and repetitions")
    ap.add_argument("--url", help="an existing Redis (its keys under bench: are overwritten)")
    ap.add_argument("--json", help="write the medians here")
    args = ap.parse_args()
    reps = 3 if args.quick else 9
    n_rtt = 500 if args.quick else 2000  # ops of the cases with a round trip each
    n_local = 20_000 if args.quick else 100_000

    server = None
    url = args.url
    if url is None:
        if REDIS_SERVER is None:
            sys.exit("redis-server not found (Debian: redis-server), and no --url given")
        server = RedisServer(Path(tempfile.mkdtemp(prefix="libcache-bench-")))
        server.start()
        url = server.url
    try:
        run(url, reps, n_rtt, n_local, args.json)
    finally:
        if server is not None:
            server.stop()


def run(url: str, reps: int, n_rtt: int, n_local: int, json_path: Any) -> None:
    value = os.urandom(100)
    r = redis.Redis.from_url(url)
    r.ping()
    linked = libcache.Cache(max_bytes=256 << 20)
    store = linked.attach_redis(url, prefix="bench:")
    plain = libcache.Cache(max_bytes=256 << 20)
    reader = libcache.Cache(max_bytes=256 << 20)  # cleared before each read-through loop
    reader_store = reader.attach_redis(url, prefix="bench:")
    wkeys = keys_of("w", n_local)
    rkeys = keys_of("r", n_rtt)
    absent = keys_of("absent", n_rtt)
    lkeys = keys_of("l", n_local)
    for k in rkeys:  # what read-through finds in Redis
        linked.set(k, value)
    for k in lkeys:
        linked.set(k, value)
        plain.set(k, value)
    store.flush(timeout=60)
    pkeys = [f"bench:{k}" for k in keys_of("p", n_rtt)]

    def lc_set() -> None:
        s = linked.set
        for k in wkeys:
            s(k, value)

    def lc_set_flush() -> None:
        lc_set()
        store.flush(timeout=60)

    def rp_set() -> None:
        s = r.set
        for k in pkeys:
            s(k, value)

    def rp_pipe() -> None:
        p = r.pipeline(transaction=False)
        for k in pkeys:
            p.set(k, value)
        p.execute()

    def lc_through() -> None:
        g = reader.get
        for k in rkeys:
            g(k)

    def lc_miss() -> None:
        g = reader.get
        for k in absent:
            g(k)

    def lc_hit() -> None:
        g = linked.get
        for k in lkeys:
            g(k)

    def plain_hit() -> None:
        g = plain.get
        for k in lkeys:
            g(k)

    def rp_get_hit() -> None:
        g = r.get
        for k in pkeys:
            g(k)

    def rp_get_miss() -> None:
        g = r.get
        for k in absent:
            g(k)

    cases: Dict[str, Any] = {
        "libcache set (write-behind)": (lc_set, n_local, lambda: store.flush(timeout=60)),
        "libcache set + flush": (lc_set_flush, n_local, None),
        "redis-py set": (rp_set, n_rtt, None),
        "redis-py pipeline set": (rp_pipe, n_rtt, None),
        "libcache get, read-through": (lc_through, n_rtt, None),
        "libcache get, miss through": (lc_miss, n_rtt, None),
        "libcache get, local hit": (lc_hit, n_local, None),
        "plain get, local hit": (plain_hit, n_local, None),
        "redis-py get hit": (rp_get_hit, n_rtt, None),
        "redis-py get miss": (rp_get_miss, n_rtt, None),
    }
    rp_set()  # so that redis-py's gets hit
    results: Dict[str, List[float]] = {name: [] for name in cases}
    for _ in range(reps):
        order = list(cases)
        random.shuffle(order)
        for name in order:
            fn, n, after = cases[name]
            if name == "libcache get, read-through":
                reader.clear()  # local only (a clear is not sent to Redis)
            results[name].append(timed(fn, n))
            if after is not None:
                after()
    assert store.stats().dead_letters == 0
    medians = {name: statistics.median(v) for name, v in results.items()}
    print(f"libcache {libcache.__version__}, redis-py {redis.__version__}, {reps} repetitions, medians (µs/op)")
    print(f"{'case':34} {'µs/op':>10} {'ops/s':>12}")
    for name, us in medians.items():
        print(f"{name:34} {us:10.3f} {1e6 / us:12,.0f}")
    s = store.stats()
    rs = reader_store.stats()
    print(f"store: {s.flushed_ops} ops flushed in {s.batches} batches; reader: {rs.read_hits} read-through hits, {rs.read_misses} misses")
    if json_path:
        Path(json_path).write_text(json.dumps({"us_per_op": medians, "reps": reps}, indent=2))
    store.close(timeout=10)
    linked.close()
    reader.close()
    plain.close()


if __name__ == "__main__":
    main()
