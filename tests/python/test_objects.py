"""Cache(values="object"): the cache holds Python objects by reference.

Identity on hits; every way an entry leaves (eviction, replacement, expiry,
delete, clear, close) releases exactly one reference; a __del__ that calls the
same cache; cycles through cached objects collected; threads with eviction;
fork; the byte charge (size=); bytes caches unchanged; Redis keeps the encoded
form while the near cache keeps the object.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import weakref
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import libcache
from libcache import Cache, CacheStats, ValueTooLarge
from libcache._core import FakeClock


class Thing:
    """A plain object that weak references and __del__ can follow."""

    def __init__(self, n: int = 0) -> None:
        self.n = n


def objcache(**kw: Any) -> Cache:
    return Cache(values="object", **kw)


def test_a_hit_returns_the_very_object() -> None:
    c = objcache()
    d = {"name": "x", "n": [1, 2]}
    c["k"] = d
    assert c["k"] is d
    assert c.get("k") is d
    assert c.get_or_set("k", lambda: pytest.fail("loader called on a hit")) is d
    assert "k" in c and "nope" not in c
    assert c.values == "object"
    d["n"].append(3)  # documented: mutating a cached object mutates what hits see
    assert c["k"]["n"] == [1, 2, 3]
    s = c.stats()
    assert s.hits >= 3 and s.entries == 1
    assert c.pop("k") is d and "k" not in c
    c.close()


def test_any_object_is_stored_without_a_codec() -> None:
    c = objcache()
    values: List[Any] = [object(), Thing(), {1, 2}, [1], (1, "a"), None, 1.5, b"b", "s", lambda: 1]
    for i, v in enumerate(values):
        c[str(i)] = v
    for i, v in enumerate(values):
        assert c[str(i)] is v
    c.close()


def test_bytes_caches_copy_as_before() -> None:
    c = Cache()
    assert c.values == "bytes"
    value = "x" * 100
    c["k"] = value
    assert c["k"] == value and c["k"] is not value
    with pytest.raises(libcache.UnsupportedValue):
        c["d"] = {"a": 1}
    c.close()


def _refs_after(op: Any) -> int:
    """Reference count of an object after storing it in a cache and running op(cache)."""
    obj = Thing()
    base = sys.getrefcount(obj)
    clock = FakeClock()
    c = objcache(max_entries=4, shards=1, _clock=clock)
    c.set("k", obj, ttl=10)
    assert sys.getrefcount(obj) == base + 1
    op(c, clock)
    after = sys.getrefcount(obj) - base
    c.close()
    return after


@pytest.mark.parametrize(
    "name, op",
    [
        ("replaced", lambda c, clock: c.set("k", "other")),
        ("deleted", lambda c, clock: c.delete("k")),
        ("del item", lambda c, clock: c.__delitem__("k")),
        ("cleared", lambda c, clock: c.clear()),
        ("closed", lambda c, clock: c.close()),
        ("evicted", lambda c, clock: [c.set(f"o{i}", i) for i in range(8)]),
        ("expired", lambda c, clock: (clock.advance(11), c.get("k"))),
        ("purged", lambda c, clock: (clock.advance(11), c.purge_expired())),
        ("popped", lambda c, clock: c.pop("k") and None),
    ],
)
def test_every_way_out_releases_exactly_one_reference(name: str, op: Any) -> None:
    assert _refs_after(op) == 0, name


def test_weakrefs_die_when_entries_leave() -> None:
    c = objcache(max_entries=8, shards=1)
    refs = []
    for i in range(32):
        t = Thing(i)
        refs.append(weakref.ref(t))
        c[f"k{i}"] = t
        del t
    alive = sum(r() is not None for r in refs)
    assert alive == len(c) == 8
    c.close()
    assert all(r() is None for r in refs)


def test_a_failed_write_keeps_no_reference() -> None:
    c = objcache(max_bytes=1 << 20, shards=1, size=lambda v: 1 << 30)
    obj = Thing()
    base = sys.getrefcount(obj)
    with pytest.raises(ValueTooLarge):
        c["k"] = obj
    assert sys.getrefcount(obj) == base and "k" not in c
    c.close()


def test_del_that_calls_the_same_cache_does_not_deadlock() -> None:
    c = objcache(max_entries=4, shards=1)
    seen: List[Any] = []

    class Reentrant:
        def __del__(self) -> None:
            c.set("from-del", 1)
            seen.append(c.get("from-del"))
            c.delete("from-del")
            len(c)

    for i in range(20):
        c[f"k{i}"] = Reentrant()  # each write evicts one, running its __del__
    c.clear()
    # Every __del__ ran, and its calls worked (a nested __del__, run by the
    # eviction its own set made, may have deleted "from-del" first).
    assert len(seen) == 20 and set(seen) <= {1, None} and 1 in seen
    assert len(c) == 0
    c.close()


def test_a_cycle_through_a_cached_object_is_collected() -> None:
    gc.collect()
    c = objcache()
    t = Thing()
    t.cache = c  # type: ignore[attr-defined]
    c["self"] = t
    r = weakref.ref(t)
    rc = weakref.ref(c)
    del t, c
    gc.collect()
    assert r() is None and rc() is None


def test_gc_sees_cached_objects() -> None:
    c = objcache()
    t = Thing()
    c["k"] = t
    assert any(o is t for o in gc.get_referents(c))
    b = Cache()
    b["k"] = b"x"
    assert gc.get_referents(b) is not None  # a bytes cache is tracked too, with nothing of its entries
    c.close()
    b.close()


def test_size_charges_the_byte_bound() -> None:
    c = objcache(max_bytes=1 << 20, shards=1, size=lambda v: 100_000)
    for i in range(50):
        c[f"k{i}"] = Thing(i)
        assert c.stats().bytes <= 1 << 20
    assert 5 <= len(c) <= 10
    assert c.stats().evictions >= 40
    c.close()
    d = objcache(max_bytes=1 << 20, shards=1)
    d["small"] = b"x"
    small = d.stats().bytes
    d["big"] = b"x" * 100_000  # the default charge of bytes is their size
    assert d.stats().bytes - small >= 100_000
    d.close()
    with pytest.raises(TypeError):
        Cache(size=len)  # size= is for object caches
    with pytest.raises(ValueError):
        Cache(values="objects")
    e = objcache(size=lambda v: -1)
    with pytest.raises(ValueError):
        e["k"] = 1
    assert "k" not in e
    e.close()


def test_sixteen_threads_with_eviction_leak_nothing() -> None:
    c = objcache(max_entries=256)
    refs: List[weakref.ref[Thing]] = []
    lock = threading.Lock()
    errors: List[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(3000):
                k = f"k{(seed * 7919 + i * 31) % 1024}"
                op = i % 4
                if op == 0:
                    t = Thing(i)
                    with lock:
                        refs.append(weakref.ref(t))
                    c[k] = t
                elif op == 1:
                    v = c.get(k)
                    assert v is None or isinstance(v, Thing)
                elif op == 2:
                    c.pop(k, None)
                else:
                    c.delete(k)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert isinstance(c.stats(), CacheStats)
    assert sum(r() is not None for r in refs) == len(c)
    c.close()
    assert all(r() is None for r in refs)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_with_object_values(run_in_child: Any) -> None:
    c = objcache()
    d = {"a": 1}
    c["k"] = d

    def child() -> Any:
        got = c["k"]
        got["child"] = True  # the child's copy of the object
        c["new"] = Thing()
        c.clear()
        return got == {"a": 1, "child": True} and len(c) == 0

    assert run_in_child(child) == {"ok": "True"}
    assert c["k"] is d and d == {"a": 1}
    c.close()


# ---- With Redis: the near cache keeps the object, Redis the encoded bytes ----

redis_server = pytest.importorskip("redis_server")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    if redis_server.REDIS_SERVER is None or not libcache._core.HAS_REDIS:
        pytest.skip("needs redis-server and a _core built with hiredis")
    s = redis_server.RedisServer(tmp_path)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def test_redis_gets_the_codec_bytes_and_reads_decode_once(server: Any) -> None:
    pytest.importorskip("redis")
    loads = []

    class CountingJson(libcache.JsonCodec):
        def loads(self, data: bytes) -> Any:
            loads.append(data)
            return super().loads(data)

    a = objcache(codec="json")
    b = objcache(codec=CountingJson())
    sa = a.attach_redis(server.url, prefix="o:")
    sb = b.attach_redis(server.url, prefix="o:")
    d = {"user": 42, "tags": ["a", "b"]}
    a["u"] = d
    assert a["u"] is d  # the near cache keeps the object itself
    sa.flush(timeout=5)
    raw = server.client().get("o:u")
    assert raw is not None and raw[:1] == b"c"  # the codec's bytes, tagged
    first = b["u"]  # read through: decoded once, kept as an object
    assert first == d and first is not d
    assert b["u"] is first and b.get("u") is first
    assert len(loads) == 1
    a.close()
    b.close()
    sa.close()
    sb.close()


def test_exit_with_object_copies_being_invalidated_does_not_abort(server: Any) -> None:
    """Interpreter exit while a Redis link's thread drops object copies (each drop runs Python code)."""
    import subprocess

    script = f"""
import sys, threading, libcache
a = libcache.Cache(values="object", codec="pickle")
b = libcache.Cache(values="object", codec="pickle")
a.attach_redis({server.url!r}, prefix="x:")
sb = b.attach_redis({server.url!r}, prefix="x:")
for i in range(300):
    b[f"k{{i}}"] = {{"i": i}}
sb.flush(timeout=5)
for i in range(300):
    a.get(f"k{{i}}")           # a holds object copies, invalidated by b's writes
def churn():
    n = 0
    while True:
        b[f"k{{n % 300}}"] = {{"n": n}}
        n += 1
threading.Thread(target=churn, daemon=True).start()
sys.exit(0)                    # neither cache closed: the atexit hook stops the links
"""
    env = dict(os.environ)
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        # Neither an abort nor a failed write in the thread still writing
        # while the stores close (a write racing a close stays local).
        assert "terminate" not in r.stderr and "Traceback" not in r.stderr, r.stderr
