"""Cache(policy=...): both eviction policies keep the same contract.

A policy changes which entries are evicted, nothing else: reads and writes,
the bounds, TTLs, deletes and the counters behave alike under "clock" and
"adaptive". Nothing here asserts a victim or a hit ratio (those differ by
design, and are measured by bench/, not tested here).
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from libcache import Cache
from libcache._core import FakeClock

POLICIES = ["clock", "adaptive"]


@pytest.fixture(params=POLICIES)
def policy(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(policy: str, clock: FakeClock) -> Iterator[Cache]:
    c = Cache(max_bytes=1 << 20, shards=1, policy=policy, _clock=clock)
    yield c
    c.close()


# ---- The option -----------------------------------------------------------------


def test_default_is_clock() -> None:
    with Cache(max_entries=10) as c:
        assert c.policy == "clock"


def test_policy_is_read_back(policy: str) -> None:
    with Cache(max_entries=10, policy=policy) as c:
        assert c.policy == policy
        assert f"policy={policy}" in repr(c)


def test_policy_is_read_only(cache: Cache) -> None:
    with pytest.raises(AttributeError):
        cache.policy = "clock"  # type: ignore[misc]


def test_policy_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        Cache(1 << 20, None, None, None, None, "clock")  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["", "CLOCK", "Adaptive", "lru", "tinylfu", " clock", "clock\0"])
def test_unknown_policy_raises_valueerror_naming_the_choices(bad: str) -> None:
    with pytest.raises(ValueError) as e:
        Cache(max_entries=10, policy=bad)
    assert '"clock"' in str(e.value) and '"adaptive"' in str(e.value)
    assert repr(bad) in str(e.value)


@pytest.mark.parametrize("bad", [None, 0, 1, True, b"clock", ["clock"], object()])
def test_non_str_policy_raises_typeerror(bad: Any) -> None:
    with pytest.raises(TypeError) as e:
        Cache(max_entries=10, policy=bad)
    assert "policy" in str(e.value) and type(bad).__name__ in str(e.value)


def test_a_refused_policy_creates_no_cache() -> None:
    # The check comes before the engine is opened: nothing half-built is left.
    c = Cache.__new__(Cache)
    with pytest.raises(ValueError):
        c.__init__(max_entries=10, policy="lru")  # type: ignore[misc]
    assert c.closed
    c.__init__(max_entries=10, policy="adaptive")  # type: ignore[misc]
    assert c.policy == "adaptive" and not c.closed
    c.close()


# ---- The contract under each policy ------------------------------------------------


def test_set_get_and_overwrite(cache: Cache) -> None:
    assert cache.get("k") is None
    cache.set("k", b"v1")
    assert cache.get("k") == b"v1"
    cache["k"] = "v2"
    assert cache["k"] == "v2" and "k" in cache and len(cache) == 1
    assert cache.add("k", 3) is False
    assert cache.add("n", 3) is True and cache["n"] == 3
    assert cache.replace("absent", 1) is False
    assert cache.replace("n", 4.5) is True and cache["n"] == 4.5


def test_delete_and_pop(cache: Cache) -> None:
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    assert "a" not in cache
    assert cache.pop("b") == 2
    assert cache.pop("b", "gone") == "gone"
    with pytest.raises(KeyError):
        del cache["c"]
    assert len(cache) == 0


@pytest.mark.parametrize("shards", [1, 4])
def test_max_entries_holds_and_the_newest_write_is_readable(policy: str, shards: int) -> None:
    bound, writes = 100, 1000
    with Cache(max_bytes=None, max_entries=bound, shards=shards, policy=policy) as c:
        for i in range(writes):
            c.set(f"key:{i}", i)
            assert c.get(f"key:{i}") == i, f"just written: {i}"
            assert len(c) <= bound, f"after write {i}"
        s = c.stats()
        assert s.entries <= bound
        assert s.sets == writes
        assert s.evictions == writes - s.entries  # unique keys, no deletes, no expiry
        assert s.evictions >= writes - bound
        for i in range(writes):  # whatever survived is intact
            v = c.get(f"key:{i}")
            assert v is None or v == i


def test_max_bytes_holds(policy: str) -> None:
    bound = 256 << 10
    with Cache(max_bytes=bound, shards=1, policy=policy) as c:
        for i in range(3000):
            value = f"{i}:".encode() + b"x" * (i * 37 % 2000)
            c.set(f"key:{i}", value)
            assert c.get(f"key:{i}") == value, f"just written: {i}"
            assert c.stats().bytes <= bound, f"after write {i}"
        s = c.stats()
        assert s.evictions > 0
        assert s.evictions == 3000 - s.entries


def test_ttl_expires_on_the_fake_clock(cache: Cache, clock: FakeClock) -> None:
    cache.set("short", b"v", ttl=1)
    cache.set("never", b"v", ttl=0)
    cache.set("slid", b"v", ttl=1)
    clock.advance(0.999)
    assert cache.get("short") == b"v"
    assert cache.touch("slid", 10) is True
    clock.advance(0.001)
    assert cache.get("short") is None
    assert cache.ttl("slid") == pytest.approx(9.999)
    assert cache.ttl("never") is None
    clock.advance(10)
    assert cache.purge_expired() == 1  # slid
    assert cache.get("never") == b"v"
    s = cache.stats()
    assert s.expirations == 2
    assert s.entries == 1
    assert s.evictions == 0


def test_default_ttl(policy: str, clock: FakeClock) -> None:
    with Cache(max_entries=10, default_ttl=5, policy=policy, _clock=clock) as c:
        c.set("k", 1)
        assert c.ttl("k") == pytest.approx(5)
        clock.advance(5)
        assert "k" not in c


def test_stats_counters(policy: str, clock: FakeClock) -> None:
    # max_entries=4 in one shard: the counts do not depend on which entries leave.
    with Cache(max_bytes=None, max_entries=4, shards=1, policy=policy, _clock=clock) as c:
        for k in "abcd":
            c.set(k, k)
        assert c.get("a") == "a"  # hit
        assert c.get("x") is None  # miss
        assert c.delete("b")  # delete
        c.set("e", "e")  # fills the room the delete left
        c.set("f", "f")  # evicts one
        c.set("g", "g", ttl=0.01)  # evicts one
        clock.advance(0.01)
        assert c.get("g") is None  # a miss, and an expiration
        s = c.stats()
        assert (s.sets, s.hits, s.misses, s.deletes) == (7, 1, 2, 1)
        assert (s.evictions, s.expirations, s.entries) == (2, 1, 3)
        assert s.bytes > 0
        assert s.hit_ratio == pytest.approx(1 / 3)
        c.clear()
        assert len(c) == 0
        c.set("after", 1)
        assert c["after"] == 1


def test_object_values(policy: str) -> None:
    with Cache(max_entries=50, values="object", policy=policy) as c:
        things = [object() for _ in range(200)]
        for i, t in enumerate(things):
            c.set(f"o:{i}", t)
            assert c.get(f"o:{i}") is t
            assert len(c) <= 50


def test_get_or_set(cache: Cache) -> None:
    calls = []

    def load() -> str:
        calls.append(1)
        return "loaded"

    assert cache.get_or_set("k", load) == "loaded"
    assert cache.get_or_set("k", load) == "loaded"
    assert len(calls) == 1
