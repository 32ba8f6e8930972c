"""libcache.contrib.django.LibcacheCache: options, Django's timeout and copy semantics,
the Redis tier, the async API, and Django's cache session engine over it
shared by two processes through one Redis. (Django's own backend test suite
runs in test_django_suite.py.)"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

pytest.importorskip("django")

import django_settings  # noqa: E402

django_settings.configure()

from django.core.cache import CacheKeyWarning  # noqa: E402
from django.core.cache.backends.base import DEFAULT_TIMEOUT  # noqa: E402
from helpers import wait_until  # noqa: E402

from libcache.contrib.django import LibcacheCache  # noqa: E402

_names = itertools.count()


def make(options: Dict[str, Any] | None = None, **params: Any) -> LibcacheCache:
    """A backend on a cache of its own (a fresh LOCATION)."""
    params.setdefault("OPTIONS", options or {})
    return LibcacheCache(f"test-{os.getpid()}-{next(_names)}", params)


class Unpicklable:
    def __reduce__(self) -> Any:
        raise pickle.PicklingError("no")


# ---- options -------------------------------------------------------------------


def test_unknown_option_is_refused() -> None:
    with pytest.raises(ValueError, match="MAX_ENTRIE"):
        make({"MAX_ENTRIE": 3})


def test_max_entries_bounds_the_cache() -> None:
    c = make({"MAX_ENTRIES": 10, "MAX_BYTES": None, "SHARDS": 1})
    for i in range(50):
        c.set(f"k{i}", i)
    assert sum(c.has_key(f"k{i}") for i in range(50)) == 10


@pytest.mark.parametrize("policy", ["clock", "adaptive"])
def test_policy_option_selects_the_eviction_policy(policy: str) -> None:
    c = make({"MAX_ENTRIES": 10, "MAX_BYTES": None, "SHARDS": 1, "POLICY": policy})
    assert c._cache.policy == policy
    for i in range(50):
        c.set(f"k{i}", i)
        assert c.get(f"k{i}") == i  # a set is always stored
    assert sum(c.has_key(f"k{i}") for i in range(50)) == 10


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="policy"):
        make({"POLICY": "lru"})


def test_max_bytes_counts_pickled_values() -> None:
    c = make({"MAX_BYTES": 64 << 10, "SHARDS": 1})
    for i in range(20):
        c.set(f"k{i}", ["x" * 10_000])  # ~10 KB pickled each
    assert sum(c.has_key(f"k{i}") for i in range(20)) <= 7
    assert c._cache.stats().bytes <= 64 << 10


def test_value_too_large_is_dropped_not_raised() -> None:
    c = make({"MAX_BYTES": 4096, "SHARDS": 1})
    c.set("big", "small")
    c.set("big", "y" * 100_000)
    assert c.get("big") is None


def test_same_location_and_bounds_share_one_cache() -> None:
    a = LibcacheCache("shared-loc", {"KEY_PREFIX": "a"})
    b = LibcacheCache("shared-loc", {"KEY_PREFIX": "b"})
    other = LibcacheCache("shared-loc", {"OPTIONS": {"MAX_ENTRIES": 5}})
    assert a._cache is b._cache and other._cache is not a._cache
    a.set("k", 1)
    assert b.get("k") is None and a.get("k") == 1


def test_close_keeps_the_cache() -> None:
    c = make()
    c.set("k", "v")
    c.close()
    assert c.get("k") == "v"


# ---- timeouts ------------------------------------------------------------------


def test_default_timeout_is_the_backends() -> None:
    c = make()
    c.set("k", "v")
    assert 299 < c._cache.ttl(c.make_key("k")) <= 300
    c2 = make(TIMEOUT=60)
    c2.set("k", "v", DEFAULT_TIMEOUT)
    assert 59 < c2._cache.ttl(c2.make_key("k")) <= 60


def test_none_is_forever_and_zero_or_negative_expire_at_once() -> None:
    c = make(TIMEOUT=None)
    c.set("forever", 1)
    assert c._cache.ttl(c.make_key("forever")) is None
    c.set("k", 1, timeout=10)
    c.set("k", 2, timeout=0)
    assert c.get("k") is None and not c.has_key("k")
    c.set("k", 1, timeout=10)
    c.set("k", 2, timeout=-5)
    assert c.get("k") is None
    assert c.add("new", 1, timeout=0) is True and c.get("new") is None
    c.set("t", 1, timeout=10)
    assert c.touch("t", 0) is True and c.get("t") is None
    c.set("t", 1, timeout=10)
    assert c.touch("t", None) is True and c._cache.ttl(c.make_key("t")) is None
    c.set_many({"a": 1, "b": 2}, timeout=0)
    assert c.get_many(["a", "b"]) == {}


def test_zero_default_timeout_stores_nothing() -> None:
    c = make(TIMEOUT=0)
    c.set("k", 1)
    assert c.get("k") is None


def test_short_timeout_expires() -> None:
    c = make()
    c.set("k", "v", timeout=0.05)
    assert c.get("k") == "v"
    time.sleep(0.1)
    assert c.get("k") is None


def test_incr_keeps_the_remaining_timeout() -> None:
    c = make()
    c.set("n", 1, timeout=50)
    assert c.incr("n", 5) == 6
    assert 45 < c._cache.ttl(c.make_key("n")) <= 50
    c.set("m", 1, timeout=None)
    assert c.decr("m") == 0 and c._cache.ttl(c.make_key("m")) is None
    with pytest.raises(ValueError):
        c.incr("missing")


# ---- values: Django's copy contract ------------------------------------------------


def test_mutable_values_are_copies() -> None:
    c = make()
    value = {"a": [1, 2]}
    c.set("k", value)
    value["a"].append(3)
    got = c.get("k")
    assert got == {"a": [1, 2]}
    got["a"].append(4)
    assert c.get("k") == {"a": [1, 2]}
    assert c.get("k") is not c.get("k")


def test_immutable_values_are_held_as_objects() -> None:
    c = make()
    s = "x" * 100
    c.set("s", s)
    assert c.get("s") is s
    for v in (b"b", 12, 2**70, 1.5, True, None):
        c.set("v", v)
        assert c.get("v", "default") == v and type(c.get("v", "default")) is type(v)


def test_unpicklable_values_raise_on_write() -> None:
    c = make()
    with pytest.raises(pickle.PicklingError):
        c.set("k", Unpicklable())
    with pytest.raises(pickle.PicklingError):
        c.add("k", Unpicklable())
    with pytest.raises(pickle.PicklingError):
        c.set_many({"k": Unpicklable()})
    assert c.get("k") is None


def test_key_warnings_repeat_and_versions_apply() -> None:
    c = make()
    for _ in range(2):
        with pytest.warns(CacheKeyWarning):
            c.set("bad key", 1)
    c.set("k", "v1", version=1)
    c.set("k", "v2", version=2)
    assert c.get("k") == "v1" and c.get("k", version=2) == "v2"
    assert c.incr_version("k") == 2 and c.get("k", version=2) == "v1"
    c.key_prefix = "p"
    assert c.get("k", version=2) is None  # the new prefix: other keys


# ---- async ------------------------------------------------------------------------


def test_async_api() -> None:
    c = make()

    async def main() -> None:
        await c.aset("k", [1])
        assert await c.aget("k") == [1]
        assert await c.aget("missing", "d") == "d"
        assert await c.aadd("k", 2) is False
        assert await c.aadd("k2", 2) is True
        assert await c.ahas_key("k2") is True
        assert await c.aincr("k2", 3) == 5
        assert await c.adecr("k2") == 4
        assert await c.atouch("k2", 100) is True
        await c.aset_many({"a": 1, "b": 2})
        assert await c.aget_many(["a", "b", "z"]) == {"a": 1, "b": 2}
        await c.adelete_many(["a", "b"])
        assert await c.aget_many(["a", "b"]) == {}
        assert await c.aget_or_set("g", lambda: "loaded") == "loaded"
        assert await c.adelete("g") is True
        assert await c.aincr_version("k") == 2
        await c.aclear()
        assert await c.aget("k", version=2) is None
        await c.aclose()

    asyncio.run(main())


# ---- Redis tier -------------------------------------------------------------------

redis_server = pytest.importorskip("redis_server")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    if redis_server.REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    s = redis_server.RedisServer(tmp_path)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def pair(server: Any) -> Iterator[Any]:
    """Two backends on two local caches (two 'servers') sharing one Redis."""
    made = []

    def make_pair(**options: Any) -> tuple[LibcacheCache, LibcacheCache]:
        opts = {"REDIS_URL": server.url, "REDIS_PREFIX": "dj:", **options}
        a, b = make(opts), make(opts)
        made.extend([a, b])
        return a, b

    yield make_pair
    for c in made:
        c._cache.close()


def test_redis_write_behind_and_read_through(pair: Any, server: Any) -> None:
    a, b = pair()
    a.set("k", {"x": 1})
    a.set("s", "text", timeout=None)
    a.flush(5)
    assert b.get("k") == {"x": 1} and b.get("s") == "text"
    assert server.client().exists(b"dj:" + a.make_key("k").encode())
    a.delete("k")
    a.flush(5)
    assert wait_until(lambda: b.get("k") is None)  # coherence: b's copy is invalidated
    a.set("t", 1, timeout=0)
    a.flush(5)
    assert b.get("t") is None


def test_redis_write_through(pair: Any) -> None:
    a, b = pair(WRITE_THROUGH=True)
    a.set("k", [1, 2])
    assert b.get("k") == [1, 2]
    assert a.add("added", "v") is True
    assert b.get("added") == "v"
    assert b.delete("k") is True
    assert wait_until(lambda: a.get("k") is None)
    a.set_many({"m1": 1, "m2": 2})
    assert b.get_many(["m1", "m2"]) == {"m1": 1, "m2": 2}


def test_redis_clear_deletes_the_prefix_only(pair: Any, server: Any) -> None:
    a, b = pair(WRITE_THROUGH=True)
    r = server.client()
    r.set(b"other:key", b"kept")
    a.set("k", 1)
    b.clear()
    assert r.get(b"other:key") == b"kept" and not r.exists(b"dj:" + a.make_key("k").encode())
    assert wait_until(lambda: a.get("k") is None)


def test_redis_async(pair: Any) -> None:
    a, b = pair()

    async def main() -> None:
        await a.aset("k", {"v": 1})
        a.flush(5)
        assert await b.aget("k") == {"v": 1}  # a miss here: read through in the executor
        assert await b.aget("k") == {"v": 1}  # a local hit
        assert await b.ahas_key("k") is True
        assert await b.aget("nothing", "d") == "d"

    asyncio.run(main())


# ---- sessions: Django's cache session engine, two processes, one Redis ----------------

_SESSION_WORKER = textwrap.dedent(
    """
    import json, sys
    import django
    from django.conf import settings
    url, mode, write_through = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    settings.configure(
        SECRET_KEY="s",
        INSTALLED_APPS=["django.contrib.sessions"],
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
        CACHES={"default": {
            "BACKEND": "libcache.contrib.django.LibcacheCache",
            "OPTIONS": {"REDIS_URL": url, "REDIS_PREFIX": "sess:", "WRITE_THROUGH": write_through},
        }},
    )
    django.setup()
    from django.contrib.sessions.backends.cache import SessionStore
    from django.core.cache import cache
    if mode == "create":
        s = SessionStore()
        s["user"] = {"id": 42, "name": "Ada"}
        s.save()
        cache.flush(5)
        print(json.dumps({"key": s.session_key}))
    else:
        s = SessionStore(session_key=mode)
        out = {"user": s.get("user"), "exists": s.exists(mode)}
        s["visits"] = 1
        s.save()
        cache.flush(5)
        print(json.dumps(out))
    """
)


@pytest.mark.parametrize("write_through", [True, False], ids=["write-through", "write-behind"])
def test_cache_sessions_shared_by_two_processes(server: Any, write_through: bool) -> None:
    def run(mode: str) -> Dict[str, Any]:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        out = subprocess.run(
            [sys.executable, "-c", _SESSION_WORKER, server.url, mode, "1" if write_through else "0"],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    key = run("create")["key"]
    assert run(key) == {"user": {"id": 42, "name": "Ada"}, "exists": True}
    assert run(key)["user"] == {"id": 42, "name": "Ada"}  # the second save kept the data
