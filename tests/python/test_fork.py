"""os.fork(): the child gets a working cache even if other threads were busy
with it (and one was in the middle of a get_or_set loader) at fork time.

The child writes a JSON report to a pipe and leaves with os._exit; the parent
waits with a deadline and kills a child that hangs, which fails the test.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest

from helpers import run_forked, wait_until
from libcache import Cache, CacheClosed

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python 3.12+ warns about fork() in a process with threads; that is the point here.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

DEADLINE = 15.0  # seconds the parent waits for the child


def fork_and_report(child: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    """Runs child() in a forked child; returns its report. Fails on a hang or crash."""

    def report() -> Dict[str, Any]:
        try:
            return child()
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            return {"error": repr(e)}

    data, status = run_forked(report, DEADLINE, f"the forked child hung (no report within {DEADLINE} s)")
    assert not os.WIFSIGNALED(status), f"the forked child crashed (signal {os.WTERMSIG(status)})"
    assert data, "the forked child reported nothing"
    result: Dict[str, Any] = json.loads(data)
    assert "error" not in result, result["error"]
    return result


class Busy:
    """Threads using a cache in a loop, and one blocked inside a get_or_set loader."""

    def __init__(self, cache: Cache, workers: int = 4) -> None:
        self.cache = cache
        self.stop = threading.Event()
        self.loader_running = threading.Event()
        self.release_loader = threading.Event()
        self.ops = [0] * workers
        self.errors: List[BaseException] = []
        self.inflight_result: List[Any] = []
        self.threads = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(workers)]
        self.threads.append(threading.Thread(target=self._load, daemon=True))

    def _work(self, i: int) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                key = f"w{i}:{n % 100}"  # 400 keys: the cache never evicts them
                self.cache.set(key, f"{key}|{n}")
                v = self.cache.get(key)
                assert v is None or v.startswith(key + "|")
                n += 1
                self.ops[i] = n
        except BaseException as e:  # noqa: BLE001
            self.errors.append(e)

    def _load(self) -> None:
        def loader() -> str:
            self.loader_running.set()
            self.release_loader.wait(60)
            return "parent-value"

        try:
            self.inflight_result.append(self.cache.get_or_set("inflight", loader))
        except BaseException as e:  # noqa: BLE001
            self.errors.append(e)

    def __enter__(self) -> "Busy":
        for t in self.threads:
            t.start()
        assert self.loader_running.wait(10), "the loader never started"
        # Every worker is looping.
        assert wait_until(lambda: min(self.ops) >= 50, 10), "the worker threads did not get going"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release_loader.set()
        self.stop.set()
        for t in self.threads:
            t.join(10)
        assert not any(t.is_alive() for t in self.threads)


@pytest.fixture
def cache() -> Iterator[Cache]:
    c = Cache(max_bytes=1 << 20, max_entries=1000, shards=4)
    yield c
    c.close()


def test_child_cache_works_while_parent_threads_were_busy(cache: Cache) -> None:
    cache.set("before", b"from the parent")

    def child() -> Dict[str, Any]:
        r: Dict[str, Any] = {}
        r["before"] = cache.get("before").decode()
        cache.set("child", 1)
        r["child"] = cache["child"]
        r["add"] = cache.add("child-add", "x")
        r["delete"] = cache.delete("child-add")
        for i in range(3000):  # enough to evict: the engine's locks work in the child
            cache.set(f"c{i}", i)
        r["len_ok"] = len(cache) <= 1000
        r["evictions"] = cache.stats().evictions > 0
        r["last"] = cache[f"c{2999}"]
        return r

    with Busy(cache) as busy:
        report = fork_and_report(child)
    assert report == {
        "before": "from the parent",
        "child": 1,
        "add": True,
        "delete": True,
        "len_ok": True,
        "evictions": True,
        "last": 2999,
    }
    assert not busy.errors, busy.errors
    assert "child" not in cache  # the child's writes stay in the child


def test_child_runs_its_own_loader_for_a_key_in_flight_in_the_parent(cache: Cache) -> None:
    def child() -> Dict[str, Any]:
        calls: List[int] = []

        def loader() -> str:
            calls.append(1)
            return "child-value"

        first = cache.get_or_set("inflight", loader)  # must not wait for the parent's thread
        second = cache.get_or_set("inflight", loader)  # now cached in the child
        return {"first": first, "second": second, "calls": len(calls)}

    with Busy(cache) as busy:
        report = fork_and_report(child)
    assert report == {"first": "child-value", "second": "child-value", "calls": 1}
    # The parent's own load was not disturbed.
    assert not busy.errors, busy.errors
    assert busy.inflight_result == ["parent-value"]
    assert cache["inflight"] == "parent-value"


def test_child_get_or_set_with_threads_of_its_own(cache: Cache) -> None:
    def child() -> Dict[str, Any]:
        started = threading.Barrier(4)
        gate = threading.Event()
        calls: List[int] = []
        results: List[Any] = []

        def loader() -> str:
            calls.append(1)
            gate.wait(5)
            return "loaded-once"

        def ask() -> None:
            started.wait(5)
            results.append(cache.get_or_set("inflight", loader))

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.1)
        gate.set()
        for t in threads:
            t.join(10)
        return {"results": results, "calls": len(calls), "alive": sum(t.is_alive() for t in threads)}

    with Busy(cache):
        report = fork_and_report(child)
    assert report["alive"] == 0
    assert report["results"] == ["loaded-once"] * 4
    assert report["calls"] == 1  # single-flight works in the child too


def test_child_is_not_blocked_by_a_lock_held_in_the_parent(cache: Cache) -> None:
    # A thread counting a value too large to cache holds the cache's counter
    # lock at fork time; in the child that thread does not exist.
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with cache._not_cached_lock:
            holding.set()
            release.wait(30)

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    try:
        assert holding.wait(10)

        def child() -> Dict[str, Any]:
            big = "x" * (cache.max_bytes or 0)  # can never fit: returned, not stored
            return {"value": len(cache.get_or_set("any", lambda: big)), "not_cached": cache.stats().not_cached}

        report = fork_and_report(child)
    finally:
        release.set()
        t.join(10)
    assert report == {"value": cache.max_bytes, "not_cached": 1}


def test_child_can_close_its_copy_without_touching_the_parent(cache: Cache) -> None:
    cache.set("k", "v")

    def child() -> Dict[str, Any]:
        cache.close()
        try:
            cache.get("k")
        except CacheClosed:
            return {"closed": True}
        return {"closed": False}

    assert fork_and_report(child) == {"closed": True}
    assert cache["k"] == "v"  # the parent's cache is still open
