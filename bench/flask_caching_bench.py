#!/usr/bin/env python3
"""ns/op of the Flask-Caching backends: libcache's LibcacheCache against Flask-Caching's SimpleCache.

Same process, same run, medians over the repetitions. Operations, over 1,000
resident keys (16-character str) walked in a shuffled order:

  get-hit-str    get of a key holding a 100-character str (LibcacheCache keeps
                 it as an object; SimpleCache unpickles it)
  get-hit-dict   get of a key holding {"id": i, "tags": [..3 str..]} (both unpickle)
  set-str        set of a resident key to a 100-character str
  set-dict       set of a resident key to the dict

Each repetition times every (backend, op) once in a shuffled order, with the
garbage collector off; ns/op = (loop time - empty-loop time) / keys. Both
backends are unbounded enough to hold every key (threshold 10,000).

Run: PYTHONPATH=build-py/site .venv/bin/python bench/flask_caching_bench.py [--reps 15]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from typing import Any, Callable, Dict, List, Tuple

from flask_caching.backends import SimpleCache

from libcache.contrib.flask_caching import LibcacheCache

N = 1000


def timed(loop: Callable[[], None]) -> float:
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        loop()
        return time.perf_counter_ns() - t0
    finally:
        gc.enable()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    reps = ap.parse_args().reps

    keys = [f"key-{i:012d}" for i in range(N)]
    random.Random(1).shuffle(keys)
    text = "x" * 100
    record = {"id": 7, "tags": ["alpha", "beta", "gamma"]}
    backends: Dict[str, Any] = {
        "LibcacheCache": LibcacheCache(default_timeout=0, max_bytes=64 << 20, max_entries=10_000),
        "SimpleCache": SimpleCache(threshold=10_000, default_timeout=0),
    }
    for c in backends.values():
        for i, k in enumerate(keys):
            c.set(k, text if i % 2 else record)
            c.set("s" + k, text)
            c.set("d" + k, record)
    skeys = ["s" + k for k in keys]
    dkeys = ["d" + k for k in keys]

    def ops(c: Any) -> Dict[str, Callable[[], None]]:
        get, set_ = c.get, c.set

        def get_str() -> None:
            for k in skeys:
                get(k)

        def get_dict() -> None:
            for k in dkeys:
                get(k)

        def set_str() -> None:
            for k in skeys:
                set_(k, text)

        def set_dict() -> None:
            for k in dkeys:
                set_(k, record)

        return {"get-hit-str": get_str, "get-hit-dict": get_dict, "set-str": set_str, "set-dict": set_dict}

    def empty() -> None:
        for _k in skeys:
            pass

    jobs: List[Tuple[str, str, Callable[[], None]]] = [
        (name, op, fn) for name, c in backends.items() for op, fn in ops(c).items()
    ]
    results: Dict[Tuple[str, str], List[float]] = {(n, o): [] for n, o, _ in jobs}
    for _ in range(reps):
        random.shuffle(jobs)
        base = timed(empty)
        for name, op, fn in jobs:
            results[(name, op)].append(max(0.0, timed(fn) - base) / N)

    names = list(backends)
    print(f"{'op':14}" + "".join(f"{n:>16}" for n in names) + "   (ns/op, median of %d)" % reps)
    for op in ops(backends["SimpleCache"]):
        print(f"{op:14}" + "".join(f"{statistics.median(results[(n, op)]):16.0f}" for n in names))
    backends["LibcacheCache"].close()


if __name__ == "__main__":
    main()
