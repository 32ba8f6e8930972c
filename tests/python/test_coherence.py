"""Near-cache coherence from Python: Cache.attach_redis(coherence=...), RedisStore.command/invalidate, the stats.

A real redis-server per test (tests/python/redis_server.py); "another
client" is redis-py or another process's cache (tests/python/redis_worker.py).
The engine's rules (what a conflict keeps, the fill tokens, losses of
tracking) are tested in C++ (tests/store, tests/redis); these check that
Python sees them through the binding.
"""

from __future__ import annotations

import gc
import struct
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any, Iterator, List

import pytest

pytest.importorskip("redis")

from helpers import wait_until  # noqa: E402
from redis_server import REDIS_SERVER, RedisServer  # noqa: E402
from redis_worker import Worker  # noqa: E402

import libcache  # noqa: E402
from libcache import ArrayReply, BackendError, Cache, CacheClosed, RedisReplyError, RedisStats  # noqa: E402

pytestmark = [
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (Debian: redis-server)"),
    pytest.mark.skipif(not libcache._core.HAS_REDIS, reason="this _core was built without hiredis"),
]

FAST = dict(connect_timeout=0.2, command_timeout=0.2, retry_backoff=(0.005, 0.05))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def cache() -> Iterator[Cache]:
    c = Cache(max_bytes=16 << 20, codec="json")
    yield c
    c.close()


def tagged(value: Any) -> bytes:
    """What the cache stores (and so Redis holds) for a str or an int: its type tag, then the payload."""
    if isinstance(value, str):
        return b"s" + value.encode()
    assert isinstance(value, int)
    return b"i" + struct.pack("<q", value)


def test_a_key_changed_or_deleted_by_another_client_stops_being_served(server: RedisServer, cache: Cache) -> None:
    r = server.client()
    store = cache.attach_redis(server.url, prefix="c:")
    s0 = store.stats()
    assert isinstance(s0, RedisStats)
    assert s0.coherence and s0.coherent and s0.tracking and s0.tracking_resets == 0
    assert s0.health_check_age is None or s0.health_check_age >= 0
    cache.set("k", "v1")
    store.flush(timeout=5)
    assert cache.get("k") == "v1"
    r.set("c:k", tagged("v2"))  # redis-py: another client
    assert wait_until(lambda: cache.get("k") == "v2"), "the old local copy is still served"
    r.delete("c:k")
    assert wait_until(lambda: cache.get("k") is None)
    r.set("other:k", tagged("x"))  # not under the prefix: nothing to drop
    s = store.stats()
    assert s.invalidation_messages >= 2 and s.invalidations >= 2 and s.invalidated >= 1
    assert s.flushall_messages == 0 and s.conflicts == 0
    assert wait_until(lambda: store.stats().health_check_age is not None)


def test_a_key_changed_by_another_process_stops_being_served(server: RedisServer, cache: Cache) -> None:
    store = cache.attach_redis(server.url, prefix="app:")
    cache.set("price:9", 12)
    store.flush(timeout=5)
    assert cache.get("price:9") == 12
    with Worker(server.url, prefix="app:").ready() as other:
        assert other.call("cache.get", "price:9") == 12  # read through from Redis
        other.call("cache.set", "price:9", 15)  # write-behind in the other process
        other.call("store.flush", 5)
        assert wait_until(lambda: cache.get("price:9") == 15)
        # And the other way round: this process's write reaches the other's near cache.
        cache.set("price:9", 16)
        store.flush(timeout=5)
        assert wait_until(lambda: other.call("cache.get", "price:9") == 16)
        assert other.call("store.stats")["invalidated"] >= 1


def test_while_writes_run_an_invalidated_value_is_never_served_again(server: RedisServer, cache: Cache) -> None:
    # Another client writes 1, 2, 3... to one key; this cache reads it in a
    # loop. Once it returned n, it never returns anything older: an
    # invalidation wins over a read in flight (its late reply is not kept).
    r = server.client()
    cache.attach_redis(server.url, prefix="c:")
    r.set("c:n", tagged(0))
    stop = threading.Event()
    last: List[int] = [0]

    def writer() -> None:
        w = server.client()
        n = 0
        while not stop.is_set() and n < 3000:
            n += 1
            w.set("c:n", tagged(n))
        last[0] = n

    t = threading.Thread(target=writer)
    t.start()
    seen = 0
    reads = 0
    try:
        while t.is_alive():
            v = cache.get("n")
            assert isinstance(v, int) and v >= seen, f"served {v} after {seen}"
            seen = v
            reads += 1
    finally:
        stop.set()
        t.join(30)
    assert reads > 0
    assert wait_until(lambda: cache.get("n") == last[0])  # and after the writes, exactly Redis's value


def test_coherence_off_keeps_serving_the_local_copy(server: RedisServer) -> None:
    r = server.client()
    with Cache() as plain, Cache() as coherent:
        store = plain.attach_redis(server.url, prefix="c:", coherence=False)
        coherent.attach_redis(server.url, prefix="c:")
        r.set("c:k", tagged("old"))
        assert plain.get("k") == "old" and coherent.get("k") == "old"
        r.set("c:k", tagged("new"))
        assert wait_until(lambda: coherent.get("k") == "new")  # the invalidation went out...
        assert plain.get("k") == "old"  # ...and the process that asked for none keeps its copy
        s = store.stats()
        assert not s.coherence and not s.tracking and s.invalidation_messages == 0
        assert not store.coherence and store.read_through
    with Cache() as writer_only:
        store = writer_only.attach_redis(server.url, read_through=False)  # coherence=True, but no reads
        assert not store.stats().coherence and not store.coherence


def test_a_local_write_not_yet_flushed_wins_over_a_remote_change(server: RedisServer, cache: Cache) -> None:
    r = server.client()
    store = cache.attach_redis(server.url, prefix="c:", flush_interval=60)  # the write waits in the queue
    cache.set("k", "local")
    before = store.stats().invalidation_messages
    r.set("c:k", tagged("remote"))
    assert wait_until(lambda: store.stats().invalidation_messages > before)
    assert cache.get("k") == "local"  # it reaches Redis later, and wins there too
    assert store.stats().conflicts >= 1
    store.flush(timeout=5)
    assert r.get("c:k") == tagged("local")


def test_a_waiting_touch_does_not_keep_a_stale_value(server: RedisServer, cache: Cache) -> None:
    r = server.client()
    store = cache.attach_redis(server.url, prefix="c:", flush_interval=60)
    r.set("c:k", tagged("old"))
    assert cache.get("k") == "old"
    assert cache.touch("k", 300)  # an EXPIRE waits in the queue
    before = store.stats().invalidation_messages
    r.set("c:k", tagged("new"))
    assert wait_until(lambda: store.stats().invalidation_messages > before)
    assert cache.get("k") == "new"


def test_flushall_drops_every_local_copy(server: RedisServer, cache: Cache) -> None:
    r = server.client()
    store = cache.attach_redis(server.url, prefix="c:")
    for i in range(10):
        cache.set(f"k{i}", i)
    store.flush(timeout=5)
    assert len(cache) == 10
    r.flushall()
    assert wait_until(lambda: len(cache) == 0)
    assert cache.get("k1") is None  # and Redis has nothing either
    s = store.stats()
    assert s.flushall_messages >= 1 and s.invalidated >= 10


def test_a_killed_invalidation_connection_resets_tracking(server: RedisServer, cache: Cache) -> None:
    r = server.client()
    store = cache.attach_redis(server.url, prefix="c:")
    r.set("c:k", tagged("v1"))
    assert cache.get("k") == "v1" and len(cache) == 1
    subs = [c for c in r.client_list() if "subscribe" in c.get("cmd", "") or int(c.get("sub", 0)) > 0]
    assert len(subs) == 1, subs
    r.client_kill_filter(_id=subs[0]["id"])
    assert wait_until(lambda: store.stats().tracking_resets >= 1)
    assert wait_until(lambda: store.stats().tracking)  # back, with a new subscription
    assert cache.get("k") == "v1"  # read again from Redis
    r.set("c:k", tagged("v2"))
    assert wait_until(lambda: cache.get("k") == "v2")  # and coherent again


def test_stats_after_close_are_a_snapshot(server: RedisServer, cache: Cache) -> None:
    store = cache.attach_redis(server.url, prefix="c:")
    cache.set("k", 1)
    store.close()
    s = store.stats()
    assert s.coherence and not s.tracking and s.connects >= 1 and s.flushed_ops == 1


def test_a_cache_nobody_closed_is_freed_with_its_store(server: RedisServer) -> None:
    # The cache holds its store (cache.redis_store), the store the cache: a
    # cycle the collector must be able to break (else its threads and
    # connections would live forever).
    c = Cache()
    store = c.attach_redis(server.url)
    assert c.redis_store is store
    ref = weakref.ref(c)
    del c, store
    with warnings.catch_warnings():  # other tests' garbage: redis-py sockets warn when collected unclosed
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    assert ref() is None
    with server.client() as r:
        assert wait_until(lambda: len(r.client_list()) == 1)  # only this one: the cache's are closed


# ---- RedisStore.command and invalidate ----------------------------------------------------


def test_command_replies_and_errors(server: RedisServer, cache: Cache) -> None:
    store = cache.attach_redis(server.url, prefix="c:")
    assert store.prefix == b"c:"
    assert store.command("SET", b"c:x", "v") == "OK"  # a status reply: str
    assert store.command("GET", "c:x") == b"v"  # a bulk string: bytes
    assert store.command("INCRBY", "c:n", 5) == 5  # an integer
    assert store.command("INCRBYFLOAT", "c:f", 1.5) == b"1.5"
    assert store.command("GET", "c:absent") is None  # nil
    assert store.command("MGET", "c:x", "c:n", "c:absent") == ArrayReply(3)  # the length only
    assert store.command("EVAL", "return cjson.encode({1, 2})", 0) == b"[1,2]"  # structured data: a script
    with pytest.raises(RedisReplyError, match="WRONGTYPE") as e:
        store.command("LPUSH", "c:x", "1")
    assert isinstance(e.value, libcache.Error)
    with pytest.raises(RedisReplyError, match="unknown command"):
        store.command("NOSUCHCOMMAND")
    with pytest.raises(TypeError):
        store.command()
    with pytest.raises(TypeError):
        store.command("GET", None)  # type: ignore[arg-type]
    with pytest.raises(libcache.InvalidArgument):
        store.command("SUBSCRIBE", "ch")  # would change the shared connection's state
    # What command() writes reaches this cache as another client's write does.
    cache.set("x", "local")
    store.flush(timeout=5)
    assert cache.get("x") == "local"
    store.command("SET", "c:x", tagged("remote"))
    assert wait_until(lambda: cache.get("x") == "remote")


def test_invalidate_drops_the_local_copy_at_once(server: RedisServer, cache: Cache) -> None:
    store = cache.attach_redis(server.url, prefix="c:", coherence=False)  # no invalidation would come
    r = server.client()
    r.set("c:k", tagged("old"))
    assert cache.get("k") == "old"
    store.command("SET", "c:k", tagged("new"))
    assert cache.get("k") == "old"
    store.invalidate("k")
    assert cache.get("k") == "new"
    store.close()
    with pytest.raises(CacheClosed):
        store.invalidate("k")


def test_command_with_redis_paused_or_down_raises_backend_error(server: RedisServer, cache: Cache) -> None:
    store = cache.attach_redis(server.url, **FAST)  # type: ignore[arg-type]
    server.pause()
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="within 0.1 s"):
        store.command("GET", "k", timeout=0.1)
    assert time.monotonic() - t0 < 2
    server.resume()
    assert store.command("PING") == "PONG"
    server.kill()
    with pytest.raises(BackendError):
        store.command("PING")
    store.close(0.1)
    with pytest.raises(CacheClosed):
        store.command("PING")


def test_closing_the_cache_waits_for_a_command_in_another_thread(server: RedisServer) -> None:
    c = Cache()
    store = c.attach_redis(server.url, **FAST)  # type: ignore[arg-type]
    outcome: List[Any] = []

    def slow() -> None:
        try:
            outcome.append(store.command("DEBUG", "SLEEP", "0.3", timeout=2))
        except BaseException as e:  # noqa: BLE001
            outcome.append(e)

    t = threading.Thread(target=slow)
    t.start()
    with server.client() as r:
        assert wait_until(lambda: any("debug" in x.get("cmd", "") for x in r.client_list()))
    c.close()  # frees the adapter only once the command has returned
    t.join(10)
    assert outcome == ["OK"]
    with pytest.raises(CacheClosed):
        store.command("PING")


def test_command_async(server: RedisServer, cache: Cache) -> None:
    import asyncio

    store = cache.attach_redis(server.url)

    async def main() -> Any:
        return await store.command_async("ECHO", "hi")

    assert asyncio.run(main()) == b"hi"
