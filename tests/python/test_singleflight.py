"""Single-flight loading: Cache.get_or_set (threads) and Cache.get_or_set_async (tasks).

How the concurrency tests stay deterministic: callers meet at a barrier, and
the loader does not return until every other caller is observed *blocked inside
get_or_set* (its stack, from sys._current_frames(), holds a get_or_set frame and
its innermost frame is a threading primitive). So when the loader runs, every
other caller has certainly asked for the key already; if single-flight were
broken they would be running the loader themselves, the wait would time out,
and the call count would show it. Nothing asserts on speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, Optional

import pytest

from libcache._core import FakeClock

from helpers import WAIT, Crowd, blocked_in, call_with_deadline, wait_until
from libcache import Cache, KeyTooLarge, ReentrantLoad, UnsupportedValue

HERE = os.path.dirname(os.path.abspath(__file__))

# --- helpers -----------------------------------------------------------------


def _run_python(code: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Runs code in a new interpreter that can import helpers (this folder leads its PYTHONPATH)."""
    pythonpath = os.pathsep.join(p for p in (HERE, os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": pythonpath},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- get_or_set (threads) ------------------------------------------------------


def test_get_or_set_loads_once_then_serves_from_cache() -> None:
    c = Cache(max_entries=100)
    calls = []

    def loader() -> str:
        calls.append(1)
        return "value"

    assert c.get_or_set("k", loader) == "value"
    assert c.get("k") == "value"
    assert c.get_or_set("k", loader) == "value"
    assert c.get_or_set(b"k", loader) == "value"  # "k" and b"k" are one key
    assert len(calls) == 1


def test_get_or_set_does_not_call_loader_for_a_present_key() -> None:
    c = Cache(max_entries=100)
    c["k"] = 7
    assert c.get_or_set("k", lambda: pytest.fail("loader called for a cached key")) == 7


def test_get_or_set_single_flight_across_16_threads() -> None:
    c = Cache(max_entries=100)
    calls: list[int] = []
    saw_all_waiting: list[bool] = []

    def loader() -> str:
        calls.append(threading.get_ident())
        # Every other caller must be waiting for this very load.
        saw_all_waiting.append(wait_until(lambda: blocked_in(crowd.others(), "get_or_set")))
        return "value"

    crowd = Crowd(16, lambda i: c.get_or_set("k", loader))
    crowd.run()
    assert crowd.errors == [None] * 16
    assert len(calls) == 1, f"loader ran {len(calls)} times for 16 concurrent callers"
    assert saw_all_waiting == [True]
    assert crowd.results == ["value"] * 16
    assert c.get("k") == "value"


def test_get_or_set_loader_error_reaches_every_waiter_and_caches_nothing() -> None:
    c = Cache(max_entries=100)
    calls: list[int] = []

    def failing() -> str:
        calls.append(1)
        assert wait_until(lambda: blocked_in(crowd.others(), "get_or_set"))
        raise ValueError("backend down")

    crowd = Crowd(16, lambda i: c.get_or_set("k", failing))
    crowd.run()
    assert len(calls) == 1
    assert crowd.results == [None] * 16
    for e in crowd.errors:
        assert isinstance(e, ValueError) and str(e) == "backend down", repr(e)
    assert "k" not in c
    # Nothing was cached: the next call runs the loader again.
    assert c.get_or_set("k", lambda: "recovered") == "recovered"
    assert c.get("k") == "recovered"


def test_get_or_set_error_from_storing_the_value_reaches_every_caller() -> None:
    c = Cache(max_entries=100)  # no codec: a dict cannot be stored
    with pytest.raises(TypeError):
        c.get_or_set("k", lambda: {"a": 1})
    assert "k" not in c
    assert c.get_or_set("k", lambda: "fine") == "fine"


def test_get_or_set_loads_different_keys_concurrently() -> None:
    c = Cache(max_entries=100)
    # Each loader waits for the other one to be running: serialized loads
    # would break the barrier (BrokenBarrierError) instead of deadlocking.
    both_loading = threading.Barrier(2, timeout=WAIT)

    def load(i: int) -> str:
        def loader() -> str:
            both_loading.wait()
            return f"v{i}"

        return c.get_or_set(f"k{i}", loader)

    crowd = Crowd(2, load).run()
    assert crowd.errors == [None, None]
    assert crowd.results == ["v0", "v1"]


def test_get_or_set_many_racing_threads_load_each_key_exactly_once() -> None:
    # Fast loaders and a tiny switch interval make the interleavings where a
    # caller misses, the leader stores the value and leaves, and only then the
    # caller looks for a flight (the double-check path) common.
    c = Cache(max_entries=10_000)
    keys = 200
    calls = [0] * keys
    lock = threading.Lock()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    wrong: list[tuple[int, Any]] = []

    def loader_for(k: int) -> Callable[[], int]:
        def loader() -> int:
            with lock:
                calls[k] += 1
            return k

        return loader

    def work(_: int) -> None:
        for k in range(keys):
            barrier.wait(WAIT)
            try:
                got = c.get_or_set(f"key{k}", loader_for(k))
                if got != k:
                    wrong.append((k, got))
            except Exception as e:
                errors.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        crowd = Crowd(8, work).run()
    finally:
        sys.setswitchinterval(old)
    assert crowd.errors == [None] * 8
    assert errors == [], f"{len(errors)} get_or_set calls raised, first: {errors[0]!r}"
    assert wrong == []
    assert [k for k in range(keys) if calls[k] != 1] == []


def test_get_or_set_retry_after_loader_error_runs_a_new_load() -> None:
    # A waiter that got the leader's exception and calls again at once must
    # start a new load (nothing was cached), not be handed the failed load's
    # exception a second time. The failed leader is slowed down (a trace
    # function sleeps on each line it runs once its loader has raised), so the
    # retries run while it is still on its way out of get_or_set: a correct
    # get_or_set has forgotten the failed load before it hands the exception
    # out. Thread speeds are not part of the contract, so this is fair.
    c = Cache(max_entries=100)
    loading, release, crawling = threading.Event(), threading.Event(), threading.Event()

    def failing() -> str:
        loading.set()
        release.wait(WAIT)
        crawling.set()
        raise ValueError("first load fails")

    def crawl(frame: Any, event: str, arg: Any) -> Any:
        if crawling.is_set() and event == "line":
            time.sleep(0.005)
        return crawl

    def call(i: int) -> Any:
        if i == 0:
            sys.settrace(crawl)  # this thread only
            try:
                c.get_or_set("k", failing)
            except ValueError:
                return "leader failed"
            finally:
                sys.settrace(None)
            return "leader did not fail"
        loading.wait(WAIT)
        try:
            c.get_or_set("k", lambda: "waiter must not load")
        except ValueError:
            pass
        try:
            return c.get_or_set("k", lambda: "ok")
        except Exception as e:
            return e

    crowd = Crowd(5, call).start()
    assert loading.wait(WAIT)
    assert wait_until(lambda: len(crowd.idents) == 5 and blocked_in(crowd.idents_except(0), "get_or_set"))
    release.set()
    crowd.join()
    assert crowd.errors == [None] * 5
    assert crowd.results[0] == "leader failed"
    assert crowd.results[1:] == ["ok"] * 4, crowd.results[1:]
    assert c.get("k") == "ok"

def test_get_or_set_loader_asking_for_its_own_key_raises_instead_of_deadlocking() -> None:
    c = Cache(max_entries=100)
    calls = []

    def loader() -> str:
        calls.append(1)
        return "inner " + c.get_or_set("k", lambda: "never")

    with pytest.raises(ReentrantLoad, match=r"get_or_set\('k'\): the loader re-entered get_or_set for its own key"):
        call_with_deadline(lambda: c.get_or_set("k", loader))
    assert calls == [1]
    assert "k" not in c and c._flights == {}
    assert c.get_or_set("k", lambda: "then") == "then"  # nothing left behind


def test_get_or_set_reentry_through_another_keys_loader_raises() -> None:
    c = Cache(max_entries=100)

    def load_a() -> str:
        return c.get_or_set("b", lambda: c.get_or_set("a", lambda: "never"))

    with pytest.raises(ReentrantLoad, match="'a'"):
        call_with_deadline(lambda: c.get_or_set("a", load_a))
    assert c._flights == {}


def test_get_or_set_loader_may_catch_reentrant_load_and_return_a_value() -> None:
    c = Cache(max_entries=100)

    def loader() -> str:
        try:
            return c.get_or_set("k", lambda: "never")
        except ReentrantLoad:
            return "fallback"

    assert call_with_deadline(lambda: c.get_or_set("k", loader)) == "fallback"
    assert c.get("k") == "fallback"


def test_get_or_set_reentry_releases_the_other_callers_of_the_key() -> None:
    c = Cache(max_entries=100)
    calls: list[int] = []

    def loader() -> str:
        calls.append(1)
        assert wait_until(lambda: blocked_in(crowd.others(), "get_or_set"))
        return c.get_or_set("k", lambda: "never")

    crowd = Crowd(4, lambda i: c.get_or_set("k", loader))
    crowd.run()  # fails if a thread is still blocked
    assert len(calls) == 1
    for e in crowd.errors:
        assert isinstance(e, ReentrantLoad), repr(e)
    assert c._flights == {}


def test_get_or_set_in_another_thread_of_the_loader_is_not_reentry() -> None:
    # Only the loader's own thread would wait for itself; another thread asking
    # for the key waits for the load as usual.
    c = Cache(max_entries=100)
    seen: list[Any] = []

    def loader() -> str:
        t = threading.Thread(target=lambda: seen.append(c.get_or_set("k", lambda: "other")))
        t.start()
        assert wait_until(lambda: blocked_in([t.ident or 0], "get_or_set"))
        return "value"

    assert c.get_or_set("k", loader) == "value"
    assert wait_until(lambda: seen == ["value"])


def test_get_or_set_different_keys_nested_in_one_thread_still_work() -> None:
    c = Cache(max_entries=100)
    assert c.get_or_set("a", lambda: c.get_or_set("b", lambda: "b") + "a") == "ba"
    assert c.get("b") == "b" and c.get("a") == "ba"


def test_get_or_set_leader_interrupted_by_keyboard_interrupt_lets_a_waiter_load() -> None:
    # KeyboardInterrupt is the leader's own (it lands in one thread): the
    # waiters do not get it; one of them loads, and all get its value.
    c = Cache(max_entries=100)
    loading = threading.Event()
    reloads: list[int] = []

    def interrupted() -> str:
        loading.set()
        assert wait_until(lambda: len(crowd.idents) == 5 and blocked_in(crowd.idents_except(0), "get_or_set"))
        raise KeyboardInterrupt

    def reload() -> str:
        reloads.append(1)
        return "reloaded"

    def call(i: int) -> Any:
        if i == 0:
            return c.get_or_set("k", interrupted)
        loading.wait(WAIT)
        return c.get_or_set("k", reload)

    crowd = Crowd(5, call)
    crowd.run()
    assert isinstance(crowd.errors[0], KeyboardInterrupt)
    assert crowd.errors[1:] == [None] * 4, crowd.errors
    assert crowd.results[1:] == ["reloaded"] * 4
    assert len(reloads) == 1
    assert c._flights == {}

def test_get_or_set_returns_a_value_too_large_to_cache_and_counts_it() -> None:
    c = Cache(max_bytes=1 << 20, shards=1)
    big = b"x" * (2 << 20)
    calls: list[int] = []

    def loader() -> bytes:
        calls.append(1)
        assert wait_until(lambda: blocked_in(crowd.others(), "get_or_set"))
        return big

    crowd = Crowd(4, lambda i: c.get_or_set("big", loader))
    crowd.run()
    assert crowd.errors == [None] * 4
    assert all(r is big for r in crowd.results)  # every caller got the loaded value
    assert len(calls) == 1
    assert "big" not in c
    assert c.stats().not_cached == 1
    assert c.get_or_set("big", lambda: big) is big  # not cached: loads again
    assert c.stats().not_cached == 2


def test_get_or_set_still_raises_for_a_value_it_cannot_store_at_all() -> None:
    # A value without a codec is a programming error, not a cache limit.
    c = Cache(max_entries=100)
    with pytest.raises(UnsupportedValue):
        c.get_or_set("k", lambda: {"a": 1})
    assert c.stats().not_cached == 0


def test_get_or_set_refuses_a_key_too_long_before_running_the_loader() -> None:
    c = Cache(max_entries=100)
    with pytest.raises(KeyTooLarge, match="65536 bytes"):
        c.get_or_set("k" * 65536, lambda: pytest.fail("loader ran for a key that can never be stored"))


def test_get_or_set_ttl_is_honoured() -> None:
    clock = FakeClock()
    c = Cache(max_entries=100, _clock=clock)
    calls = []

    def loader() -> str:
        calls.append(1)
        return "value"

    assert c.get_or_set("k", loader, ttl=0.3) == "value"
    clock.advance(0.299)
    assert c.get_or_set("k", loader, ttl=0.3) == "value"
    assert len(calls) == 1
    clock.advance(0.001)
    assert "k" not in c
    assert c.get_or_set("k", loader, ttl=0.3) == "value"
    assert len(calls) == 2


def test_get_or_set_ttl_none_uses_default_ttl() -> None:
    clock = FakeClock()
    c = Cache(max_entries=100, default_ttl=0.2, _clock=clock)
    assert c.get_or_set("k", lambda: 1) == 1
    clock.advance(0.199)
    assert "k" in c
    clock.advance(0.001)
    assert "k" not in c
    assert c.get_or_set("k", lambda: 2) == 2


def test_get_or_set_caches_none() -> None:
    c = Cache(max_entries=100)
    calls = []

    def loader() -> None:
        calls.append(1)
        return None

    assert c.get_or_set("k", loader) is None
    assert c.get_or_set("k", loader) is None
    assert "k" in c
    assert len(calls) == 1


def test_waiting_threads_do_not_hold_the_gil() -> None:
    # In a subprocess, so that a waiter that holds the GIL turns into a
    # timeout here instead of hanging the test run.
    proc = _run_python(
        """
        import threading
        import libcache
        from helpers import blocked_in, wait_until

        c = libcache.Cache(max_entries=100)
        loading, release = threading.Event(), threading.Event()
        results = []

        def loader():
            loading.set()
            release.wait()
            return "value"

        leader = threading.Thread(target=lambda: results.append(c.get_or_set("k", loader)))
        leader.start()
        assert loading.wait(10)
        waiters = [threading.Thread(target=lambda: results.append(c.get_or_set("k", lambda: "never")))
                   for _ in range(4)]
        for w in waiters:
            w.start()
        assert wait_until(lambda: blocked_in([w.ident for w in waiters], "get_or_set"), 10), "waiters never blocked"

        # Pure-Python work in another thread must make progress while they wait.
        done = threading.Event()
        def work():
            n = 0
            for i in range(200000):
                n += i
            done.set()
        threading.Thread(target=work).start()
        assert done.wait(10)
        assert all(w.is_alive() for w in waiters) and not results
        print("progress while waiting", flush=True)

        release.set()
        for t in [leader] + waiters:
            t.join(10)
        assert results == ["value"] * 5, results
        print("ok", flush=True)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["progress", "while", "waiting", "ok"]


def test_waiting_in_get_or_set_is_interrupted_by_ctrl_c() -> None:
    proc = _run_python(
        """
        import os, signal, threading, time
        import libcache
        from helpers import blocked_in, wait_until

        signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the parent ignores SIGINT
        c = libcache.Cache(max_entries=100)
        loading = threading.Event()

        def loader():
            loading.set()
            threading.Event().wait()  # blocks forever

        threading.Thread(target=c.get_or_set, args=("k", loader), daemon=True).start()
        assert loading.wait(10)
        main = threading.main_thread().ident

        def interrupt():
            # Only once the main thread really waits for the load.
            wait_until(lambda: blocked_in([main], "get_or_set"), 10)
            time.sleep(0.05)
            signal.pthread_kill(main, signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        try:
            c.get_or_set("k", lambda: "main thread must not load")
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
            os._exit(0)
        print("returned without interruption", flush=True)
        os._exit(1)
        """,
        timeout=15,
    )
    assert proc.stdout.strip() == "KeyboardInterrupt", (proc.stdout, proc.stderr)
    assert proc.returncode == 0


@pytest.mark.skipif(
    sys.version_info < (3, 10), reason="CPython runs signal handlers only after calls and on backward jumps from 3.10"
)
def test_interrupts_anywhere_in_get_or_set_never_leave_a_flight_behind() -> None:
    # SIGALRM at random tiny intervals raises (KeyboardInterrupt or an Exception)
    # wherever the main thread happens to be: in the loader, between registering
    # the flight and protecting it, inside the cleanup. Afterwards no flight may
    # be left registered, and a new get_or_set of every key must complete (in a
    # thread, so that a stuck flight fails the run instead of hanging it).
    proc = _run_python(
        """
        import json, random, signal, threading
        import libcache

        c = libcache.Cache(max_entries=100_000)
        keys = [f"k{i}" for i in range(300)]
        rng = random.Random(8)

        def on_alarm(signum, frame):
            raise KeyboardInterrupt if rng.random() < 0.5 else RuntimeError("alarm")

        def loader_for(i):
            if i % 7 == 0:
                def failing():
                    raise ValueError("loader failed")
                return failing
            return lambda: i

        signal.signal(signal.SIGALRM, on_alarm)
        interrupted = 0
        stuck = set()  # keys whose flight outlived its get_or_set call
        for round in range(40):
            for i, k in enumerate(keys):
                # One thread: between two calls, no flight may be registered.
                # (A call of a stuck key would wait for ever, and an alarm that
                # lands just before the wait starts cannot interrupt it.)
                stuck.update(f.decode() for f in c._flights)
                if k in stuck:
                    continue
                try:
                    signal.setitimer(signal.ITIMER_REAL, rng.uniform(1e-6, 40e-6))
                    try:
                        c.get_or_set(k, loader_for(i))
                    except ValueError:
                        pass
                    signal.setitimer(signal.ITIMER_REAL, 0)
                except (KeyboardInterrupt, RuntimeError):
                    interrupted += 1
            c.clear()  # so that every key loads again next round
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)

        stuck.update(f.decode() for f in c._flights)
        left = sorted(stuck)
        done = []
        def ask_all():
            for k in keys:
                c.get_or_set(k, lambda: "after")
                done.append(k)
        t = threading.Thread(target=ask_all, daemon=True)
        t.start()
        t.join(10)
        print(json.dumps({"interrupted": interrupted, "left": left, "done": len(done)}), flush=True)
        """,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["interrupted"] > 1000, report  # the interrupts did land
    assert report["left"] == [], f"{len(report['left'])} of 300 keys left a flight registered: {report['left'][:10]}"
    assert report["done"] == 300, f"get_or_set hung on key k{report['done']} after the interrupts"


# --- get_or_set_async (tasks) --------------------------------------------------


class HeldLoader:
    """An async loader that counts its calls, sets `loading`, then waits for
    `release` before it returns "value" (or raises error). Make it inside the
    event loop that awaits it."""

    def __init__(self, error: Optional[BaseException] = None) -> None:
        self.calls = 0
        self.loading = asyncio.Event()
        self.release = asyncio.Event()
        self.error = error

    async def __call__(self) -> str:
        self.calls += 1
        self.loading.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return "value"


def test_get_or_set_async_loads_once_then_serves_from_cache() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)
        calls = []

        async def loader() -> str:
            calls.append(1)
            return "value"

        assert await c.get_or_set_async("k", loader) == "value"
        assert await c.get_or_set_async("k", loader) == "value"
        assert c.get("k") == "value"
        assert len(calls) == 1

    asyncio.run(main())


def test_get_or_set_async_single_flight_across_100_tasks() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)
        loader = HeldLoader()
        # All 100 are scheduled before any runs, so each has asked for the key
        # by the time the load starts; they then all wait on the one load.
        tasks = [asyncio.create_task(c.get_or_set_async("k", loader)) for _ in range(100)]
        await asyncio.wait_for(loader.loading.wait(), WAIT)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not any(t.done() for t in tasks), "a caller finished before the load did"
        assert loader.calls == 1
        loader.release.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
        assert results == ["value"] * 100
        assert loader.calls == 1
        assert c.get("k") == "value"

    asyncio.run(main())


def test_get_or_set_async_loader_error_reaches_every_waiter_and_caches_nothing() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)
        failing = HeldLoader(error=ValueError("backend down"))
        tasks = [asyncio.create_task(c.get_or_set_async("k", failing)) for _ in range(100)]
        await asyncio.wait_for(failing.loading.wait(), WAIT)
        failing.release.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)
        assert failing.calls == 1
        for r in results:
            assert isinstance(r, ValueError) and str(r) == "backend down", repr(r)
        assert "k" not in c

        async def good() -> str:
            return "recovered"

        assert await c.get_or_set_async("k", good) == "recovered"
        assert c.get("k") == "recovered"

    asyncio.run(main())


def test_get_or_set_async_loads_different_keys_concurrently() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)
        started = {"a": asyncio.Event(), "b": asyncio.Event()}

        def loader(me: str, other: str) -> Callable[[], Any]:
            async def load() -> str:
                started[me].set()
                # Serialized loads would time out here.
                await asyncio.wait_for(started[other].wait(), WAIT)
                return me

            return load

        got = await asyncio.gather(
            c.get_or_set_async("a", loader("a", "b")),
            c.get_or_set_async("b", loader("b", "a")),
        )
        assert got == ["a", "b"]

    asyncio.run(main())


def test_get_or_set_async_ttl_is_honoured() -> None:
    async def main() -> None:
        clock = FakeClock()
        c = Cache(max_entries=100, _clock=clock)
        calls = []

        async def loader() -> int:
            calls.append(1)
            return len(calls)

        assert await c.get_or_set_async("k", loader, ttl=0.3) == 1
        clock.advance(0.299)
        assert await c.get_or_set_async("k", loader, ttl=0.3) == 1
        clock.advance(0.001)
        assert "k" not in c
        assert await c.get_or_set_async("k", loader, ttl=0.3) == 2

    asyncio.run(main())


def test_get_or_set_async_caches_none() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)
        calls = []

        async def loader() -> None:
            calls.append(1)

        assert await c.get_or_set_async("k", loader) is None
        assert await c.get_or_set_async("k", loader) is None
        assert "k" in c
        assert len(calls) == 1

    asyncio.run(main())


def test_get_or_set_async_cancelled_waiters_do_not_cancel_the_load() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)
        loader = HeldLoader()
        first = asyncio.create_task(c.get_or_set_async("k", loader))  # starts the load
        others = [asyncio.create_task(c.get_or_set_async("k", loader)) for _ in range(4)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert loader.calls == 1
        first.cancel()
        others[0].cancel()
        for cancelled in (first, others[0]):
            with pytest.raises(asyncio.CancelledError):
                await cancelled
        loader.release.set()
        results = await asyncio.wait_for(asyncio.gather(*others[1:]), WAIT)
        assert results == ["value"] * 3
        assert loader.calls == 1
        assert c.get("k") == "value"

    asyncio.run(main())


def test_get_or_set_async_load_finishes_even_if_every_waiter_is_cancelled() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)
        loader = HeldLoader()
        only = asyncio.create_task(c.get_or_set_async("k", loader))
        for _ in range(3):
            await asyncio.sleep(0)
        only.cancel()
        with pytest.raises(asyncio.CancelledError):
            await only
        loader.release.set()
        for _ in range(1000):
            if "k" in c:
                break
            await asyncio.sleep(0.001)
        assert c.get("k") == "value"
        assert await c.get_or_set_async("k", loader) == "value"
        assert loader.calls == 1

    asyncio.run(main())


def test_get_or_set_async_rejects_a_sync_loader() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)
        with pytest.raises(TypeError):
            await c.get_or_set_async("k", lambda: "not awaitable")  # type: ignore[arg-type, return-value]
        assert "k" not in c

        async def good() -> str:
            return "ok"

        # The failed call left no flight behind.
        assert await c.get_or_set_async("k", good) == "ok"

    asyncio.run(main())

def test_get_or_set_async_loader_asking_for_its_own_key_raises_instead_of_deadlocking() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)

        async def never() -> str:
            return "never"

        async def loader() -> str:
            return await c.get_or_set_async("k", never)

        with pytest.raises(ReentrantLoad, match=r"get_or_set_async\('k'\): the loader re-entered"):
            await asyncio.wait_for(c.get_or_set_async("k", loader), WAIT)
        assert "k" not in c
        assert await c.get_or_set_async("k", never) == "never"

    asyncio.run(main())


def test_get_or_set_async_reentry_through_a_task_or_another_key_raises() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)

        async def never() -> str:
            return "never"

        async def via_task() -> str:
            # A task started by the loader inherits its chain of loads.
            return await asyncio.create_task(c.get_or_set_async("t", never))

        async def load_b() -> str:
            return await c.get_or_set_async("a", never)

        async def load_a() -> str:
            return await c.get_or_set_async("b", load_b)

        with pytest.raises(ReentrantLoad):
            await asyncio.wait_for(c.get_or_set_async("t", via_task), WAIT)
        with pytest.raises(ReentrantLoad, match="'a'"):
            await asyncio.wait_for(c.get_or_set_async("a", load_a), WAIT)
        # Other callers of the key got the error too, and nothing is left.
        assert not any(c._async_flights.values())

    asyncio.run(main())


def test_get_or_set_async_reentry_releases_the_other_callers_of_the_key() -> None:
    async def main() -> None:
        c = Cache(max_entries=100)
        release = asyncio.Event()

        async def never() -> str:
            return "never"

        async def loader() -> str:
            await release.wait()
            return await c.get_or_set_async("k", never)

        callers = [asyncio.create_task(c.get_or_set_async("k", loader)) for _ in range(10)]
        await asyncio.sleep(0)
        release.set()
        results = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), WAIT)
        assert all(isinstance(r, ReentrantLoad) for r in results), results

    asyncio.run(main())


def test_get_or_set_async_skips_a_finished_load_left_in_its_table() -> None:
    # An interrupt inside the load task's cleanup could leave its finished task
    # registered: a later call must load again, not return that old result.
    async def main() -> None:
        c = Cache(max_entries=100)

        async def old() -> str:
            raise ValueError("old failure")

        stale = asyncio.create_task(old())
        with pytest.raises(ValueError):
            await stale
        c._async_flights.setdefault(asyncio.get_running_loop(), {})[b"k"] = stale

        async def fresh() -> str:
            return "fresh"

        assert await asyncio.wait_for(c.get_or_set_async("k", fresh), WAIT) == "fresh"

    asyncio.run(main())

def test_get_or_set_async_returns_a_value_too_large_to_cache_and_counts_it() -> None:
    async def main() -> None:
        c = Cache(max_bytes=1 << 20, shards=1)
        big = "x" * (2 << 20)

        async def loader() -> str:
            return big

        got = await asyncio.gather(*(c.get_or_set_async("big", loader) for _ in range(3)))
        assert all(g is big for g in got)
        assert "big" not in c
        assert c.stats().not_cached == 1

        async def never() -> str:
            raise AssertionError("loader ran for a key that can never be stored")

        with pytest.raises(KeyTooLarge):
            await c.get_or_set_async(b"k" * 65536, never)

    asyncio.run(main())


def test_get_or_set_async_in_successive_event_loops() -> None:
    c = Cache(max_entries=100)

    async def loader() -> str:
        return "value"

    async def ask(key: str) -> str:
        return await c.get_or_set_async(key, loader)

    assert asyncio.run(ask("a")) == "value"
    assert asyncio.run(ask("b")) == "value"
    assert asyncio.run(ask("a")) == "value"
