"""TTLs: expiry, default_ttl, ttl=0, touch, ttl(), expiration counts, the TTL rule.

Every cache here reads a FakeClock (Cache(_clock=...)): time moves only when
a test advances it, so expiry is checked to the millisecond, without sleeps.
"""

from __future__ import annotations

import decimal
import fractions
from typing import Any, Callable, Iterator

import pytest

from libcache import Cache, SessionStore, cached
from libcache._core import FakeClock

LONG = 30.0  # a TTL no test outlives


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> Iterator[Cache]:
    c = Cache(max_bytes=1 << 20, _clock=clock)
    yield c
    c.close()


def test_entry_lives_exactly_its_ttl(cache: Cache, clock: FakeClock) -> None:
    cache.set("k", b"v", ttl=1)
    cache.set("keep", b"v", ttl=LONG)
    clock.advance(0.999)
    assert cache.get("k") == b"v"
    clock.advance(0.001)
    assert cache.get("k") is None
    assert cache.get("k", "dflt") == "dflt"
    assert "k" not in cache
    with pytest.raises(KeyError):
        cache["k"]
    assert cache.pop("k", "gone") == "gone"
    assert cache["keep"] == b"v"


@pytest.mark.parametrize("probe", ["get", "in", "getitem"])
def test_each_read_sees_the_expiry_on_its_own(cache: Cache, clock: FakeClock, probe: str) -> None:
    cache.set("k", 1, ttl=1)
    clock.advance(1)
    if probe == "get":
        assert cache.get("k") is None
    elif probe == "in":
        assert "k" not in cache
    else:
        with pytest.raises(KeyError):
            cache["k"]


def test_expired_entry_counts_as_absent_for_writes(cache: Cache, clock: FakeClock) -> None:
    cache.set("a", "old", ttl=1)
    cache.set("r", "old", ttl=1)
    clock.advance(1)
    assert cache.add("a", "new") is True  # absent again
    assert cache["a"] == "new"
    assert cache.replace("r", "new") is False  # not present any more
    assert "r" not in cache
    assert cache.delete("r") is False


def test_default_ttl_applies_when_ttl_is_none(clock: FakeClock) -> None:
    with Cache(max_bytes=1 << 20, default_ttl=1, _clock=clock) as c:
        c.set("set", 1)
        c.set("set_none", 1, ttl=None)
        c["item"] = 1
        assert c.add("add", 1) is True
        c.set("replaced", 0, ttl=LONG)
        assert c.replace("replaced", 1) is True  # ttl=None: the default again
        c.set("explicit", 1, ttl=LONG)
        clock.advance(0.999)
        assert all(k in c for k in ("set", "set_none", "item", "add", "replaced", "explicit"))
        clock.advance(0.001)
        for k in ("set", "set_none", "item", "add", "replaced"):
            assert k not in c, k
        assert c["explicit"] == 1


def test_ttl_zero_never_expires_even_with_a_default(clock: FakeClock) -> None:
    with Cache(max_bytes=1 << 20, default_ttl=1, _clock=clock) as c:
        c.set("forever", 1, ttl=0)
        c.set("forever_float", 1, ttl=0.0)
        assert c.add("forever_add", 1, ttl=0) is True
        clock.advance(10**6)
        assert c["forever"] == 1
        assert c["forever_float"] == 1
        assert c["forever_add"] == 1
        assert c.ttl("forever") is None


@pytest.mark.parametrize("default", [None, 0, 0.0])
def test_no_default_means_never(clock: FakeClock, default: Any) -> None:
    with Cache(max_bytes=1 << 20, default_ttl=default, _clock=clock) as c:
        c.set("k", 1)
        c["i"] = 2
        clock.advance(10**6)
        assert c["k"] == 1 and c["i"] == 2
        assert c.ttl("k") is None and c.ttl("i") is None


def test_overwrite_resets_the_ttl(cache: Cache, clock: FakeClock) -> None:
    cache.set("k", 1, ttl=1)
    cache.set("k", 2, ttl=0)
    clock.advance(2)
    assert cache["k"] == 2
    cache.set("j", 1, ttl=0)
    cache.set("j", 2, ttl=1)
    clock.advance(1)
    assert "j" not in cache


def test_touch_extends_a_ttl(cache: Cache, clock: FakeClock) -> None:
    cache.set("k", b"v", ttl=2)
    clock.advance(1)
    assert cache.touch("k", 10) is True
    clock.advance(9.999)  # past the first deadline, just before the new one
    assert cache["k"] == b"v"
    clock.advance(0.001)
    assert "k" not in cache


def test_touch_can_shorten_a_ttl(cache: Cache, clock: FakeClock) -> None:
    cache.set("k", b"v", ttl=LONG)
    assert cache.touch("k", 1) is True
    clock.advance(1)
    assert "k" not in cache


def test_touch_zero_makes_an_entry_permanent(cache: Cache, clock: FakeClock) -> None:
    cache.set("k", b"v", ttl=1)
    assert cache.touch("k", 0) is True
    clock.advance(10**6)
    assert cache["k"] == b"v"
    assert cache.ttl("k") is None


def test_touch_none_uses_the_default_ttl(clock: FakeClock) -> None:
    with Cache(max_bytes=1 << 20, default_ttl=1, _clock=clock) as c:
        c.set("k", 1, ttl=0)
        assert c.touch("k", None) is True
        assert c.ttl("k") == 1.0
        clock.advance(1)
        assert "k" not in c


def test_touch_missing_or_expired_key_returns_false(cache: Cache, clock: FakeClock) -> None:
    assert cache.touch("absent", 10) is False
    assert "absent" not in cache  # touch does not create
    cache.set("k", 1, ttl=1)
    clock.advance(1)
    assert cache.touch("k", 10) is False
    assert "k" not in cache  # an expired entry is not revived


def test_touch_does_not_change_the_value(cache: Cache) -> None:
    cache.set("k", 2**70)
    cache.touch("k", LONG)
    assert cache["k"] == 2**70


def test_ttl_reports_seconds_left(cache: Cache, clock: FakeClock) -> None:
    cache.set("k", 1, ttl=10)
    left = cache.ttl("k")
    assert left == 10.0 and isinstance(left, float)
    cache.set("f", 1, ttl=2.5)
    assert cache.ttl("f") == 2.5
    clock.advance(0.1)
    assert cache.ttl("f") == 2.4
    clock.advance(2.399)
    assert cache.ttl("f") == 0.001


def test_ttl_never_reports_more_than_was_set(cache: Cache) -> None:
    # The engine counts whole milliseconds, rounded down: a TTL with a fraction
    # of one must not come back larger than asked (the entry would outlive its TTL).
    for ttl, ms in ((1.0001, 1000), (2.5004, 2500), (10.0009, 10000)):
        cache.set("k", 1, ttl=ttl)
        assert cache.ttl("k") == ms / 1000, ttl


def test_ttl_after_touch(cache: Cache, clock: FakeClock) -> None:
    cache.set("k", 1, ttl=10)
    clock.advance(5)
    cache.touch("k", 100)
    assert cache.ttl("k") == 100.0


def test_ttl_is_none_for_an_entry_that_never_expires(cache: Cache) -> None:
    cache.set("k", 1)
    cache.set("z", 1, ttl=0)
    assert cache.ttl("k") is None
    assert cache.ttl(b"z") is None


def test_ttl_of_a_default_ttl_entry(clock: FakeClock) -> None:
    with Cache(max_bytes=1 << 20, default_ttl=60, _clock=clock) as c:
        c["k"] = 1
        assert c.ttl("k") == 60.0


def test_ttl_raises_key_error_when_absent_or_expired(cache: Cache, clock: FakeClock) -> None:
    with pytest.raises(KeyError):
        cache.ttl("absent")
    cache.set("k", 1, ttl=1)
    clock.advance(1)
    with pytest.raises(KeyError):
        cache.ttl("k")


def test_ttl_counts_no_hit_or_miss(cache: Cache) -> None:
    cache.set("k", 1, ttl=LONG)
    before = cache.stats()
    cache.ttl("k")
    with pytest.raises(KeyError):
        cache.ttl("absent")
    after = cache.stats()
    assert (after.hits, after.misses) == (before.hits, before.misses)


def test_expirations_are_counted(cache: Cache, clock: FakeClock) -> None:
    for i in range(5):
        cache.set(f"k{i}", i, ttl=1)
    cache.set("keep", 1, ttl=LONG)
    clock.advance(1)
    assert cache.stats().expirations == 0  # nothing reclaimed yet
    for i in range(3):
        assert cache.get(f"k{i}") is None
    s = cache.stats()
    assert s.expirations == 3
    assert s.evictions == 0  # expiry is not eviction
    assert cache.purge_expired() == 2  # the other two
    s = cache.stats()
    assert s.expirations == 5
    assert s.entries == 1 == len(cache)


def test_purge_expired_frees_memory(cache: Cache, clock: FakeClock) -> None:
    base = cache.stats().bytes
    for i in range(20):
        cache.set(f"k{i}", b"x" * 1000, ttl=1)
    assert cache.stats().bytes > base + 20_000
    clock.advance(0.999)
    assert cache.purge_expired() == 0
    clock.advance(0.001)
    assert cache.purge_expired() == 20
    assert cache.stats().bytes == base
    assert cache.purge_expired() == 0


def test_tiny_ttl_still_expires(cache: Cache, clock: FakeClock) -> None:
    # 0.0001 s rounds up to the engine's 1 ms, never down to 0 ("never").
    cache.set("k", 1, ttl=0.0001)
    cache.set("d", 1, ttl=1e-300)
    assert cache.add("a", 1, ttl=decimal.Decimal("1e-9")) is True
    assert cache.ttl("k") == 0.001
    clock.advance(0.001)
    assert "k" not in cache
    assert "d" not in cache
    assert "a" not in cache


def test_tiny_touch_still_expires(cache: Cache, clock: FakeClock) -> None:
    cache.set("k", 1)
    assert cache.touch("k", 0.0001) is True
    clock.advance(0.001)
    assert "k" not in cache


def test_tiny_default_ttl_still_expires(clock: FakeClock) -> None:
    with Cache(max_bytes=1 << 20, default_ttl=0.0001, _clock=clock) as c:
        c.set("k", 1)
        c["i"] = 1
        clock.advance(0.001)
        assert "k" not in c and "i" not in c


def test_integer_and_float_ttls_agree(cache: Cache) -> None:
    cache.set("i", 1, ttl=5)
    cache.set("f", 1, ttl=5.0)
    assert cache.ttl("i") == cache.ttl("f") == 5.0


# ---- The fake clock ---------------------------------------------------------------------


def test_fake_clock_moves_only_forward_in_whole_ms() -> None:
    clock = FakeClock(start=100)
    assert clock() == 100.0 and clock.ms == 100_000
    clock.advance(0.0004)  # rounds to 0 ms
    clock.advance(1.5)
    assert clock.ms == 101_500 and clock() == 101.5
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            clock.advance(bad)
    assert clock.ms == 101_500


def test_cache_clock_must_be_a_fake_clock() -> None:
    with pytest.raises(TypeError, match="FakeClock"):
        Cache(max_bytes=1 << 20, _clock=lambda: 0.0)  # type: ignore[arg-type]


def test_caches_on_the_real_clock_are_not_moved_by_a_fake_one(clock: FakeClock) -> None:
    with Cache(max_bytes=1 << 20) as real:
        real.set("k", 1, ttl=LONG)
        clock.advance(10 * LONG)
        assert real["k"] == 1


# ---- One TTL rule, at every entry point ------------------------------------------------------
# A number of seconds: int, float, or another real number float() converts
# (Decimal, Fraction); bool, complex and strings refused (TypeError), NaN,
# infinities and negative values refused (ValueError), whatever the entry point.

ACCEPTED = [
    pytest.param(2, id="int"),
    pytest.param(2.0, id="float"),
    pytest.param(decimal.Decimal("2"), id="Decimal"),
    pytest.param(decimal.Decimal(2), id="Decimal-int"),
    pytest.param(fractions.Fraction(4, 2), id="Fraction"),
]

REFUSED = [
    pytest.param(True, TypeError, id="True"),
    pytest.param("2", TypeError, id="str"),
    pytest.param(b"2", TypeError, id="bytes"),
    pytest.param(2j, TypeError, id="complex"),
    pytest.param([2], TypeError, id="list"),
    pytest.param(float("nan"), ValueError, id="nan"),
    pytest.param(decimal.Decimal("NaN"), ValueError, id="Decimal-NaN"),
    pytest.param(float("inf"), ValueError, id="inf"),
    pytest.param(decimal.Decimal("Infinity"), ValueError, id="Decimal-inf"),
    pytest.param(-2, ValueError, id="negative"),
    pytest.param(decimal.Decimal("-2"), ValueError, id="Decimal-negative"),
    pytest.param(fractions.Fraction(-1, 2), ValueError, id="Fraction-negative"),
    pytest.param(10**400, ValueError, id="huge-int"),
]


def _cached_call(cache: Cache, ttl: Any) -> Any:
    @cached(cache, ttl=ttl)
    def f() -> str:
        return "loaded"

    return f()


# Each write that takes a ttl: (whether "k" must exist first, the call).
WRITES: list[Any] = [
    pytest.param(False, lambda c, ttl: c.set("k", 1, ttl=ttl), id="set"),
    pytest.param(False, lambda c, ttl: c.set("k", 1, ttl), id="set-positional"),
    pytest.param(False, lambda c, ttl: c.add("k", 1, ttl), id="add"),
    pytest.param(True, lambda c, ttl: c.replace("k", 1, ttl=ttl), id="replace"),
    pytest.param(True, lambda c, ttl: c.touch("k", ttl), id="touch"),
    pytest.param(False, lambda c, ttl: c.get_or_set("k", lambda: 1, ttl=ttl), id="get_or_set"),
]


@pytest.mark.parametrize("ttl", ACCEPTED)
@pytest.mark.parametrize("exists, write", WRITES)
def test_real_number_ttls_are_accepted_by_every_write(
    exists: bool, write: Callable[..., Any], ttl: Any, clock: FakeClock
) -> None:
    with Cache(max_bytes=1 << 20, _clock=clock) as c:
        if exists:
            c.set("k", 0, ttl=0)
        write(c, ttl)
        assert c.ttl("k") == 2.0
        clock.advance(2)
        assert "k" not in c


@pytest.mark.parametrize("ttl, exc", REFUSED)
@pytest.mark.parametrize("exists, write", WRITES)
def test_bad_ttls_are_refused_by_every_write(
    exists: bool, write: Callable[..., Any], ttl: Any, exc: type, clock: FakeClock
) -> None:
    with Cache(max_bytes=1 << 20, _clock=clock) as c:
        c.set("other", "kept", ttl=0)
        if exists:
            c.set("k", "kept", ttl=0)
        before = c.stats()
        with pytest.raises(exc, match="ttl"):
            write(c, ttl)
        after = c.stats()  # nothing written (get_or_set's lookup may count a miss)
        assert (after.sets, after.entries, after.bytes) == (before.sets, before.entries, before.bytes)
        assert c.get("k") == ("kept" if exists else None)
        assert c.ttl("other") is None


@pytest.mark.parametrize("ttl", ACCEPTED)
def test_real_number_ttls_are_accepted_as_default_ttl(ttl: Any, clock: FakeClock) -> None:
    with Cache(max_bytes=1 << 20, default_ttl=ttl, _clock=clock) as c:
        c["k"] = 1
        assert c.default_ttl == ttl
        assert c.ttl("k") == 2.0


@pytest.mark.parametrize("ttl", ACCEPTED)
def test_real_number_ttls_are_accepted_by_cached(ttl: Any, clock: FakeClock) -> None:
    with Cache(max_bytes=1 << 20, _clock=clock) as c:
        assert _cached_call(c, ttl) == "loaded"
        assert len(c) == 1
        clock.advance(1.999)
        assert c.purge_expired() == 0
        clock.advance(0.001)
        assert c.purge_expired() == 1


@pytest.mark.parametrize("ttl, exc", REFUSED)
def test_bad_ttls_are_refused_as_default_ttl(ttl: Any, exc: type) -> None:
    with pytest.raises(exc, match="default_ttl"):
        Cache(max_bytes=1 << 20, default_ttl=ttl)


@pytest.mark.parametrize("ttl, exc", REFUSED)
def test_bad_ttls_are_refused_by_cached_when_it_decorates(ttl: Any, exc: type) -> None:
    with Cache(max_bytes=1 << 20) as c:
        with pytest.raises(exc, match="ttl"):
            cached(c, ttl=ttl)
        assert len(c) == 0


@pytest.mark.parametrize("ttl, exc", REFUSED)
def test_bad_ttls_are_refused_by_get_or_set_before_it_loads(ttl: Any, exc: type) -> None:
    loads = []
    with Cache(max_bytes=1 << 20) as c:
        with pytest.raises(exc, match="ttl"):
            c.get_or_set("k", lambda: loads.append(1), ttl=ttl)
        assert loads == [] and len(c) == 0


@pytest.mark.parametrize("ttl, exc", REFUSED)
@pytest.mark.parametrize("name", ["idle_ttl", "absolute_ttl"])
def test_bad_ttls_are_refused_as_session_timeouts(ttl: Any, exc: type, name: str) -> None:
    with pytest.raises(exc, match=name):
        SessionStore(Cache(max_entries=10), **{name: ttl})


@pytest.mark.parametrize("ttl", ACCEPTED)
def test_real_number_ttls_are_accepted_as_session_timeouts(ttl: Any) -> None:
    store = SessionStore(Cache(max_entries=10), idle_ttl=ttl, absolute_ttl=ttl)
    assert store.idle_ttl == store.absolute_ttl == 2.0
