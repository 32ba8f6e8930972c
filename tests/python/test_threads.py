"""Many Python threads on one cache: every operation, with eviction and
expiry, values checked for integrity, bounds respected, no exception.

Nothing here depends on how fast the machine is: expiry runs on a FakeClock
that the threads themselves advance, and a close "while threads work" waits
until every thread has made progress, then each thread runs until it sees
CacheClosed.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest

import libcache
from helpers import wait_until
from libcache import Cache, CacheClosed
from libcache._core import FakeClock

RunInChild = Callable[..., Dict[str, Any]]

THREADS = 8
KEYS = 300
MAX_ENTRIES = 64
MAX_BYTES = 64 << 10


@pytest.fixture(autouse=True)
def fast_switching() -> Iterator[None]:
    """Hand the GIL over often, so that threads interleave inside the Python layer."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def _value(key: str, n: int, kind: int) -> Any:
    """A value that names its key, in one of several stored types."""
    i = int(key[1:])
    if kind == 0:
        return f"{key}|{n}|" + "é" * (n % 50)
    if kind == 1:
        return f"{key}|{n}|".encode() + b"x" * (n % 700)
    if kind == 2:
        return i * 10**30 + n  # a big int: // 10**30 gives the key back
    return i * 1_000_000 + (n % 1_000_000)  # an int64


def _owner(value: Any) -> str:
    """The key a value was stored under (inverse of _value)."""
    if isinstance(value, str):
        return value.split("|", 1)[0]
    if isinstance(value, bytes):
        return value.split(b"|", 1)[0].decode()
    if isinstance(value, int) and not isinstance(value, bool):
        return f"k{value // 10**30}" if value >= 10**30 else f"k{value // 1_000_000}"
    raise AssertionError(f"unexpected value type {type(value).__name__}: {value!r}")


def _hammer(
    c: Cache, clock: FakeClock, seed: int, ops: int, errors: List[BaseException], stop: threading.Event
) -> None:
    rng = random.Random(seed)
    try:
        for n in range(ops):
            if stop.is_set():
                return
            clock.advance(0.001)  # 8 threads: a 2 ms TTL lasts a few operations, 5 s most of the run
            key = f"k{rng.randrange(KEYS)}"
            ttl = rng.choice([None, 0, 0.002, 0.02, 5.0])
            op = rng.randrange(20)
            if op <= 3:
                c.set(key, _value(key, n, rng.randrange(4)), ttl)
            elif op == 4:
                c[key] = _value(key, n, rng.randrange(4))
            elif op == 5:
                assert c.add(key, _value(key, n, rng.randrange(4)), ttl=ttl) in (True, False)
            elif op == 6:
                assert c.replace(key, _value(key, n, rng.randrange(4)), ttl=ttl) in (True, False)
            elif op <= 9:
                v = c.get(key)
                assert v is None or _owner(v) == key, (key, v)
            elif op == 10:
                try:
                    v = c[key]
                except KeyError:
                    pass
                else:
                    assert _owner(v) == key, (key, v)
            elif op == 11:
                assert isinstance(key in c, bool)
            elif op == 12:
                assert c.delete(key) in (True, False)
            elif op == 13:
                try:
                    del c[key]
                except KeyError:
                    pass
            elif op == 14:
                v = c.pop(key, None)
                assert v is None or _owner(v) == key, (key, v)
            elif op == 15:
                assert c.touch(key, rng.choice([0, 0.01, 5.0])) in (True, False)
            elif op == 16:
                try:
                    left = c.ttl(key)
                except KeyError:
                    pass
                else:
                    assert left is None or 0 <= left <= 5.0
            elif op == 17:
                v = c.get_or_set(key, lambda k=key, n=n: _value(k, n, 0), ttl=ttl)
                assert _owner(v) == key, (key, v)
            elif op == 18:
                assert len(c) <= MAX_ENTRIES
                s = c.stats()
                assert s.entries <= MAX_ENTRIES and s.bytes <= MAX_BYTES, s
            else:
                if n % 50 == 0:
                    c.purge_expired()
                if n % 997 == 0:
                    c.clear()
    except BaseException as e:  # noqa: BLE001 - reported by the test
        errors.append(e)
        stop.set()


def _run_threads(targets: List[Callable[[], None]], timeout: float = 60.0) -> None:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t for t in threads if t.is_alive()]
    assert not alive, f"{len(alive)} threads still running after {timeout} s (deadlock?)"


@pytest.mark.parametrize("shards", [1, 4])
def test_threads_hammer_every_operation(shards: int) -> None:
    clock = FakeClock()
    with Cache(max_bytes=MAX_BYTES, max_entries=MAX_ENTRIES, shards=shards, _clock=clock) as c:
        errors: List[BaseException] = []
        stop = threading.Event()
        _run_threads([lambda seed=seed: _hammer(c, clock, seed, 4000, errors, stop) for seed in range(THREADS)])
        assert not errors, f"{len(errors)} thread(s) failed; first: {errors[0]!r}"
        s = c.stats()
        assert len(c) <= MAX_ENTRIES and s.entries <= MAX_ENTRIES
        assert s.bytes <= MAX_BYTES
        assert s.evictions > 0 and s.expirations > 0  # the run did exercise both
        for i in range(KEYS):  # what is left is intact
            v = c.get(f"k{i}")
            assert v is None or _owner(v) == f"k{i}"


def test_threads_with_a_codec() -> None:
    # The codec runs Python code in the middle of writes and reads, where the
    # GIL can pass to another thread.
    with Cache(max_bytes=MAX_BYTES, max_entries=MAX_ENTRIES, shards=2, codec="pickle") as c:
        errors: List[BaseException] = []

        def work(seed: int) -> None:
            rng = random.Random(seed)
            try:
                for n in range(2000):
                    key = f"k{rng.randrange(100)}"
                    if rng.random() < 0.5:
                        c.set(key, {"key": key, "n": n, "pad": [n] * (n % 40)}, ttl=rng.choice([None, 0.01]))
                    else:
                        v = c.get(key)
                        assert v is None or v["key"] == key, (key, v)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        _run_threads([lambda seed=seed: work(seed) for seed in range(THREADS)])
        assert not errors, f"first error: {errors[0]!r}"
        assert len(c) <= MAX_ENTRIES and c.stats().bytes <= MAX_BYTES


def test_counters_add_up_across_threads() -> None:
    # No eviction, no expiry: every get is a hit or a miss, every set counted.
    with Cache(max_bytes=16 << 20, shards=4) as c:
        per_thread = 2000

        def work(seed: int) -> None:
            for n in range(per_thread):
                key = f"t{seed}:{n % 100}"
                if n % 2:
                    c.set(key, n)
                else:
                    c.get(key)

        _run_threads([lambda seed=seed: work(seed) for seed in range(THREADS)])
        s = c.stats()
        assert s.sets == THREADS * per_thread // 2
        assert s.hits + s.misses == THREADS * per_thread // 2
        assert s.entries == len(c) == THREADS * 100 - THREADS * 50  # odd n only: 50 keys per thread
        assert s.evictions == 0


def test_close_while_other_threads_work(run_in_child: RunInChild) -> None:
    # Every call after close raises CacheClosed, whatever it was doing; nothing crashes.
    def scenario() -> Any:
        c = Cache(max_bytes=MAX_BYTES, max_entries=MAX_ENTRIES, shards=2)
        unexpected: List[BaseException] = []
        closed_seen = [0]
        progress = [0] * THREADS  # operations each thread has done

        def work(seed: int) -> None:
            rng = random.Random(seed)
            for n in range(10**8):  # until CacheClosed: the cap only turns a bug into a failure
                progress[seed] = n
                key = f"k{rng.randrange(KEYS)}"
                try:
                    if n % 3 == 0:
                        c.set(key, _value(key, n, n % 4), ttl=rng.choice([None, 0.01]))
                    elif n % 3 == 1:
                        v = c.get(key)
                        assert v is None or _owner(v) == key
                    else:
                        c.get_or_set(key, lambda: _value(key, n, 1))
                except CacheClosed:
                    closed_seen[0] += 1
                    return
                except BaseException as e:  # noqa: BLE001
                    unexpected.append(e)
                    return

        threads = [threading.Thread(target=work, args=(s,)) for s in range(THREADS)]
        for t in threads:
            t.start()
        # Close while every thread is in the middle of its loop.
        if not wait_until(lambda: min(progress) >= 100 or bool(unexpected)):
            return "the threads made no progress"
        c.close()
        for t in threads:
            t.join(10)
        if unexpected:
            return f"unexpected: {unexpected[0]!r}"
        return f"closed_seen={closed_seen[0]}"

    out = run_in_child(scenario, timeout=30)
    assert out == {"ok": f"'closed_seen={THREADS}'"}, out


def test_close_while_another_thread_is_inside_the_codec(run_in_child: RunInChild) -> None:
    # Thread A's set() is in codec.dumps() (Python code, GIL released) when the
    # main thread closes the cache: A's set must raise CacheClosed, not write
    # into the freed engine.
    def scenario() -> Any:
        in_dumps = threading.Event()
        closed = threading.Event()

        class Slow:
            def dumps(self, value: Any) -> bytes:
                in_dumps.set()
                closed.wait(5)
                return b"payload"

            def loads(self, data: bytes) -> Any:
                return data

        c = Cache(max_bytes=1 << 20, codec=Slow())
        for i in range(100):
            c.set(f"filler{i}", b"v" * 200)
        outcome: List[str] = []

        def writer() -> None:
            try:
                c.set("k", ["needs", "the", "codec"])
                outcome.append("returned")
            except CacheClosed:
                outcome.append("CacheClosed")
            except BaseException as e:  # noqa: BLE001
                outcome.append(repr(e))

        t = threading.Thread(target=writer)
        t.start()
        assert in_dumps.wait(5)
        c.close()
        closed.set()
        t.join(5)
        return outcome

    out = run_in_child(scenario)
    assert out == {"ok": "['CacheClosed']"}, out


def test_error_classes_are_shared_across_threads() -> None:
    # The exception a thread sees is the package's class (not a copy).
    c = Cache(max_bytes=1 << 20)
    c.close()
    seen: List[type] = []

    def worker() -> None:
        try:
            c.get("k")
        except BaseException as e:  # noqa: BLE001
            seen.append(type(e))

    _run_threads([worker])
    assert seen == [libcache.CacheClosed]
