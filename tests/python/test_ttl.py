"""TTLs: expiry, default_ttl, ttl=0, touch, ttl(), expiration counts.

The engine's clock is CLOCK_MONOTONIC_COARSE (1-4 ms steps), so TTLs here are
tens of milliseconds and every sleep leaves a wide margin on the side that
must hold: "still alive" checks happen well before the deadline, "expired"
checks well after it.
"""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from libcache import Cache

SHORT = 0.05  # seconds an entry lives in the expiry tests
PAST = 0.15  # a sleep that is surely past SHORT
LONG = 30.0  # a TTL no test outlives


@pytest.fixture
def cache() -> Iterator[Cache]:
    c = Cache(max_bytes=1 << 20)
    yield c
    c.close()


def test_entry_expires_for_get_in_and_getitem(cache: Cache) -> None:
    cache.set("k", b"v", ttl=SHORT)
    cache.set("keep", b"v", ttl=LONG)
    assert cache.get("k") == b"v"
    time.sleep(PAST)
    assert cache.get("k") is None
    assert cache.get("k", "dflt") == "dflt"
    assert "k" not in cache
    with pytest.raises(KeyError):
        cache["k"]
    assert cache.pop("k", "gone") == "gone"
    assert cache["keep"] == b"v"


@pytest.mark.parametrize("probe", ["get", "in", "getitem"])
def test_each_read_sees_the_expiry_on_its_own(cache: Cache, probe: str) -> None:
    cache.set("k", 1, ttl=SHORT)
    time.sleep(PAST)
    if probe == "get":
        assert cache.get("k") is None
    elif probe == "in":
        assert "k" not in cache
    else:
        with pytest.raises(KeyError):
            cache["k"]


def test_expired_entry_counts_as_absent_for_writes(cache: Cache) -> None:
    cache.set("a", "old", ttl=SHORT)
    cache.set("r", "old", ttl=SHORT)
    time.sleep(PAST)
    assert cache.add("a", "new") is True  # absent again
    assert cache["a"] == "new"
    assert cache.replace("r", "new") is False  # not present any more
    assert "r" not in cache
    assert cache.delete("r") is False


def test_default_ttl_applies_when_ttl_is_none() -> None:
    with Cache(max_bytes=1 << 20, default_ttl=SHORT) as c:
        c.set("set", 1)
        c.set("set_none", 1, ttl=None)
        c["item"] = 1
        assert c.add("add", 1) is True
        c.set("replaced", 0, ttl=LONG)
        assert c.replace("replaced", 1) is True  # ttl=None: the default again
        c.set("explicit", 1, ttl=LONG)
        assert all(k in c for k in ("set", "set_none", "item", "add", "replaced", "explicit"))
        time.sleep(PAST)
        for k in ("set", "set_none", "item", "add", "replaced"):
            assert k not in c, k
        assert c["explicit"] == 1


def test_ttl_zero_never_expires_even_with_a_default() -> None:
    with Cache(max_bytes=1 << 20, default_ttl=SHORT) as c:
        c.set("forever", 1, ttl=0)
        c.set("forever_float", 1, ttl=0.0)
        assert c.add("forever_add", 1, ttl=0) is True
        time.sleep(PAST)
        assert c["forever"] == 1
        assert c["forever_float"] == 1
        assert c["forever_add"] == 1
        assert c.ttl("forever") is None


def test_no_default_means_never() -> None:
    for default in (None, 0, 0.0):
        with Cache(max_bytes=1 << 20, default_ttl=default) as c:
            c.set("k", 1)
            c["i"] = 2
            time.sleep(0.02)
            assert c["k"] == 1 and c["i"] == 2
            assert c.ttl("k") is None and c.ttl("i") is None


def test_overwrite_resets_the_ttl(cache: Cache) -> None:
    cache.set("k", 1, ttl=SHORT)
    cache.set("k", 2, ttl=0)
    time.sleep(PAST)
    assert cache["k"] == 2
    cache.set("j", 1, ttl=0)
    cache.set("j", 2, ttl=SHORT)
    time.sleep(PAST)
    assert "j" not in cache


def test_touch_extends_a_ttl(cache: Cache) -> None:
    cache.set("k", b"v", ttl=0.2)
    time.sleep(0.1)
    assert cache.touch("k", 1.0) is True
    time.sleep(0.2)  # 0.3 s since the set: past the first deadline, well before the new one
    assert cache["k"] == b"v"


def test_touch_can_shorten_a_ttl(cache: Cache) -> None:
    cache.set("k", b"v", ttl=LONG)
    assert cache.touch("k", SHORT) is True
    time.sleep(PAST)
    assert "k" not in cache


def test_touch_zero_makes_an_entry_permanent(cache: Cache) -> None:
    cache.set("k", b"v", ttl=SHORT)
    assert cache.touch("k", 0) is True
    time.sleep(PAST)
    assert cache["k"] == b"v"
    assert cache.ttl("k") is None


def test_touch_none_uses_the_default_ttl() -> None:
    with Cache(max_bytes=1 << 20, default_ttl=SHORT) as c:
        c.set("k", 1, ttl=0)
        assert c.touch("k", None) is True
        time.sleep(PAST)
        assert "k" not in c


def test_touch_missing_or_expired_key_returns_false(cache: Cache) -> None:
    assert cache.touch("absent", 10) is False
    assert "absent" not in cache  # touch does not create
    cache.set("k", 1, ttl=SHORT)
    time.sleep(PAST)
    assert cache.touch("k", 10) is False
    assert "k" not in cache  # an expired entry is not revived


def test_touch_does_not_change_the_value(cache: Cache) -> None:
    cache.set("k", 2**70)
    cache.touch("k", LONG)
    assert cache["k"] == 2**70


def test_ttl_reports_seconds_left(cache: Cache) -> None:
    cache.set("k", 1, ttl=10)
    left = cache.ttl("k")
    assert left is not None and 9.0 < left <= 10.0
    assert isinstance(left, float)
    cache.set("f", 1, ttl=2.5)
    left = cache.ttl("f")
    assert left is not None and 2.0 < left <= 2.5
    time.sleep(0.1)
    later = cache.ttl("f")
    assert later is not None and later < 2.5 and later <= left


def test_ttl_never_reports_more_than_was_set(cache: Cache) -> None:
    # The engine counts whole milliseconds; a TTL with a fraction of one must
    # not come back larger than asked (the entry would outlive its TTL).
    for ttl in (1.0001, 2.5004, 10.0009):
        cache.set("k", 1, ttl=ttl)
        left = cache.ttl("k")
        assert left is not None and 0 < left <= ttl, (ttl, left)


def test_ttl_after_touch(cache: Cache) -> None:
    cache.set("k", 1, ttl=10)
    cache.touch("k", 100)
    left = cache.ttl("k")
    assert left is not None and 99.0 < left <= 100.0


def test_ttl_is_none_for_an_entry_that_never_expires(cache: Cache) -> None:
    cache.set("k", 1)
    cache.set("z", 1, ttl=0)
    assert cache.ttl("k") is None
    assert cache.ttl(b"z") is None


def test_ttl_of_a_default_ttl_entry() -> None:
    with Cache(max_bytes=1 << 20, default_ttl=60) as c:
        c["k"] = 1
        left = c.ttl("k")
        assert left is not None and 59.0 < left <= 60.0


def test_ttl_raises_key_error_when_absent_or_expired(cache: Cache) -> None:
    with pytest.raises(KeyError):
        cache.ttl("absent")
    cache.set("k", 1, ttl=SHORT)
    time.sleep(PAST)
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


def test_expirations_are_counted(cache: Cache) -> None:
    for i in range(5):
        cache.set(f"k{i}", i, ttl=SHORT)
    cache.set("keep", 1, ttl=LONG)
    time.sleep(PAST)
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


def test_purge_expired_frees_memory(cache: Cache) -> None:
    base = cache.stats().bytes
    for i in range(20):
        cache.set(f"k{i}", b"x" * 1000, ttl=SHORT)
    assert cache.stats().bytes > base + 20_000
    time.sleep(PAST)
    assert cache.purge_expired() == 20
    assert cache.stats().bytes == base
    assert cache.purge_expired() == 0


def test_tiny_ttl_still_expires() -> None:
    # 0.0001 s rounds up to the engine's 1 ms, never down to 0 ("never").
    with Cache(max_bytes=1 << 20) as c:
        c.set("k", 1, ttl=0.0001)
        c.set("d", 1, ttl=1e-300)
        assert c.add("a", 1, ttl=0.0001) is True
        time.sleep(0.05)
        assert "k" not in c
        assert "d" not in c
        assert "a" not in c


def test_tiny_ttl_is_not_reported_as_never(cache: Cache) -> None:
    cache.set("k", 1, ttl=0.0001)
    try:
        left = cache.ttl("k")
    except KeyError:
        return  # already expired: fine
    assert left is not None and 0 <= left <= 0.001


def test_tiny_touch_still_expires(cache: Cache) -> None:
    cache.set("k", 1)
    assert cache.touch("k", 0.0001) is True
    time.sleep(0.05)
    assert "k" not in cache


def test_tiny_default_ttl_still_expires() -> None:
    with Cache(max_bytes=1 << 20, default_ttl=0.0001) as c:
        c.set("k", 1)
        c["i"] = 1
        time.sleep(0.05)
        assert "k" not in c and "i" not in c


def test_integer_and_float_ttls_agree(cache: Cache) -> None:
    cache.set("i", 1, ttl=5)
    cache.set("f", 1, ttl=5.0)
    li, lf = cache.ttl("i"), cache.ttl("f")
    assert li is not None and lf is not None and abs(li - lf) < 0.5
