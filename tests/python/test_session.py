"""SessionStore: ids, sliding idle timeout, absolute timeout, rotation, codecs.

Idle timeouts run on the engine's clock, absolute timeouts on the store's: the
tests give both the same FakeClock (Cache(_clock=...), SessionStore(clock=...)),
so that time moves only when a test advances it, to the millisecond.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import fractions
import json
import random
import re
import secrets
import threading
from typing import Any, Callable, Optional

import pytest

import libcache
from helpers import WAIT, wait_until
from libcache import Cache, CodecError, SessionConflict, SessionStore, _session
from libcache._core import FakeClock

PREFIX = "session:"
URLSAFE = re.compile(r"[A-Za-z0-9_-]+")


@dataclasses.dataclass
class Profile:  # module level, so that pickle can find it
    name: str
    tags: frozenset[str]


def _store(clock: Optional[FakeClock] = None, **kwargs: Any) -> tuple[Cache, SessionStore]:
    """A store whose cache and store share clock (a new FakeClock if None)."""
    clock = clock if clock is not None else FakeClock()
    cache = Cache(max_entries=10_000, _clock=clock)
    return cache, SessionStore(cache, clock=clock, **kwargs)


def _assert_gone(store: SessionStore, cache: Cache, sid: str) -> None:
    """Every operation treats sid as unknown, and none of them brings it back."""
    assert store.get(sid) is None
    with pytest.raises(KeyError):
        store.save(sid, {"new": "data"})
    with pytest.raises(KeyError):
        store.rotate(sid)
    assert store.destroy(sid) is False
    assert PREFIX + sid not in cache
    assert store.get(sid) is None


# --- ids ------------------------------------------------------------------------------


def test_ids_are_url_safe_unique_and_carry_at_least_128_bits() -> None:
    cache, store = _store()
    sids = [store.create({"n": i}) for i in range(2000)]
    for sid in sids:
        assert isinstance(sid, str)
        assert URLSAFE.fullmatch(sid), sid
        assert len(sid) >= 22  # 22 base64 characters are 132 bits
    assert len(set(sids)) == len(sids)
    assert len(cache) == 2000
    # Every id stays tied to its own data.
    assert [store.get(sid) for sid in sids[:50]] == [{"n": i} for i in range(50)]


def test_ids_do_not_come_from_the_random_module() -> None:
    ids = []
    for _ in range(2):
        random.seed(1234)  # a seeded PRNG must not make ids predictable
        _, store = _store()
        ids.append(store.create({}))
    assert ids[0] != ids[1]


# --- create, get, save, rotate, destroy ---------------------------------------------------


def test_create_get_save_destroy() -> None:
    cache, store = _store()
    sid = store.create({"user": 1})
    assert store.get(sid) == {"user": 1}
    store.save(sid, {"user": 1, "cart": [3]})
    assert store.get(sid) == {"user": 1, "cart": [3]}
    assert store.destroy(sid) is True
    _assert_gone(store, cache, sid)
    assert len(cache) == 0


def test_json_data_round_trips() -> None:
    _, store = _store()
    data = {
        "user": {"id": 42, "name": "Zoë 🚀", "roles": ["admin", "dev"]},
        "prefs": {"theme": "dark", "ratio": 0.25, "on": True, "off": False, "unset": None},
        "cart": [[1, 2], {"sku": "A-1", "qty": 3}, []],
        "empty": {},
        "big": 2**53,
        "neg": -7,
    }
    sid = store.create(data)
    assert store.get(sid) == data
    data2 = {"nested": [{"a": [{"b": [1, [2, [3]]]}]}]}
    store.save(sid, data2)
    assert store.get(sid) == data2


def test_scalar_and_empty_data() -> None:
    _, store = _store()
    for data in ["text", 1, 2.5, True, [], {}]:
        sid = store.create(data)
        assert store.get(sid) == data


def test_rotate_moves_the_session_to_a_new_id() -> None:
    cache, store = _store()
    old = store.create({"user": 1})
    store.save(old, {"user": 1, "step": 2})
    new = store.rotate(old)
    assert isinstance(new, str) and new != old
    assert URLSAFE.fullmatch(new) and len(new) >= 22
    assert store.get(new) == {"user": 1, "step": 2}
    _assert_gone(store, cache, old)
    assert len(cache) == 1
    # The new id is a full session.
    store.save(new, {"user": 2})
    assert store.get(new) == {"user": 2}
    assert store.destroy(new) is True
    assert len(cache) == 0


def test_concurrent_rotations_of_one_id_have_exactly_one_winner() -> None:
    for _ in range(50):
        cache, store = _store()
        sid = store.create({"who": "me"})
        barrier = threading.Barrier(2)
        outcomes: list[Any] = [None, None]

        def rotate(i: int) -> None:
            try:
                barrier.wait(5)
                outcomes[i] = store.rotate(sid)
            except BaseException as e:
                outcomes[i] = e

        threads = [threading.Thread(target=rotate, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        winners = [o for o in outcomes if isinstance(o, str)]
        losers = [o for o in outcomes if isinstance(o, KeyError)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert store.get(winners[0]) == {"who": "me"}
        assert store.get(sid) is None
        assert len(cache) == 1


# --- rotate() against save() ----------------------------------------------------------------
# A rotation reads the record and moves it to a new id; a save() that returned
# must not be lost in between (the new id carrying the old data). The tests
# pause one thread at a chosen point, through a Cache subclass or an observed
# lock, and let the other run into that window.


class PausingCache(Cache):
    """A Cache whose get() or delete() of `key` in the thread named `thread` pauses once.

    get() pauses after reading, delete() before deleting, until resume is set.
    """

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(max_entries=100, _clock=clock)
        self.pause_at: tuple[str, str, str] = ("", "", "")  # (method, thread name, key)
        self.paused = threading.Event()
        self.resume = threading.Event()

    def _maybe_pause(self, method: str, key: Any) -> None:
        if self.pause_at == (method, threading.current_thread().name, key):
            self.pause_at = ("", "", "")
            self.paused.set()
            assert self.resume.wait(WAIT), "never resumed"

    def get(self, key: Any, default: Any = None) -> Any:
        value = super().get(key, default)
        self._maybe_pause("get", key)
        return value

    def delete(self, key: Any) -> bool:
        self._maybe_pause("delete", key)
        return super().delete(key)


class ObservedLock:
    """A lock that tells when a second thread waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waiting = threading.Event()

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.waiting.set()
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def _in_thread(name: str, fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def body() -> None:
        try:
            out["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            out["error"] = e

    t = threading.Thread(target=body, name=name, daemon=True)
    t.start()
    return t, out


def _rig() -> tuple[PausingCache, SessionStore, str]:
    clock = FakeClock()
    cache = PausingCache(clock)
    store = SessionStore(cache, clock=clock)
    return cache, store, store.create({"v": 0})


def test_a_save_between_the_rotations_read_and_its_move_moves_with_it() -> None:
    cache, store, sid = _rig()
    cache.pause_at = ("get", "rotator", PREFIX + sid)  # rotate() has read the record
    t, rotated = _in_thread("rotator", lambda: store.rotate(sid))
    assert cache.paused.wait(WAIT)
    store.save(sid, {"v": 1})  # returns: it landed before the rotation took the record
    cache.resume.set()
    t.join(WAIT)
    assert "error" not in rotated, rotated
    assert store.get(rotated["result"]) == {"v": 1}, "the save was lost"
    assert store.get(sid) is None and len(cache) == 1


def test_a_save_waiting_on_a_rotation_in_progress_fails() -> None:
    cache, store, sid = _rig()
    lock = ObservedLock()
    cache.pause_at = ("delete", "rotator", PREFIX + sid)  # the rotation is taking the record
    saved: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_session, "_lock_for", lambda cache, key: lock, raising=False)
        t, rotated = _in_thread("rotator", lambda: store.rotate(sid))
        assert cache.paused.wait(WAIT)
        s, saved = _in_thread("saver", lambda: store.save(sid, {"v": 1}))
        # The save either waits for the rotation (fixed) or runs through it.
        assert wait_until(lambda: lock.waiting.is_set() or not s.is_alive())
        cache.resume.set()
        t.join(WAIT)
        s.join(WAIT)
    assert "error" not in rotated, rotated
    new = rotated["result"]
    if "error" in saved:  # the save came after the rotation: refused, and nothing lost
        assert isinstance(saved["error"], KeyError)
        assert store.get(new) == {"v": 0}
    else:
        assert store.get(new) == {"v": 1}, "save() returned, and its data was lost"
    assert store.get(sid) is None and len(cache) == 1


def test_a_rotation_during_a_save_makes_the_save_fail() -> None:
    cache, store, sid = _rig()
    cache.pause_at = ("get", "saver", PREFIX + sid)  # save() has loaded the session
    s, saved = _in_thread("saver", lambda: store.save(sid, {"v": 1}))
    assert cache.paused.wait(WAIT)
    new = store.rotate(sid)
    cache.resume.set()
    s.join(WAIT)
    assert isinstance(saved.get("error"), KeyError), saved
    assert store.get(new) == {"v": 0}
    assert store.get(sid) is None and len(cache) == 1  # the old id did not come back


def test_saves_racing_rotations_are_never_lost() -> None:
    for round in range(100):
        _, store = _store()
        sid = store.create({"v": 0})
        barrier = threading.Barrier(2)
        out: dict[str, Any] = {}

        def save() -> None:
            barrier.wait(WAIT)
            try:
                store.save(sid, {"v": 1})
                out["saved"] = True
            except KeyError:
                out["saved"] = False

        def rotate() -> None:
            barrier.wait(WAIT)
            out["new"] = store.rotate(sid)

        threads = [threading.Thread(target=f, daemon=True) for f in (save, rotate)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        expected = {"v": 1} if out["saved"] else {"v": 0}
        assert store.get(out["new"]) == expected, (round, out)


def test_rotate_and_save_locks_are_fresh_in_a_forked_child(run_in_child: Callable[..., Any]) -> None:
    # A stripe lock held by a parent thread at fork() must not stay held in the child.
    cache, store = _store()
    sid = store.create({"v": 0})
    key = PREFIX + sid

    def child() -> Any:
        store.save(sid, {"v": 1})
        return store.get(store.rotate(sid))

    with _session._lock_for(cache, key):
        out = run_in_child(child)
    assert out == {"ok": "{'v': 1}"}, out


# --- ids the store did not issue ----------------------------------------------------------


def _bad_ids(real: str) -> list[tuple[str, Any]]:
    return [
        ("empty", ""),
        ("short", "abc"),
        ("random valid-looking", secrets.token_urlsafe(32)),
        ("43 letters", "a" * 43),
        ("42 characters", real[:-1]),
        ("44 characters", real + "A"),
        ("trailing newline", real + "\n"),
        ("leading space", " " + real),
        ("not url-safe", "!" * 43),
        ("with slash", real[:-1] + "/"),
        ("with plus", real[:-1] + "+"),
        ("padded", real + "="),
        ("cache key", PREFIX + real),
        ("very long", "A" * 100_000),
        ("NUL inside", real[:20] + "\x00" + real[21:]),
        ("bytes of a real id", real.encode()),
        ("None", None),
        ("int", 123),
        ("float", 1.5),
        ("list", [real]),
        ("object", object()),
    ]


def test_ids_the_store_did_not_issue_are_never_accepted() -> None:
    cache, store = _store()
    real = store.create({"mine": True})
    for name, bad in _bad_ids(real):
        assert store.get(bad) is None, name
        with pytest.raises(KeyError):
            store.save(bad, {"attacker": True})
        with pytest.raises(KeyError):
            store.rotate(bad)
        assert store.destroy(bad) is False, name
        # save() created nothing, under any id.
        assert len(cache) == 1, name
        if isinstance(bad, str):
            assert store.get(bad) is None, name
    assert store.get(real) == {"mine": True}


def test_save_never_creates_a_session_for_a_chosen_id() -> None:
    # Session fixation: an attacker picks a well-formed id and hopes that
    # save() will create a session under it.
    cache, store = _store()
    chosen = secrets.token_urlsafe(32)
    with pytest.raises(KeyError):
        store.save(chosen, {"user": "victim"})
    assert len(cache) == 0
    assert store.get(chosen) is None


def test_an_id_issued_by_another_store_is_not_accepted() -> None:
    cache = Cache(max_entries=100)
    ours = SessionStore(cache, prefix="a:")
    theirs = SessionStore(cache, prefix="b:")
    sid = ours.create({"x": 1})
    assert theirs.get(sid) is None
    with pytest.raises(KeyError):
        theirs.save(sid, {"x": 2})
    with pytest.raises(KeyError):
        theirs.rotate(sid)
    assert theirs.destroy(sid) is False
    assert ours.get(sid) == {"x": 1}


def test_other_entries_under_the_prefix_are_not_sessions() -> None:
    cache, store = _store()
    sid = secrets.token_urlsafe(32)
    for junk in ["a str", 42, None, b"not json", b'"just a string"', b"[1, 2]", b'{"data": 1}']:
        cache[PREFIX + sid] = junk
        assert store.get(sid) is None, junk
        with pytest.raises(KeyError):
            store.save(sid, {"x": 1})
        with pytest.raises(KeyError):
            store.rotate(sid)


# --- stored records whose deadline never comes -----------------------------------------------


def _deadlines(clock: FakeClock) -> list[Any]:
    now = clock()
    return [
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param(float("-inf"), id="-inf"),
        pytest.param("2100-01-01", id="str"),
        pytest.param(None, id="None"),
        pytest.param(True, id="True"),
        pytest.param([now + 5], id="list"),
        pytest.param(1e300, id="1e300"),
        pytest.param(10**400, id="int-10**400"),
        # An hour past what the store gives (absolute_ttl, plus its allowance for clock skew).
        pytest.param(now + 86400 + 3600, id="past-absolute_ttl"),
    ]


@pytest.mark.parametrize("deadline", _deadlines(FakeClock()))
@pytest.mark.parametrize("operation", ["get", "save", "rotate"])
def test_a_record_whose_deadline_never_comes_is_rejected_and_deleted(deadline: Any, operation: str) -> None:
    cache, store = _store(FakeClock())  # the same start as the clock _deadlines() read
    sid = secrets.token_urlsafe(32)
    cache.set(PREFIX + sid, json.dumps({"data": {"user": "x"}, "deadline": deadline}).encode(), ttl=60)
    if operation == "get":
        assert store.get(sid) is None
    else:
        with pytest.raises(KeyError):
            store.save(sid, {"user": "y"}) if operation == "save" else store.rotate(sid)
    assert PREFIX + sid not in cache  # deleted, not left to live forever
    assert len(cache) == 0


def test_a_record_written_by_hand_with_a_plausible_deadline_is_accepted() -> None:
    clock = FakeClock()
    cache, store = _store(clock)
    sid = secrets.token_urlsafe(32)
    for deadline in (clock() + 5, int(clock()) + 5):
        cache.set(PREFIX + sid, json.dumps({"data": {"user": "x"}, "deadline": deadline}).encode(), ttl=60)
        assert store.get(sid) == {"user": "x"}
    clock.advance(5)
    assert store.get(sid) is None and len(cache) == 0


# --- idle timeout (engine clock) --------------------------------------------------------------


def test_idle_session_expires() -> None:
    clock = FakeClock()
    cache, store = _store(clock, idle_ttl=10, absolute_ttl=600)
    sid = store.create({"user": 1})
    assert store.get(sid) == {"user": 1}  # refreshes: 10 s from now
    clock.advance(9.999)
    assert PREFIX + sid in cache  # looked at without refreshing it
    clock.advance(0.001)
    _assert_gone(store, cache, sid)


def test_get_and_save_keep_a_session_alive_past_idle_ttl() -> None:
    clock = FakeClock()
    cache, store = _store(clock, idle_ttl=10, absolute_ttl=600)
    sid = store.create({"n": 0})
    for i in range(1, 31):  # 90 s: nine idle periods, each step within one
        clock.advance(3)
        if i % 2:  # save alone refreshes the idle timeout...
            store.save(sid, {"n": i})
        else:  # ...and so does get alone
            assert store.get(sid) == {"n": i - 1}, i
    clock.advance(9.999)
    assert PREFIX + sid in cache
    clock.advance(0.001)
    _assert_gone(store, cache, sid)


def test_get_alone_slides_the_idle_timeout() -> None:
    clock = FakeClock()
    cache, store = _store(clock, idle_ttl=10, absolute_ttl=600)
    sid = store.create({"user": 1})
    for _ in range(30):
        clock.advance(9.999)  # just short of the idle timeout, every time
        assert store.get(sid) == {"user": 1}
    clock.advance(10)
    _assert_gone(store, cache, sid)


# --- absolute timeout (store clock) ----------------------------------------------------------------


def test_absolute_timeout_ends_even_an_active_session() -> None:
    clock = FakeClock()
    cache, store = _store(clock, idle_ttl=100, absolute_ttl=10)
    sid = store.create({"user": 1})
    for _ in range(9):
        clock.advance(1.0)
        assert store.get(sid) == {"user": 1}
    clock.advance(0.9)
    assert store.get(sid) == {"user": 1}
    clock.advance(0.2)  # 10.1 s after create
    _assert_gone(store, cache, sid)


def _save_v2(store: SessionStore, sid: str) -> str:
    store.save(sid, {"v": 2})
    return sid  # save keeps the id


@pytest.mark.parametrize(
    "step, expected",
    [
        pytest.param(_save_v2, {"v": 2}, id="save"),
        pytest.param(SessionStore.rotate, {"v": 1}, id="rotate"),
    ],
)
def test_save_and_rotate_keep_the_absolute_deadline(
    step: Callable[[SessionStore, str], str], expected: dict[str, int]
) -> None:
    clock = FakeClock()
    cache, store = _store(clock, idle_ttl=100, absolute_ttl=10)
    sid = store.create({"v": 1})
    clock.advance(6)
    sid = step(store, sid)  # rotate moves the session to a new id
    clock.advance(3.9)
    assert store.get(sid) == expected
    clock.advance(0.2)
    _assert_gone(store, cache, sid)
    assert len(cache) == 0


def test_entry_ttl_never_extends_past_the_absolute_deadline() -> None:
    clock = FakeClock()
    cache, store = _store(clock, idle_ttl=100, absolute_ttl=10)

    def remaining(sid: str) -> float:
        left = cache.ttl(PREFIX + sid)
        assert left is not None and left > 0
        return float(left)

    sid = store.create({"v": 1})
    assert remaining(sid) == 10
    clock.advance(7)
    assert store.get(sid) == {"v": 1}
    assert remaining(sid) == 3
    store.save(sid, {"v": 2})
    assert remaining(sid) == 3
    clock.advance(1)
    new = store.rotate(sid)
    assert remaining(new) == 2


def test_entry_itself_expires_at_the_absolute_deadline() -> None:
    # A touch by get() or a save() must not keep the entry in the cache (for
    # idle_ttl) after the absolute deadline: the engine drops it by itself.
    clock = FakeClock()
    cache, store = _store(clock, idle_ttl=60, absolute_ttl=10)
    sid = store.create({"v": 1})
    other = store.create({"v": 2})
    clock.advance(3)
    assert store.get(sid) == {"v": 1}
    store.save(sid, {"v": 3})
    clock.advance(6.999)
    assert PREFIX + sid in cache and PREFIX + other in cache
    clock.advance(0.001)
    assert PREFIX + sid not in cache
    assert PREFIX + other not in cache
    assert len(cache) == 0


# --- codecs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [{1, 2}, {"when": datetime.datetime(2024, 1, 1)}, b"raw bytes", {"x": object()}, Profile("a", frozenset())],
    ids=["set", "datetime", "bytes", "object", "dataclass"],
)
def test_json_codec_refuses_non_json_data(data: Any) -> None:
    cache, store = _store()
    with pytest.raises(CodecError) as e:
        store.create(data)
    assert isinstance(e.value, TypeError)  # what json raised, still caught by old handlers
    assert isinstance(e.value.__cause__, (TypeError, ValueError)), repr(e.value.__cause__)
    assert len(cache) == 0
    sid = store.create({"ok": True})
    with pytest.raises(CodecError):
        store.save(sid, data)
    assert store.get(sid) == {"ok": True}  # the old data is untouched
    assert len(cache) == 1


def test_pickle_codec_stores_any_picklable_data() -> None:
    cache = Cache(max_entries=100)
    store = SessionStore(cache, codec="pickle")
    data = {
        "tags": {"a", "b"},
        "when": datetime.datetime(2024, 1, 1, 12, 30),
        "raw": b"\x00\xff",
        "pair": (1, 2),
        "profile": Profile("ann", frozenset({"admin"})),
    }
    sid = store.create(data)
    assert store.get(sid) == data
    new = store.rotate(sid)
    assert store.get(new) == data
    store.save(new, Profile("bob", frozenset()))
    assert store.get(new) == Profile("bob", frozenset())


def test_custom_codec_object() -> None:
    class Reversed:
        import json as _json

        def dumps(self, value: Any) -> bytes:
            return self._json.dumps(value).encode()[::-1]

        def loads(self, data: bytes) -> Any:
            return self._json.loads(bytes(data)[::-1])

    cache = Cache(max_entries=100)
    store = SessionStore(cache, codec=Reversed())
    sid = store.create({"a": [1, 2]})
    assert store.get(sid) == {"a": [1, 2]}


@pytest.mark.parametrize("bad", [5, None, ["b"]], ids=lambda v: type(v).__name__)
def test_codec_dumps_returning_non_bytes_raises_codec_error(bad: Any) -> None:
    class Bad:
        def dumps(self, value: Any) -> Any:
            return bad

        def loads(self, data: bytes) -> Any:
            return json.loads(data)

    cache = Cache(max_entries=100)
    store = SessionStore(cache, codec=Bad())
    with pytest.raises(CodecError, match="dumps\\(\\) returned"):
        store.create({"x": 1})
    assert len(cache) == 0


def test_codec_dumps_failure_is_chained() -> None:
    class Boom(Exception):
        pass

    class Raising:
        def dumps(self, value: Any) -> bytes:
            raise Boom("no")

        def loads(self, data: bytes) -> Any:
            return data

    store = SessionStore(Cache(max_entries=100), codec=Raising())
    with pytest.raises(CodecError, match="Boom: no") as e:
        store.create({})
    assert type(e.value.__cause__) is Boom


# --- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"idle_ttl": 0}, ValueError),
        ({"idle_ttl": -1}, ValueError),
        ({"absolute_ttl": 0}, ValueError),
        ({"idle_ttl": float("nan")}, ValueError),
        ({"idle_ttl": float("inf")}, ValueError),
        ({"absolute_ttl": float("inf")}, ValueError),
        ({"absolute_ttl": decimal.Decimal("NaN")}, ValueError),
        ({"idle_ttl": decimal.Decimal("-1")}, ValueError),
        ({"idle_ttl": 1e300}, ValueError),
        ({"idle_ttl": 1j}, TypeError),
        ({"idle_ttl": "10"}, TypeError),
        ({"absolute_ttl": None}, TypeError),
        ({"idle_ttl": True}, TypeError),
        ({"codec": None}, ValueError),
        ({"codec": "xml"}, ValueError),
        ({"codec": 42}, TypeError),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error) as e:
        SessionStore(Cache(max_entries=10), **kwargs)
    name = next(iter(kwargs))
    if name != "codec":
        assert name in str(e.value), str(e.value)


def test_timeouts_follow_the_ttl_rule_of_the_cache() -> None:
    # Any real number, as for ttl= and default_ttl: Decimal, Fraction.
    clock = FakeClock()
    cache = Cache(max_entries=10, _clock=clock)
    store = SessionStore(cache, idle_ttl=decimal.Decimal("1.5"), absolute_ttl=fractions.Fraction(7, 2), clock=clock)
    assert store.idle_ttl == 1.5 and store.absolute_ttl == 3.5
    assert type(store.idle_ttl) is float
    sid = store.create({})
    clock.advance(1.499)
    assert store.get(sid) == {}
    clock.advance(1.499)
    assert store.get(sid) == {}
    clock.advance(0.502)  # 3.5 s after create
    assert store.get(sid) is None


def test_cache_must_be_a_cache() -> None:
    with pytest.raises(TypeError):
        SessionStore({})  # type: ignore[arg-type]


def test_timeouts_are_reported() -> None:
    store = SessionStore(Cache(max_entries=10), idle_ttl=5, absolute_ttl=60)
    assert store.idle_ttl == 5 and store.absolute_ttl == 60


# --- lost updates: save() is checked against the version this thread or task last read --------


def test_a_save_based_on_an_older_read_raises_session_conflict() -> None:
    cache, store = _store()
    sid = store.create({"n": 0})
    assert store.get(sid) == {"n": 0}
    t, out = _in_thread("other", lambda: (store.get(sid), store.save(sid, {"n": 1, "by": "other"})))
    t.join(WAIT)
    assert "error" not in out, out
    with pytest.raises(SessionConflict, match="get\\(\\) it again") as e:
        store.save(sid, {"n": 1, "by": "main"})  # based on the read of n == 0
    assert isinstance(e.value, libcache.Error)
    assert store.get(sid) == {"n": 1, "by": "other"}  # nothing was written...
    store.save(sid, {"n": 2, "by": "main"})  # ...and after a new read the save goes through
    assert store.get(sid) == {"n": 2, "by": "main"}


def test_concurrent_read_modify_write_with_retries_loses_nothing() -> None:
    _, store = _store()
    sid = store.create({"n": 0})
    conflicts = [0]

    def worker(i: int) -> None:
        for _ in range(200):
            while True:
                data = store.get(sid)
                data["n"] += 1
                try:
                    store.save(sid, data)
                    break
                except SessionConflict:
                    conflicts[0] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert store.get(sid) == {"n": 800}


def test_each_asyncio_task_has_its_own_read() -> None:
    import asyncio

    _, store = _store()
    sid = store.create({"n": 0})

    async def main() -> list[Any]:
        first, second = asyncio.Event(), asyncio.Event()

        async def a() -> Any:
            store.get(sid)
            first.set()
            await second.wait()
            try:
                store.save(sid, {"by": "a"})
            except SessionConflict as e:
                return e
            return "saved"

        async def b() -> Any:
            await first.wait()
            store.get(sid)
            store.save(sid, {"by": "b"})
            second.set()
            return "saved"

        return list(await asyncio.gather(a(), b()))

    out = asyncio.run(main())
    assert out[1] == "saved" and isinstance(out[0], SessionConflict)
    assert store.get(sid) == {"by": "b"}


def test_records_carry_a_version_and_1_3_records_are_version_0() -> None:
    clock = FakeClock()
    cache, store = _store(clock)
    sid = store.create({"v": 1})
    assert cache.get(PREFIX + sid).startswith(b"S1:1:{")
    store.save(sid, {"v": 2})
    assert cache.get(PREFIX + sid).startswith(b"S1:2:{")
    new = store.rotate(sid)  # the version moves with the record
    assert cache.get(PREFIX + new).startswith(b"S1:2:{")
    old = secrets.token_urlsafe(32)  # as 1.3 wrote it: no header
    cache.set(PREFIX + old, json.dumps({"data": {"old": 1}, "deadline": clock() + 60}).encode(), ttl=60)
    assert store.get(old) == {"old": 1}
    store.save(old, {"old": 2})
    assert cache.get(PREFIX + old).startswith(b"S1:1:{") and store.get(old) == {"old": 2}


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"refresh_fraction": 1}, ValueError),
        ({"refresh_fraction": -0.1}, ValueError),
        ({"refresh_fraction": float("nan")}, ValueError),
        ({"refresh_fraction": "0.5"}, TypeError),
        ({"refresh_fraction": True}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"timeout": None}, TypeError),
    ],
)
def test_bad_shared_store_arguments_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error) as e:
        SessionStore(Cache(max_entries=10), **kwargs)
    assert next(iter(kwargs)) in str(e.value)


def test_without_redis_the_store_is_not_shared() -> None:
    _, store = _store()
    assert store.shared is False
