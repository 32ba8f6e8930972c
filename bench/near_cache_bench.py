#!/usr/bin/env python3
"""Near-cache hits from Python against a round trip to the same Redis, same run.

Starts its own redis-server on a free loopback port (no persistence), or uses
--url. Cases (ns/op; keys 16-character str; values 100-byte bytes):

  near-cache get hit        cache.get(k) of a key resident locally, on a Cache
                            with attach_redis(prefix, coherence=True) (each
                            key written by this cache and flushed, so Redis
                            has it too)
  redis-py GET              r.get(prefix + k) of the same keys on the same
                            Redis: one round trip each
  session get hit           SessionStore.get(sid) over that cache, the session
                            resident locally (read once before): the
                            near-cache read, the codec (JSON) and the checks
                            of the record
  redis-py session read     what a Redis session backend does per request
                            (Flask-Session, Django's cache sessions on Redis):
                            r.get("session:" + sid), then json.loads; the
                            same session data (a user, a 3-item cart, a CSRF
                            token; about 250 bytes of JSON)

Each repetition runs every case once, in a shuffled order (the garbage
collector off in the timed loops); the table shows medians over repetitions
and the ratio of each redis-py case to its libcache case.

Usage: python bench/near_cache_bench.py [--quick] [--url redis://...] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List

try:
    import libcache
    import redis
except ImportError as e:
    sys.exit(f"{e.name} is not installed in this Python: run scripts/setup.sh, then .venv/bin/python {sys.argv[0]}")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
from redis_server import REDIS_SERVER, RedisServer  # noqa: E402


def timed(fn: Callable[[], None], n: int) -> float:
    """ns per op of fn() (which does n ops), garbage collector off."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        fn()
        t1 = time.perf_counter_ns()
    finally:
        gc.enable()
    return (t1 - t0) / n


def session_data(i: int) -> Dict[str, Any]:
    return {
        "user": 100_000 + i,
        "name": f"user{i}",
        "role": "customer",
        "cart": [{"sku": "lamp-oak", "qty": 1}, {"sku": "mug-copper", "qty": 2}, {"sku": "scarf-linen", "qty": 1}],
        "csrf": uuid.uuid4().hex + uuid.uuid4().hex,
    }


def attach(cache: libcache.Cache, url: str, prefix: str) -> libcache.RedisStore:
    try:
        return cache.attach_redis(url, prefix=prefix, coherence=True)  # type: ignore[call-arg]
    except TypeError:  # before 1.4: no coherence option
        return cache.attach_redis(url, prefix=prefix)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer ops and repetitions")
    ap.add_argument("--url", help="an existing Redis (keys under nc: are written)")
    ap.add_argument("--json", help="write the medians here")
    args = ap.parse_args()
    reps = 3 if args.quick else 9
    n_local = 20_000 if args.quick else 200_000  # ops of a near-cache case
    n_rtt = 500 if args.quick else 3_000  # ops of a redis-py case

    server = None
    url = args.url
    if url is None:
        if REDIS_SERVER is None:
            sys.exit("redis-server not found (Debian: redis-server), and no --url given")
        server = RedisServer(Path(tempfile.mkdtemp(prefix="libcache-bench-")))
        server.start()
        url = server.url
    try:
        run(url, reps, n_local, n_rtt, args.json)
    finally:
        if server is not None:
            server.stop()


def run(url: str, reps: int, n_local: int, n_rtt: int, json_path: Any) -> None:
    prefix = f"nc:{uuid.uuid4().hex[:8]}:"
    r = redis.Redis.from_url(url)
    r.ping()
    cache = libcache.Cache(max_bytes=256 << 20)
    store = attach(cache, url, prefix)
    sessions = libcache.SessionStore(cache)
    value = os.urandom(100)
    n_keys = 1000  # resident keys, cycled through
    keys = [f"k{i:015d}" for i in range(n_keys)]
    for k in keys:
        cache.set(k, value)
    sids = [sessions.create(session_data(i)) for i in range(n_keys)]
    store.flush(timeout=60)
    for sid in sids:
        assert sessions.get(sid) is not None  # resident locally from here on
    rkeys = [(prefix + k).encode() for k in keys]
    # The redis-py backend's sessions: the same data as JSON under its own keys.
    rsids = [f"{prefix}rsession:{uuid.uuid4().hex}".encode() for _ in range(n_keys)]
    for i, k in enumerate(rsids):
        r.set(k, json.dumps(session_data(i)))
    assert r.get(rkeys[0]) is not None

    def cycle(items: List[Any], n: int) -> List[Any]:
        return (items * (n // len(items) + 1))[:n]

    local_keys, rtt_keys = cycle(keys, n_local), cycle(rkeys, n_rtt)
    local_sids, rtt_sids = cycle(sids, n_local // 4), cycle(rsids, n_rtt)
    read_hits = store.stats().read_hits

    def near_get() -> None:
        g = cache.get
        for k in local_keys:
            g(k)

    def rp_get() -> None:
        g = r.get
        for k in rtt_keys:
            g(k)

    def session_get() -> None:
        g = sessions.get
        for sid in local_sids:
            g(sid)

    def rp_session() -> None:
        g, loads = r.get, json.loads
        for k in rtt_sids:
            loads(g(k))

    cases: Dict[str, Any] = {
        "near-cache get hit": (near_get, n_local),
        "redis-py GET": (rp_get, n_rtt),
        "session get hit": (session_get, len(local_sids)),
        "redis-py session read (GET + json.loads)": (rp_session, n_rtt),
    }
    results: Dict[str, List[float]] = {name: [] for name in cases}
    for _ in range(reps):
        order = list(cases)
        random.shuffle(order)
        for name in order:
            fn, n = cases[name]
            results[name].append(timed(fn, n))
    # Every near-cache read was local: none read through to Redis.
    local_only = store.stats().read_hits == read_hits
    medians = {name: statistics.median(v) for name, v in results.items()}
    ratios = {
        "redis-py GET / near-cache get hit": medians["redis-py GET"] / medians["near-cache get hit"],
        "redis-py session read / session get hit":
            medians["redis-py session read (GET + json.loads)"] / medians["session get hit"],
    }  # fmt: skip
    print(f"libcache {libcache.__version__}, redis-py {redis.__version__}, {reps} repetitions, medians (ns/op)")
    print(f"{'case':44} {'ns/op':>10} {'ops/s':>12}")
    for name, ns in medians.items():
        print(f"{name:44} {ns:10.1f} {1e9 / ns:12,.0f}")
    for name, x in ratios.items():
        print(f"{name:44} {x:9.0f}x")
    print(f"near-cache reads served locally only (no read-through): {local_only}")
    if json_path:
        Path(json_path).write_text(json.dumps({
            "libcache": libcache.__version__, "redis_py": redis.__version__, "python": platform.python_version(),
            "reps": reps, "ns_per_op": medians, "ratios": ratios, "local_only": local_only,
            "session_bytes": len(json.dumps(session_data(0))),
            "load_avg": open("/proc/loadavg").read().split()[:3],
        }, indent=2))  # fmt: skip
    store.close(timeout=10)
    cache.close()


if __name__ == "__main__":
    main()
