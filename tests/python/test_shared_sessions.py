"""SessionStore shared by load-balanced servers: several processes, one real redis-server.

Each worker (tests/python/redis_worker.py, a "spawn" process) has its own
Cache, attach_redis on the same prefix and a SessionStore, as the servers
behind a load balancer do; the test plays the balancer, sending each step to
the server of its choice. What Redis holds is checked with redis-py.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest

pytest.importorskip("redis")

from helpers import WAIT, wait_until  # noqa: E402
from redis_server import REDIS_SERVER, RedisServer  # noqa: E402
from redis_worker import Remote, Worker, workers  # noqa: E402

import libcache  # noqa: E402
from libcache import BackendError, Cache, CacheClosed, SessionConflict, SessionStore  # noqa: E402

pytestmark = [
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (Debian: redis-server)"),
    pytest.mark.skipif(not libcache._core.HAS_REDIS, reason="this _core was built without hiredis"),
]

FAST = dict(connect_timeout=0.2, command_timeout=0.2, retry_backoff=(0.005, 0.05))
PREFIX = "app:"  # the Redis store's prefix; the sessions' own is "session:"


def rkey(sid: str) -> str:
    return f"{PREFIX}session:{sid}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def three(server: RedisServer) -> Iterator[List[Worker]]:
    ws = workers(3, server.url, prefix=PREFIX)
    try:
        yield ws
    finally:
        for w in ws:
            w.close()


def refused(w: Worker, sid: str) -> bool:
    return w.call("session.get", sid) is None


def raises_remote(name: str, fn: Any, *args: Any) -> Remote:
    with pytest.raises(Remote) as e:
        fn(*args)
    assert name in e.value.names, e.value
    return e.value


# ---- The flow: login, cart, rotation, logout --------------------------------------------


def test_session_flow_across_three_servers(server: RedisServer, three: List[Worker]) -> None:
    a, b, c = three
    r = server.client()
    sid = a.call("session.create", {"user": 42})  # login on A
    assert r.exists(rkey(sid)) == 1  # in Redis when create returns
    assert 0 < r.pttl(rkey(sid)) <= 1800 * 1000  # the idle timeout (default 1800 s) < absolute
    assert b.call("session.get", sid) == {"user": 42}  # B never saw it: read through
    cart = {"user": 42, "cart": [7]}
    b.call("session.save", sid, cart)  # cart update on B
    assert b.call("session.get", sid) == cart  # B never serves its own older version, not even once
    assert c.call("session.get", sid) == cart
    # A holds the record it created: it stops serving it once Redis's invalidation arrives.
    assert wait_until(lambda: a.call("session.get", sid) == cart)
    cart2 = {"user": 42, "cart": [7, 8]}
    a.call("session.save", sid, cart2)  # A read the latest: its save goes through
    assert wait_until(lambda: b.call("session.get", sid) == cart2)

    new = c.call("session.rotate", sid)  # privilege change on C
    assert new != sid and r.exists(rkey(sid)) == 0 and r.exists(rkey(new)) == 1
    assert refused(c, sid)
    for w in (a, b):  # the old id is refused everywhere...
        assert wait_until(lambda: refused(w, sid)), "the old id is still served after the rotation"
        assert w.call("session.get", new) == cart2  # ...and the new one carries the data
    for w in (a, b, c):
        raises_remote("KeyError", w.call, "session.save", sid, {"attacker": True})
        raises_remote("KeyError", w.call, "session.rotate", sid)
        assert w.call("session.destroy", sid) is False
    assert r.exists(rkey(sid)) == 0  # nothing brought the old id back

    assert b.call("session.destroy", new) is True  # logout on B
    assert r.exists(rkey(new)) == 0
    assert refused(b, new)
    for w in (a, c):
        assert wait_until(lambda: refused(w, new)), "a destroyed session is still served"
    assert b.call("session.destroy", new) is False
    assert r.keys(f"{PREFIX}session:*") == []


def test_destroy_is_refused_elsewhere_within_the_window_measured_under_load(server: RedisServer) -> None:
    # A serves the session from its near cache, polling it in a loop, while
    # two threads in each server hammer get/set on other keys; B destroys it.
    # Window: from destroy()'s return on B to A's first refusal (negative when
    # Redis's invalidation reached A before B had read the DEL's reply).
    a, b = workers(2, server.url, prefix=PREFIX)

    def measure(n: int) -> tuple[List[float], List[float]]:
        after_return: List[float] = []
        after_start: List[float] = []
        for i in range(n):
            sid = b.call("session.create", {"i": i})
            a.send("poll_gone", sid)
            a.ack()  # A serves it (read through once, then from its cache)
            existed, t0, t1 = b.call("timed", "destroy", sid)
            assert existed is True
            gone_at, polls = a.result()
            assert polls >= 1
            after_return.append(gone_at - t1)
            after_start.append(gone_at - t0)
        return after_return, after_start

    def ms(xs: List[float]) -> str:
        return f"p50 {statistics.median(xs) * 1e3:.2f} ms, max {max(xs) * 1e3:.2f} ms"

    try:
        idle_return, idle_start = measure(10)
        a.call("load_start", 2)
        b.call("load_start", 2)
        t0 = time.monotonic()
        after_return, after_start = measure(20)
        ops = a.call("load_stop") + b.call("load_stop")
        rate = ops / (time.monotonic() - t0)
    finally:
        a.close()
        b.close()
    print(
        f"\ndestroy on B -> refused on A, from destroy's return (from its call): "
        f"idle {ms(idle_return)} ({ms(idle_start)}); "
        f"under load (2 threads per server, {rate:.0f} get/set per s) {ms(after_return)} ({ms(after_start)})"
    )
    assert max(after_return) < WAIT  # bounded (poll_gone fails past WAIT anyway); the numbers are the result


def test_idle_and_absolute_expiry_are_seen_by_every_server(server: RedisServer) -> None:
    # Real clocks: idle 0.5 s, absolute 1.5 s. B reads the active session every
    # 0.1 s (the idle deadline moves only in steps of more than 0.125 s);
    # nobody reads the idle one.
    r = server.client()
    ws = workers(3, server.url, prefix=PREFIX, session=dict(idle_ttl=0.5, absolute_ttl=1.5))
    a, b, c = ws
    try:
        r.config_resetstat()
        t0 = time.monotonic()
        active = a.call("session.create", {"s": "active"})
        idle = a.call("session.create", {"s": "idle"})
        gets = 0
        while time.monotonic() - t0 < 1.1:  # past idle_ttl twice over: only the gets keep it alive
            assert b.call("session.get", active) == {"s": "active"}, f"{time.monotonic() - t0:.2f} s"
            gets += 1
            time.sleep(0.1)
        # The idle one ended at 0.5 s, by itself, in Redis (its TTL) and everywhere.
        assert r.exists(rkey(idle)) == 0
        for w in ws:
            assert refused(w, idle)
        # The active one ends at its absolute deadline, however active.
        for w in ws:
            assert wait_until(lambda: refused(w, active), timeout=WAIT), "served past the absolute deadline"
        assert time.monotonic() - t0 >= 1.5 - 0.05
        assert wait_until(lambda: r.exists(rkey(active)) == 0)
        # The idle deadline moved in Redis, but not on every get (which would
        # drop every other server's copy each time).
        info = r.info("commandstats")
        refreshes = info.get("cmdstat_pexpireat", {}).get("calls", 0)
        assert 1 <= refreshes < gets, (refreshes, gets)
    finally:
        for w in ws:
            w.close()


def test_reads_do_not_write_to_redis_while_the_deadline_moves_little(server: RedisServer, three: List[Worker]) -> None:
    a, b, _ = three
    r = server.client()
    sid = a.call("session.create", {"u": 1})
    assert b.call("session.get", sid) == {"u": 1}
    r.config_resetstat()
    for _ in range(50):  # idle_ttl 1800 s: each get would move the deadline by far less than 450 s
        assert b.call("session.get", sid) == {"u": 1}
        assert a.call("session.get", sid) == {"u": 1}
    stats = r.info("commandstats")
    assert "cmdstat_pexpireat" not in stats and "cmdstat_set" not in stats and "cmdstat_evalsha" not in stats
    assert "cmdstat_get" not in stats  # every one of the 100 reads was a near-cache hit


# ---- Concurrent saves ----------------------------------------------------------------------


def test_a_save_based_on_an_older_read_is_refused_not_lost(server: RedisServer, three: List[Worker]) -> None:
    a, b, _ = three
    r = server.client()
    sid = a.call("session.create", {"n": 0})
    assert a.call("session.get", sid) == {"n": 0}
    assert b.call("session.get", sid) == {"n": 0}  # both servers read version 1
    a.call("session.save", sid, {"n": 1, "by": "a"})
    e = raises_remote("SessionConflict", b.call, "session.save", sid, {"n": 1, "by": "b"})
    assert "Error" in e.names and "get() it again" in e.message
    assert b"\"by\":\"a\"" in r.get(rkey(sid))  # B's write did not land
    # What the message says to do: read again (B's copy was dropped by the conflict), reapply, save.
    data = b.call("session.get", sid)
    assert data == {"n": 1, "by": "a"}
    b.call("session.save", sid, {"n": 2, "by": "b"})
    assert wait_until(lambda: a.call("session.get", sid) == {"n": 2, "by": "b"})


def test_concurrent_increments_from_two_servers_lose_nothing(server: RedisServer) -> None:
    a, b = workers(2, server.url, prefix=PREFIX)
    try:
        sid = a.call("session.create", {"n": 0})
        a.send("counter_loop", sid, 40)
        b.send("counter_loop", sid, 40)
        conflicts = a.result()["conflicts"] + b.result()["conflicts"]
        final = a.call("session.get", sid)
        if final["n"] != 80:  # A's copy may still wait for B's last invalidation
            assert wait_until(lambda: a.call("session.get", sid)["n"] == 80)
            final = a.call("session.get", sid)
        assert final["by"] == {str(a.pid): 40, str(b.pid): 40}
        print(f"\n80 increments from two servers: {conflicts} conflicts detected and retried")
    finally:
        a.close()
        b.close()


def test_save_checks_the_version_in_redis_also_after_a_script_flush(server: RedisServer) -> None:
    with Cache(codec="json") as cache:
        cache.attach_redis(server.url, prefix=PREFIX)
        store = SessionStore(cache)
        sid = store.create({"v": 1})
        store.save(sid, {"v": 2})
        server.client().script_flush()  # EVALSHA answers NOSCRIPT: EVAL it is
        store.save(sid, {"v": 3})
        assert store.get(sid) == {"v": 3}
        assert server.client().get(rkey(sid)).startswith(b"bS1:3:")


def test_a_record_written_by_libcache_1_3_is_accepted_and_saved(server: RedisServer) -> None:
    # 1.3 stored the codec's bytes without a version header: version 0.
    import json
    import secrets

    sid = secrets.token_urlsafe(32)
    record = json.dumps({"data": {"old": True}, "deadline": time.time() + 60}).encode()
    server.client().set(rkey(sid), b"b" + record, px=60_000)
    with Cache(codec="json") as cache:
        cache.attach_redis(server.url, prefix=PREFIX)
        store = SessionStore(cache)
        assert store.get(sid) == {"old": True}
        store.save(sid, {"old": False})
        assert store.get(sid) == {"old": False}
        assert server.client().get(rkey(sid)).startswith(b"bS1:1:")


def test_redis_ttl_is_the_earlier_of_the_idle_and_absolute_deadlines(server: RedisServer) -> None:
    r = server.client()
    with Cache(codec="json") as cache:
        cache.attach_redis(server.url, prefix=PREFIX)
        short_idle = SessionStore(cache, idle_ttl=10, absolute_ttl=100)
        short_abs = SessionStore(cache, idle_ttl=100, absolute_ttl=10, prefix="s2:")
        s1 = short_idle.create({})
        assert 9_000 < r.pttl(rkey(s1)) <= 10_000
        s2 = short_abs.create({})
        key2 = f"{PREFIX}s2:{s2}"
        assert 9_000 < r.pttl(key2) <= 10_000
        short_abs.save(s2, {"x": 1})
        assert 9_000 < r.pttl(key2) <= 10_000  # a save never moves it past the absolute deadline
        new = short_abs.rotate(s2)
        assert 9_000 < r.pttl(f"{PREFIX}s2:{new}") <= 10_000


# ---- Ids the store did not issue -------------------------------------------------------------


def test_an_id_not_issued_is_refused_everywhere_at_the_cost_of_a_miss(server: RedisServer, three: List[Worker]) -> None:
    import secrets

    a, b, _ = three
    r = server.client()
    real = a.call("session.create", {"mine": True})
    gone = a.call("session.create", {"gone": True})
    assert a.call("session.destroy", gone) is True

    def commands() -> dict[str, int]:
        # Left out: the test's own CONFIG RESETSTAT and INFO, and the adapters' health checks.
        ignored = ("cmdstat_config", "cmdstat_info", "cmdstat_ping", "cmdstat_client|list")
        stats = r.info("commandstats").items()
        return {k: v["calls"] for k, v in stats if not k.startswith(ignored)}

    def cost(sid: str, w: Worker) -> dict[str, int]:
        r.config_resetstat()
        assert w.call("session.get", sid) is None
        return commands()

    forged = secrets.token_urlsafe(32)  # well-formed, never issued
    for w in (a, b):
        # The same Redis commands as for the id of a session that ended: no oracle.
        assert cost(forged, w) == cost(gone, w)
        assert cost("not-an-id", w) == {}  # malformed: not even looked up
        raises_remote("KeyError", w.call, "session.save", forged, {"attacker": True})
        raises_remote("KeyError", w.call, "session.rotate", forged)
        assert w.call("session.destroy", forged) is False
    assert r.keys(f"{PREFIX}session:*") == [rkey(real).encode()]  # nothing was created under it


# ---- Redis down, and stores that cannot share sessions -----------------------------------------


def test_redis_killed_create_raises_and_local_copies_stop_being_served(server: RedisServer) -> None:
    with Cache(codec="json") as cache:
        store = cache.attach_redis(server.url, prefix=PREFIX, **FAST)  # type: ignore[arg-type]
        sessions = SessionStore(cache, timeout=0.3)
        sid = sessions.create({"u": 1})
        assert sessions.get(sid) == {"u": 1}  # a local copy
        assert store.stats().tracking
        server.kill()  # kill -9
        with pytest.raises(BackendError, match="Redis"):
            sessions.create({"u": 2})
        # The rule: the adapter finds the loss (at once: the connections
        # dropped), drops every clean local copy and reads Redis, which is
        # down: get() answers None (it never raises), like for an unknown id.
        assert wait_until(lambda: sessions.get(sid) is None)
        s = store.stats()
        assert not s.coherent and not s.tracking and s.tracking_resets >= 1
        # The writes say that Redis is down (not KeyError: the session may well exist).
        for call in (lambda: sessions.save(sid, {"u": 3}), lambda: sessions.rotate(sid), lambda: sessions.destroy(sid)):
            with pytest.raises(BackendError):
                call()
        assert sessions.get(sid) is None
        cache.set("local", 1)  # the cache itself goes on, locally
        assert cache.get("local") == 1


def test_rotate_and_save_with_redis_paused_raise_backend_error(server: RedisServer) -> None:
    with Cache(codec="json") as cache:
        cache.attach_redis(server.url, prefix=PREFIX, **FAST)  # type: ignore[arg-type]
        sessions = SessionStore(cache, timeout=0.3)
        sid = sessions.create({"u": 1})
        assert sessions.get(sid) == {"u": 1}
        server.pause()
        try:
            for call in (lambda: sessions.save(sid, {"u": 2}), lambda: sessions.rotate(sid), lambda: sessions.create({})):
                with pytest.raises(BackendError, match="Redis"):
                    call()
        finally:
            server.resume()
        assert wait_until(lambda: sessions.get(sid) is not None)  # tracking back: served again
        assert sessions.get(sid) == {"u": 1}


def test_a_closed_store_or_one_without_coherence_cannot_hold_shared_sessions(server: RedisServer) -> None:
    with Cache(codec="json") as cache:
        store = cache.attach_redis(server.url, prefix=PREFIX)
        sessions = SessionStore(cache)
        assert sessions.shared
        sid = sessions.create({})
        store.close()
        for call in (lambda: sessions.get(sid), lambda: sessions.create({}), lambda: sessions.destroy(sid)):
            with pytest.raises(CacheClosed, match="Redis store is closed"):
                call()
    for kwargs in (dict(coherence=False), dict(read_through=False)):
        with Cache(codec="json") as cache:
            cache.attach_redis(server.url, prefix=PREFIX, **kwargs)  # type: ignore[arg-type]
            with pytest.raises(libcache.Error, match="coherence=True"):
                SessionStore(cache).create({})
    with Cache(codec="json") as cache:  # without a store: local sessions, as before
        assert SessionStore(cache).shared is False


def test_one_thread_s_read_does_not_vouch_for_another_thread_s_save(server: RedisServer) -> None:
    # The version a save() is checked against is its own thread's (or task's) last read.
    with Cache(codec="json") as cache:
        cache.attach_redis(server.url, prefix=PREFIX)
        sessions = SessionStore(cache)
        sid = sessions.create({"n": 0})
        assert sessions.get(sid) == {"n": 0}
        errors: List[BaseException] = []

        def other() -> None:
            try:
                data = sessions.get(sid)
                sessions.save(sid, {"n": data["n"] + 1})
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=other)
        t.start()
        t.join(WAIT)
        assert errors == []
        with pytest.raises(SessionConflict):
            sessions.save(sid, {"n": 1})  # based on the main thread's read of n == 0
        assert sessions.get(sid) == {"n": 1}
