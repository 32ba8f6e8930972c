"""The Redis tier from Python (Cache.attach_redis, libcache.RedisStore), against a real redis-server.

Each test starts its own server (tests/python/redis_server.py) on a free
loopback port and checks what Redis holds with redis-py. The engine's own
guarantees (ordering, coalescing, retries across kill -9...) are tested in C++
(tests/redis/); these check what the binding adds: arguments, types in Redis,
read-through through get/c[k]/get_or_set, errors, the GIL, Ctrl-C, asyncio,
close and fork.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

pytest.importorskip("redis")

from helpers import run_forked, wait_until  # noqa: E402
from redis_server import REDIS_SERVER, RedisServer  # noqa: E402

import libcache  # noqa: E402
from libcache import (  # noqa: E402
    BackendError,
    Cache,
    CacheClosed,
    DeadLetter,
    InvalidArgument,
    QueueFull,
    RedisStats,
    RedisStore,
    StoreError,
    StoreRejected,
    Timeout,
)

pytestmark = [
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (Debian: redis-server)"),
    pytest.mark.skipif(not libcache._core.HAS_REDIS, reason="this _core was built without hiredis"),
]

# Short Redis timeouts: a stopped server costs each test a fraction of a second.
FAST = dict(connect_timeout=0.2, command_timeout=0.2, retry_backoff=(0.005, 0.05))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path)
    s.start()
    try:
        yield s
    finally:
        s.stop()  # resumes a paused server first


@pytest.fixture
def cache() -> Iterator[Cache]:
    c = Cache(max_bytes=16 << 20, codec="json")
    yield c
    c.close()


def tagged(value: Any) -> bytes:
    """What the cache stores (and so Redis holds) for a plain value: the binding's type tag, then the payload."""
    import struct

    if isinstance(value, bytes):
        return b"b" + value
    if isinstance(value, str):
        return b"s" + value.encode()
    if value is True:
        return b"T"
    if value is False:
        return b"F"
    if value is None:
        return b"N"
    if isinstance(value, int):
        return b"i" + struct.pack("<q", value)
    if isinstance(value, float):
        return b"d" + struct.pack("<d", value)
    raise AssertionError(value)


VALUES: Dict[str, Any] = {
    "str": "héllo",
    "bytes": b"\x00\xffraw",
    "int": -42,
    "bigint": 1 << 100,
    "float": 2.5,
    "true": True,
    "false": False,
    "none": None,
    "codec": {"user": 42, "tags": ["a", "b"]},  # through the json codec
}


# ---- Write-behind ---------------------------------------------------------------------


def test_write_behind_round_trip_with_type_tags_prefix_and_ttl(server: RedisServer, cache: Cache) -> None:
    r = server.client()
    with cache.attach_redis(server.url, prefix="app:") as store:
        assert isinstance(store, RedisStore) and store.cache is cache
        for name in ("str", "bytes", "int", "float", "true", "false", "none"):
            cache.set(name, VALUES[name], ttl=0)
        cache["codec"] = VALUES["codec"]
        cache.set("ttl", "x", ttl=30)
        cache.set("gone", "y")
        del cache["gone"]
        store.flush(timeout=5)
        for name in ("str", "bytes", "int", "float", "true", "false", "none"):
            assert r.get(f"app:{name}") == tagged(VALUES[name]), name
            assert r.pttl(f"app:{name}") == -1  # ttl=0: never expires, in both places
        assert r.get("app:codec") == b"c" + json.dumps(VALUES["codec"]).encode().replace(b" ", b"")
        assert r.get("app:gone") is None and r.get("gone") is None
        assert r.get("str") is None  # the prefix applies to every key
        # The TTL in Redis is the local one (absolute expiry, PXAT), to clock resolution.
        local = cache.ttl("ttl")
        assert local is not None
        assert abs(r.pttl("app:ttl") / 1000.0 - local) < 0.5
        cache.touch("ttl", 100)  # PEXPIREAT
        store.flush(timeout=5)
        assert 99_000 < r.pttl("app:ttl") <= 100_000
        s = store.stats()
        assert isinstance(s, RedisStats) and s.flushed_ops >= 11 and s.queued_ops == 0
        with pytest.raises(Exception):
            s.flushed_ops = 0  # type: ignore[misc]  # frozen


def test_read_through_between_two_caches_keeps_types_and_ttl(server: RedisServer) -> None:
    with Cache(codec="json") as a, Cache(codec="json") as b:
        sa = a.attach_redis(server.url, prefix="t:")
        sb = b.attach_redis(server.url, prefix="t:")
        for name, value in VALUES.items():
            a.set(name, value, ttl=60)
        sa.flush(timeout=5)
        assert len(b) == 0
        got = {name: b.get(name) for name in VALUES}
        assert got == VALUES
        assert {name: type(v) for name, v in got.items()} == {name: type(v) for name, v in VALUES.items()}
        assert len(b) == len(VALUES)  # filled locally...
        ttl = b.ttl("str")
        assert ttl is not None and 59 < ttl <= 60  # ...with Redis's remaining TTL
        a.set("sub", "via c[k]")
        a.set("gos", 7)
        a.set("in", b"x")
        sa.flush(timeout=5)
        assert b["sub"] == "via c[k]"
        assert b.get_or_set("gos", lambda: pytest.fail("loader called for a key Redis holds")) == 7
        assert "in" in b and "absent" not in b
        with pytest.raises(KeyError):
            b["absent"]
        assert b.get_or_set("absent", lambda: "loaded") == "loaded"
        s = sb.stats()
        assert s.read_hits >= len(VALUES) + 3 and s.read_misses >= 2
        sb.flush(timeout=5)  # the loaded "absent" was written back (a local write)
        assert server.client().get("t:absent") == tagged("loaded")


def test_read_through_off(server: RedisServer) -> None:
    with Cache() as a, Cache() as b:
        sa = a.attach_redis(server.url)
        b.attach_redis(server.url, read_through=False)
        a.set("k", "v")
        sa.flush(timeout=5)
        assert b.get("k") is None


CHILD = """
import sys, libcache
c = libcache.Cache(codec="json")
s = c.attach_redis(sys.argv[1], prefix="p:")
for k, v in {values}.items():
    c.set(k, v, ttl=60)
assert s.close(5) == 0
"""


def test_two_processes_read_back_the_types_written(server: RedisServer) -> None:
    values = {k: v for k, v in VALUES.items() if k != "bytes"}  # a literal in the script: no bytes repr games
    values["bytes"] = b"\x00\x01"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(values=repr(values)), server.url],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    with Cache(codec="json") as c:
        c.attach_redis(server.url, prefix="p:")
        got = {k: c.get(k) for k in values}
        assert got == values
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in values.items()}
    # A cache without the codec refuses the codec value rather than guessing.
    with Cache() as plain:
        plain.attach_redis(server.url, prefix="p:")
        with pytest.raises(libcache.CodecError, match="codec"):
            plain.get("codec")
        assert plain.get("str") == values["str"]


def test_foreign_value_in_redis_is_a_codec_error(server: RedisServer, cache: Cache) -> None:
    server.client().set("raw", b"written by another program")
    cache.attach_redis(server.url)
    with pytest.raises(libcache.CodecError, match="another program"):
        cache.get("raw")


# ---- Write-through ------------------------------------------------------------------


def test_set_sync_and_delete_sync(server: RedisServer, cache: Cache) -> None:
    r = server.client()
    store = cache.attach_redis(server.url, prefix="s:", flush_interval=60)  # write-behind would wait a minute
    store.set_sync("k", 1.5, ttl=30)
    assert r.get("s:k") == tagged(1.5)  # in Redis on return, without a flush
    assert 29_000 < r.pttl("s:k") <= 30_000
    assert cache.get("k") == 1.5
    ttl = cache.ttl("k")
    assert ttl is not None and 29 < ttl <= 30
    store.set_sync(b"k", "replaced")  # "k" and b"k" are one key
    assert r.get("s:k") == tagged("replaced") and r.pttl("s:k") == -1
    store.delete_sync("k")
    assert r.get("s:k") is None and cache.get("k") is None
    with pytest.raises(libcache.UnsupportedValue):
        Cache().attach_redis(server.url).set_sync("k", object())
    with pytest.raises(TypeError):
        store.set_sync(42, "v")  # type: ignore[arg-type]


def test_set_sync_rejected_leaves_the_cache_unchanged(server: RedisServer, cache: Cache) -> None:
    r = server.client()
    assert r.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~ok:*", "&__redis__:invalidate", "+@all") == b"OK"
    store = cache.attach_redis(server.url_for("app", "pw"))
    cache.set("nope", "local")  # queued; it will be a dead letter, not our concern here
    store.flush(timeout=5)
    with pytest.raises(StoreRejected, match="refused") as e:
        store.set_sync("nope", "remote")
    assert isinstance(e.value, StoreError)
    assert cache.get("nope") == "local"
    store.set_sync("ok:1", "fine")
    assert r.get("ok:1") == tagged("fine")


def test_set_sync_timeout_leaves_the_cache_unchanged(server: RedisServer, cache: Cache) -> None:
    store = cache.attach_redis(server.url, **FAST)  # type: ignore[arg-type]
    cache.set("k", "before")
    store.flush(timeout=5)
    server.pause()
    with pytest.raises(Timeout, match="unchanged") as e:
        store.set_sync("k", "after", timeout=0.2)
    assert isinstance(e.value, TimeoutError)
    assert cache.get("k") == "before"


# ---- Bounds, outages, close ----------------------------------------------------------


def test_on_full_fail_with_redis_stopped(server: RedisServer, cache: Cache) -> None:
    store = cache.attach_redis(
        server.url, on_full="fail", max_queue_ops=8, read_through=False, **FAST  # type: ignore[arg-type]
    )
    cache.set("kept", "old")
    store.flush(timeout=5)
    server.pause()
    accepted: List[str] = []
    refused = None
    for i in range(100):
        try:
            cache.set(f"k{i}", i)
            accepted.append(f"k{i}")
        except QueueFull as e:
            refused = f"k{i}"
            assert "unchanged" in str(e) and isinstance(e, StoreError)
            break
    assert refused is not None, "100 writes fitted in a queue of 8 operations"
    assert cache.get(refused) is None  # the refused write left no trace...
    with pytest.raises(QueueFull):
        cache.set("kept", "new")
    assert cache.get("kept") == "old"  # ...nor did this one
    with pytest.raises(QueueFull):
        del cache["kept"]
    assert cache.get("kept") == "old"
    s = store.stats()
    assert s.refused_full >= 3 and s.queued_ops <= 8
    server.resume()
    store.flush(timeout=5)
    r = server.client()
    assert [r.get(k) for k in accepted] == [tagged(int(k[1:])) for k in accepted]
    assert r.get(refused) is None and r.get("kept") == tagged("old")


def test_close_with_redis_stopped_returns_in_time_and_reports_unflushed(server: RedisServer, cache: Cache) -> None:
    store = cache.attach_redis(server.url, **FAST)  # type: ignore[arg-type]
    server.pause()
    for i in range(5):
        cache.set(f"k{i}", i)
    t0 = time.monotonic()
    unflushed = store.close(timeout=0.3)
    elapsed = time.monotonic() - t0
    # The bound: the timeout plus one store call (connect + 3 x command timeouts).
    assert elapsed < 0.3 + 0.2 + 3 * 0.2 + 1.0, elapsed
    assert unflushed == 5
    assert store.closed
    assert store.close() == 0  # again: nothing more to report
    with pytest.raises(CacheClosed):
        store.flush()
    cache.set("local", "only")  # the cache goes on, locally
    assert cache.get("local") == "only"
    server.resume()
    # Unflushed means not confirmed: the batch may have been sent before the
    # close gave up (the writer connection is up from attach on), and the
    # resumed Redis then runs it. Nothing the cache wrote after the close
    # goes to Redis.
    assert server.client().get("k0") in (None, tagged(0))
    assert server.client().get("local") is None


def test_closing_the_cache_wakes_a_flush_in_another_thread(server: RedisServer) -> None:
    cache = Cache()
    store = cache.attach_redis(server.url, **FAST)  # type: ignore[arg-type]
    server.pause()
    cache.set("k", "v")
    outcome: List[BaseException] = []
    entered = threading.Event()

    def flush() -> None:
        entered.set()
        try:
            store.flush(timeout=None)  # no limit: only the close can end it
        except BaseException as e:  # noqa: BLE001
            outcome.append(e)

    t = threading.Thread(target=flush)
    t.start()
    entered.wait()
    cache.close()  # closes the store with no wait, waking the flush
    t.join(10)
    assert not t.is_alive(), "the flush still waits after the cache closed"
    assert len(outcome) == 1 and isinstance(outcome[0], CacheClosed)
    assert store.closed


def test_a_read_through_miss_releases_the_gil(server: RedisServer, cache: Cache) -> None:
    cache.attach_redis(server.url, read_timeout=1.0, **FAST)  # type: ignore[arg-type]
    server.pause()
    started: List[float] = []
    result: List[Any] = []

    def read() -> None:
        started.append(time.monotonic())
        result.append(cache.get("missing", "default"))  # waits read_timeout (1 s) for Redis

    t = threading.Thread(target=read)
    t.start()
    ran_at = _first_chance_to_run(started)
    t.join(10)
    assert result == ["default"]
    # Had the reader kept the GIL, this thread could not have run before its
    # get returned, a whole read_timeout after it started.
    assert ran_at - started[0] < 0.5, f"this thread ran only {ran_at - started[0]:.2f} s after the get started"


def _first_chance_to_run(started: List[float]) -> float:
    """When this thread got to run again after the other one recorded its start (a spin, holding no lock)."""
    while not started:
        time.sleep(0)  # lets the other thread take the GIL
    return time.monotonic()


def test_a_blocked_write_releases_the_gil(server: RedisServer, cache: Cache) -> None:
    store = cache.attach_redis(
        server.url, on_full="block", block_timeout=1.0, max_queue_ops=1, read_through=False, **FAST  # type: ignore[arg-type]
    )
    server.pause()
    cache.set("first", 1)  # fills the queue
    started: List[float] = []
    errors: List[BaseException] = []

    def write() -> None:
        started.append(time.monotonic())
        try:
            cache.set("second", 2)  # waits block_timeout (1 s) for room
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=write)
    t.start()
    ran_at = _first_chance_to_run(started)
    t.join(10)
    assert ran_at - started[0] < 0.5, f"this thread ran only {ran_at - started[0]:.2f} s after the set started"
    assert len(errors) == 1 and isinstance(errors[0], QueueFull)
    assert cache.get("second") is None
    assert store.stats().refused_full == 1


# ---- Dead letters, errors, credentials ----------------------------------------------------


def test_dead_letters_for_a_key_the_acl_forbids(server: RedisServer, cache: Cache) -> None:
    r = server.client()
    assert r.execute_command("ACL", "SETUSER", "app", "on", ">s3cret", "~ok:*", "&__redis__:invalidate", "+@all") == b"OK"
    store = cache.attach_redis(server.url_for("app", "s3cret"), max_retries=1, retry_backoff=(0.001, 0.01))
    for i in range(50):
        cache.set(f"ok:{i}", i)
        if i == 10:
            cache.set("poison", "x")
    store.flush(timeout=5)
    assert [r.get(f"ok:{i}") for i in range(50)] == [tagged(i) for i in range(50)]  # the poison blocked nobody
    letters = store.dead_letters()
    assert len(letters) == 1 and isinstance(letters[0], DeadLetter)
    key, reason = letters[0]
    assert key == b"poison" and reason.startswith("NOPERM"), reason
    assert "s3cret" not in reason
    assert store.dead_letters() == []  # drained
    assert store.stats().dead_letters == 1
    assert cache.get("poison") == "x"  # still cached locally


def test_bad_url_and_unreachable_server_say_why_without_credentials(server: RedisServer, cache: Cache) -> None:
    with pytest.raises(InvalidArgument) as bad:
        cache.attach_redis("redis://user:s3cret@127.0.0.1:notaport/0")
    assert isinstance(bad.value, ValueError)
    assert "port" in str(bad.value) and "s3cret" not in str(bad.value)
    with pytest.raises(InvalidArgument, match="rediss|scheme|TLS|URL"):
        cache.attach_redis("rediss://127.0.0.1:6379")
    server.client().config_set("requirepass", "right")
    with pytest.raises(BackendError) as denied:
        cache.attach_redis(server.url_for("default", "wr0ng-pw"))
    assert isinstance(denied.value, OSError) and isinstance(denied.value, StoreError)
    assert "wr0ng-pw" not in str(denied.value)
    store = cache.attach_redis(server.url_for("default", "right"))  # the failures left nothing attached
    assert "right" not in repr(store)
    with pytest.raises(libcache.Error, match="already"):
        cache.attach_redis(server.url_for("default", "right"))


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(on_full="drop"), ValueError),
        (dict(flush_interval=-1), ValueError),
        (dict(flush_interval="5"), TypeError),
        (dict(batch_size=0), ValueError),
        (dict(batch_size=True), TypeError),
        (dict(max_queue_bytes=1 << 41), ValueError),
        (dict(read_timeout=0), ValueError),
        (dict(command_timeout=float("nan")), ValueError),
        (dict(retry_backoff=(1.0, 0.5)), ValueError),
        (dict(read_through=1), TypeError),
        (dict(prefix=1), TypeError),
    ],
)
def test_bad_arguments_attach_nothing(server: RedisServer, cache: Cache, kwargs: Dict[str, Any], exc: type) -> None:
    with pytest.raises(exc):
        cache.attach_redis(server.url, **kwargs)
    cache.attach_redis(server.url).close()  # nothing was attached


# ---- Ctrl-C, asyncio -------------------------------------------------------------------


def _interrupt_when_blocked(main_ident: int, func_name: str) -> threading.Thread:
    """Sends SIGINT to this process once the main thread's innermost Python frame is func_name."""

    def run() -> None:
        def blocked() -> bool:
            frame = sys._current_frames().get(main_ident)
            return frame is not None and frame.f_code.co_name == func_name

        if wait_until(blocked):
            os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals reach the main thread only")
@pytest.mark.parametrize("call", ["flush", "set_sync", "close", "command"])
def test_ctrl_c_interrupts_a_blocking_call_at_once(server: RedisServer, cache: Cache, call: str) -> None:
    store = cache.attach_redis(server.url, **FAST)  # type: ignore[arg-type]
    server.pause()
    cache.set("k", "v")
    calls: Dict[str, Callable[[], Any]] = {
        "flush": lambda: store.flush(timeout=20),
        "set_sync": lambda: store.set_sync("s", "v", timeout=20),
        "close": lambda: store.close(timeout=20),
        "command": lambda: store.command("GET", "k", timeout=20),
    }
    t = _interrupt_when_blocked(threading.get_ident(), call)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        calls[call]()
    elapsed = time.monotonic() - t0
    t.join()
    assert elapsed < 5, f"{call} raised KeyboardInterrupt only after {elapsed:.1f} s (its timeout is 20 s)"
    server.resume()
    if call != "close":
        store.flush(timeout=5)  # the store still works
        assert server.client().get("k") == tagged("v")


def test_async_variants_never_block_the_event_loop(server: RedisServer, cache: Cache) -> None:
    store = cache.attach_redis(server.url, **FAST)  # type: ignore[arg-type]
    r = server.client()

    async def main() -> int:
        server.pause()
        cache.set("k", "v")
        flush = asyncio.ensure_future(store.flush_async(timeout=10))
        ticks = 0
        for _ in range(5):  # the loop runs while the flush waits for the paused Redis
            await asyncio.sleep(0.01)
            ticks += 1
        assert not flush.done()
        server.resume()
        await flush
        await store.set_sync_async("s", 3, ttl=60)
        await store.delete_sync_async("k")
        return ticks

    assert asyncio.run(main()) == 5
    assert r.get("k") is None and r.get("s") == tagged(3) and cache.get("s") == 3
    assert asyncio.run(store.close_async(5)) == 0


# ---- fork ----------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_gets_an_inert_store_and_can_attach_its_own(server: RedisServer, cache: Cache) -> None:
    r = server.client()
    store = cache.attach_redis(server.url, flush_interval=30)  # the parent's write waits in its queue
    cache.set("parent", "queued")
    # The parent's write is queued but not sent (no flush yet, interval 30 s).
    assert store.stats().queued_ops == 1

    def child() -> Dict[str, Any]:
        report: Dict[str, Any] = {"closed": store.closed}
        try:
            store.flush(timeout=1)
        except CacheClosed as e:
            report["flush"] = str(e)
        cache.set("local", 1)
        report["local"] = cache.get("local")
        own = cache.attach_redis(server.url, prefix="child:")
        cache.set("mine", "from child")
        own.flush(timeout=5)
        report["unflushed"] = own.close(timeout=5)
        report["inherited_close"] = store.close()
        return report

    data, status = run_forked(child, 15.0, "the forked child hung")
    assert os.WIFEXITED(status), status
    report = json.loads(data)
    assert report["closed"] is True and "fork" in report["flush"]
    assert report["local"] == 1 and report["unflushed"] == 0 and report["inherited_close"] == 0
    assert r.get("child:mine") == tagged("from child")
    assert r.get("parent") is None, "the child sent the parent's queue"
    assert r.get("child:parent") is None
    store.flush(timeout=5)  # the parent's store is untouched by the child
    assert r.get("parent") == tagged("queued")
