#!/usr/bin/env python3
"""Django's cache API through libcache.contrib.django.LibcacheCache against Django's own backends.

All in this process and this run, medians of interleaved repetitions:

  local:  LibcacheCache (no Redis) against LocMemCache
  shared: LibcacheCache with Redis attached (write-behind, read-through,
          coherence) against Django's RedisCache, both on one local
          redis-server this script starts (tests/python/redis_server.py)

Operations (µs per call, through django.core.cache.caches[alias]):

  get-hit-str    cache.get(k) of a resident key holding a 20-character str
  get-hit-dict   cache.get(k) of a resident key holding a small dict
                 ({"id": i, "name": ..., "tags": [...]})
  set-str        cache.set(k, str) of a resident key (default timeout)
  set-dict       cache.set(k, dict)
  session-read   one request through django.test.RequestFactory and
                 SessionMiddleware whose view reads request.session["user"]
                 (SESSION_ENGINE = "django.contrib.sessions.backends.cache"
                 over the engine's cache alias); the session is not modified

1,000 resident keys walked in a fixed shuffled order; each repetition times
every (engine, op) once, in a shuffled order; gc is off inside the timed loops.

Usage: python bench/django_bench.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

from redis_server import RedisServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--json", help="write the medians as JSON here")
    args = ap.parse_args()
    reps = 5 if args.quick else 21

    tmp = tempfile.TemporaryDirectory()
    server = RedisServer(Path(tmp.name))
    server.start()
    try:
        run(server.url, reps, args.json)
    finally:
        server.stop()
        tmp.cleanup()


def run(url: str, reps: int, json_path: str | None) -> None:
    settings.configure(
        SECRET_KEY="bench",
        INSTALLED_APPS=["django.contrib.sessions"],
        MIDDLEWARE=[],
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "libcache": {"BACKEND": "libcache.contrib.django.LibcacheCache", "LOCATION": "bench"},
            "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "bench",
                       "OPTIONS": {"MAX_ENTRIES": 100_000}},
            "libcache+redis": {"BACKEND": "libcache.contrib.django.LibcacheCache", "LOCATION": "bench-redis",
                               "OPTIONS": {"REDIS_URL": url, "REDIS_PREFIX": "lc:"}},
            "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                      "KEY_PREFIX": "dj"},
        },
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
    )
    django.setup()
    from django.contrib.sessions.backends.cache import SessionStore
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.core.cache import caches
    from django.http import HttpResponse
    from django.test import RequestFactory

    engines = ["libcache", "locmem", "libcache+redis", "redis"]
    n = 1000
    keys = [f"user:{i:06d}:profile" for i in range(n)]
    random.Random(1).shuffle(keys)
    text = "x" * 20
    dicts = {k: {"id": i, "name": f"name {i}", "tags": ["a", "b", "c"]} for i, k in enumerate(keys)}
    for e in engines:
        c = caches[e]
        for k in keys:
            c.set("s" + k, text)
            c.set("d" + k, dicts[k])
    caches["libcache+redis"].flush(10)
    skeys = ["s" + k for k in keys]
    dkeys = ["d" + k for k in keys]

    factory = RequestFactory()
    requests: Dict[str, Any] = {}
    middlewares: Dict[str, Any] = {}

    def view(request: Any) -> HttpResponse:
        return HttpResponse(request.session["user"]["name"])

    for e in engines:
        store_cls = type(f"Store_{e}", (SessionStore,), {"__init__": _store_init(e, SessionStore, caches)})
        s = store_cls()
        s["user"] = {"id": 1, "name": "Ada"}
        s.save()
        mw = SessionMiddleware(view)
        mw.SessionStore = store_cls
        middlewares[e] = mw
        requests[e] = s.session_key
    caches["libcache+redis"].flush(10)

    def op(e: str, name: str) -> Tuple[Callable[[], None], int]:
        c = caches[e]
        if name in ("get-hit-str", "get-hit-dict"):
            get, keys = c.get, skeys if name == "get-hit-str" else dkeys

            def f() -> None:
                for k in keys:
                    get(k)
            return f, n
        if name == "set-str":
            set_ = c.set

            def f() -> None:
                for k in skeys:
                    set_(k, text)
            return f, n
        if name == "set-dict":
            set_ = c.set

            def f() -> None:
                for k in dkeys:
                    set_(k, dicts[k[1:]])
            return f, n
        mw, sk = middlewares[e], requests[e]
        m = 200

        def f() -> None:
            for _ in range(m):
                request = factory.get("/")
                request.COOKIES[settings.SESSION_COOKIE_NAME] = sk
                mw(request)
        return f, m

    ops = ["get-hit-str", "get-hit-dict", "set-str", "set-dict", "session-read"]
    cases = [(e, o) for e in engines for o in ops]
    results: Dict[Tuple[str, str], List[float]] = {c: [] for c in cases}
    built = {c: op(*c) for c in cases}
    for fn, _ in built.values():  # warm-up
        fn()
    rng = random.Random(2)
    for _ in range(reps):
        order = cases[:]
        rng.shuffle(order)
        for case in order:
            fn, count = built[case]
            if case[0] == "libcache+redis":
                caches["libcache+redis"].flush(10)  # the previous case's writes do not overlap this one
            gc.disable()
            t0 = time.perf_counter_ns()
            fn()
            t1 = time.perf_counter_ns()
            gc.enable()
            results[case].append((t1 - t0) / count / 1000)
    med = {c: statistics.median(v) for c, v in results.items()}

    print(f"Django {django.get_version()}, Python {sys.version.split()[0]}; µs per call, median of {reps} repetitions")
    print(f"{'op':14} {'libcache':>10} {'LocMem':>10} {'ratio':>7}   {'libcache+redis':>14} {'RedisCache':>10} {'ratio':>7}")
    for o in ops:
        a, b = med["libcache", o], med["locmem", o]
        c_, d = med["libcache+redis", o], med["redis", o]
        print(f"{o:14} {a:10.3f} {b:10.3f} {b / a:6.1f}x   {c_:14.3f} {d:10.3f} {d / c_:6.1f}x")
    print("ratio: the Django backend's time / libcache's (above 1: libcache is faster)")
    from libcache.contrib.django import close_caches

    close_caches(5.0)  # flush and close the Redis store while its server runs
    if json_path:
        Path(json_path).write_text(json.dumps({f"{e}/{o}": v for (e, o), v in med.items()}, indent=1))


def _store_init(alias: str, base: Any, caches: Any) -> Callable[..., None]:
    def __init__(self: Any, session_key: Any = None) -> None:
        base.__init__(self, session_key)
        self._cache = caches[alias]
    return __init__


if __name__ == "__main__":
    main()
