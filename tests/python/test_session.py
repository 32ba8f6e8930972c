"""SessionStore: ids, sliding idle timeout, absolute timeout, rotation, codecs.

Idle timeouts run on the engine's clock, so those tests use small real TTLs
with wide margins (the engine's clock has a resolution of a few ms). Absolute
timeouts are checked against the store's clock, which the tests replace with a
fake wall clock so that they are deterministic.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
import re
import secrets
import threading
import time
from typing import Any, Callable

import pytest

from libcache import Cache, SessionStore

PREFIX = "session:"
URLSAFE = re.compile(r"[A-Za-z0-9_-]+")


@dataclasses.dataclass
class Profile:  # module level, so that pickle can find it
    name: str
    tags: frozenset[str]


class FakeClock:
    """Wall-clock seconds that only move when told to."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _store(**kwargs: Any) -> tuple[Cache, SessionStore]:
    cache = Cache(max_entries=10_000)
    return cache, SessionStore(cache, **kwargs)


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


# --- idle timeout (engine clock) --------------------------------------------------------------


def test_idle_session_expires() -> None:
    cache, store = _store(idle_ttl=0.1, absolute_ttl=60)
    sid = store.create({"user": 1})
    assert store.get(sid) == {"user": 1}
    time.sleep(0.4)
    _assert_gone(store, cache, sid)


def test_get_and_save_keep_a_session_alive_past_idle_ttl() -> None:
    cache, store = _store(idle_ttl=0.3, absolute_ttl=60)
    sid = store.create({"n": 0})
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < 0.9:  # three idle periods
        time.sleep(0.03)
        i += 1
        if i % 2:  # save alone refreshes the idle timeout...
            store.save(sid, {"n": i})
        else:  # ...and so does get alone
            assert store.get(sid) == {"n": i - 1}, f"expired after {time.monotonic() - start:.3f}s"
    time.sleep(0.7)
    _assert_gone(store, cache, sid)


def test_get_alone_slides_the_idle_timeout() -> None:
    cache, store = _store(idle_ttl=0.3, absolute_ttl=60)
    sid = store.create({"user": 1})
    start = time.monotonic()
    while time.monotonic() - start < 0.9:
        time.sleep(0.03)
        assert store.get(sid) == {"user": 1}, f"expired after {time.monotonic() - start:.3f}s"
    time.sleep(0.7)
    _assert_gone(store, cache, sid)


# --- absolute timeout (store clock) ----------------------------------------------------------------


def test_absolute_timeout_ends_even_an_active_session() -> None:
    clock = FakeClock()
    cache, store = _store(idle_ttl=100, absolute_ttl=10, clock=clock)
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
    cache, store = _store(idle_ttl=100, absolute_ttl=10, clock=clock)
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
    cache, store = _store(idle_ttl=100, absolute_ttl=10, clock=clock)
    slack = 0.005  # TTLs are kept in whole milliseconds, rounded up

    def remaining(sid: str) -> float:
        left = cache.ttl(PREFIX + sid)
        assert left is not None and left > 0
        return float(left)

    sid = store.create({"v": 1})
    assert remaining(sid) <= 10 + slack
    clock.advance(7)
    assert store.get(sid) == {"v": 1}
    assert remaining(sid) <= 3 + slack
    store.save(sid, {"v": 2})
    assert remaining(sid) <= 3 + slack
    clock.advance(1)
    new = store.rotate(sid)
    assert remaining(new) <= 2 + slack


def test_entry_itself_expires_at_the_absolute_deadline() -> None:
    # With the real clock: a touch by get() must not keep the entry in the
    # cache (for idle_ttl) after the absolute deadline has passed.
    cache, store = _store(idle_ttl=60, absolute_ttl=0.3)
    sid = store.create({"v": 1})
    other = store.create({"v": 2})
    time.sleep(0.1)
    assert store.get(sid) == {"v": 1}
    store.save(sid, {"v": 3})
    time.sleep(0.6)
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
    with pytest.raises(TypeError):
        store.create(data)
    assert len(cache) == 0
    sid = store.create({"ok": True})
    with pytest.raises(TypeError):
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


# --- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"idle_ttl": 0}, ValueError),
        ({"idle_ttl": -1}, ValueError),
        ({"absolute_ttl": 0}, ValueError),
        ({"idle_ttl": float("nan")}, ValueError),
        ({"idle_ttl": "10"}, TypeError),
        ({"absolute_ttl": None}, TypeError),
        ({"idle_ttl": True}, TypeError),
        ({"codec": None}, ValueError),
        ({"codec": "xml"}, ValueError),
        ({"codec": 42}, TypeError),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        SessionStore(Cache(max_entries=10), **kwargs)


def test_cache_must_be_a_cache() -> None:
    with pytest.raises(TypeError):
        SessionStore({})  # type: ignore[arg-type]


def test_timeouts_are_reported() -> None:
    store = SessionStore(Cache(max_entries=10), idle_ttl=5, absolute_ttl=60)
    assert store.idle_ttl == 5 and store.absolute_ttl == 60
