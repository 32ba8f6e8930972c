"""Bounds under churn: max_entries and max_bytes hold after every write,
evictions are counted, and CLOCK keeps a key that is read constantly."""

from __future__ import annotations

import random
from typing import Optional

import pytest

from libcache import Cache


def _check(c: Cache, max_entries: Optional[int], max_bytes: Optional[int]) -> None:
    s = c.stats()
    n = len(c)
    if max_entries is not None:
        assert n <= max_entries, f"len {n} > max_entries {max_entries}"
        assert s.entries <= max_entries, f"entries {s.entries} > max_entries {max_entries}"
    if max_bytes is not None:
        assert s.bytes <= max_bytes, f"bytes {s.bytes} > max_bytes {max_bytes}"


@pytest.mark.parametrize("shards", [1, 4])
def test_max_entries_holds_under_churn(shards: int) -> None:
    bound, writes = 200, 5000
    with Cache(max_bytes=None, max_entries=bound, shards=shards) as c:
        for i in range(writes):
            c.set(f"key:{i}", i)
            _check(c, bound, None)
        s = c.stats()
        assert s.sets == writes
        assert s.evictions > 0
        # Unique keys, no deletes, no expiry: every entry not held was evicted.
        assert s.evictions == writes - s.entries
        assert s.entries >= bound // 2  # eviction frees room, it does not empty the cache
        assert c[f"key:{writes - 1}"] == writes - 1  # the newest write is there
        for i in range(writes):  # whatever survived is intact
            v = c.get(f"key:{i}")
            assert v is None or v == i


@pytest.mark.parametrize("shards", [1, 4])
def test_max_bytes_holds_under_churn(shards: int) -> None:
    bound, writes = 256 << 10, 4000
    rng = random.Random(42)
    with Cache(max_bytes=bound, shards=shards) as c:
        for i in range(writes):
            c.set(f"key:{i}", f"{i}:".encode() + b"x" * rng.randrange(0, 3000))
            _check(c, None, bound)
        s = c.stats()
        assert s.evictions > 0
        assert s.evictions == writes - s.entries
        assert s.bytes >= bound // 4  # still holds a good share
        for i in range(writes):
            v = c.get(f"key:{i}")
            assert v is None or v.startswith(f"{i}:".encode())


def test_both_bounds_together() -> None:
    with Cache(max_bytes=64 << 10, max_entries=50, shards=1) as c:
        for i in range(2000):
            # small values hit the entry bound, large ones the byte bound
            c.set(i.to_bytes(4, "big"), b"v" * (10 if i % 2 else 4000))
            _check(c, 50, 64 << 10)


def test_overwrites_and_mixed_types_respect_the_bounds() -> None:
    rng = random.Random(7)
    with Cache(max_bytes=128 << 10, max_entries=300, shards=2) as c:
        for _ in range(6000):
            k = f"k{rng.randrange(1000)}"
            choice = rng.randrange(5)
            if choice == 0:
                c.set(k, "s" * rng.randrange(2000))
            elif choice == 1:
                c.set(k, rng.randrange(-(2**80), 2**80))
            elif choice == 2:
                c.add(k, b"a" * rng.randrange(2000))
            elif choice == 3:
                c.replace(k, rng.random())
            else:
                c.delete(k)
            _check(c, 300, 128 << 10)


def test_hot_key_survives_a_scan() -> None:
    # CLOCK gives a read entry a second chance: a key read between writes is
    # never the victim while a one-off scan of cold keys passes through.
    with Cache(max_bytes=None, max_entries=100, shards=1) as c:
        c.set("hot", b"keep me")
        c.set("cold", b"never read")
        for i in range(3000):
            c.set(f"scan:{i}", i)
            assert c.get("hot") == b"keep me", f"hot key evicted after {i} scan writes"
        assert "cold" not in c
        assert c.stats().evictions >= 2900


def test_hot_keys_survive_a_scan_with_byte_bound() -> None:
    with Cache(max_bytes=128 << 10, shards=1) as c:
        hot = [f"hot:{i}" for i in range(5)]
        for k in hot:
            c.set(k, k.encode() * 10)
        for i in range(3000):
            c.set(f"scan:{i}", b"s" * 500)
            for k in hot:
                assert c.get(k) == k.encode() * 10, f"{k} evicted after {i} scan writes"


def test_eviction_prefers_unread_entries() -> None:
    # Half the working set is read after each write, half never: the read half
    # must be retained far better.
    with Cache(max_bytes=None, max_entries=200, shards=1) as c:
        read = [f"r{i}" for i in range(50)]
        unread = [f"u{i}" for i in range(50)]
        for k in read + unread:
            c.set(k, k)
        for i in range(2000):
            c.set(f"scan{i}", i)
            c.get(read[i % len(read)])
        kept_read = sum(k in c for k in read)
        kept_unread = sum(k in c for k in unread)
        assert kept_read > kept_unread
        assert kept_unread == 0


def test_max_entries_one_per_shard() -> None:
    with Cache(max_bytes=None, max_entries=1, shards=1) as c:
        c.set("a", 1)
        c.set("b", 2)
        assert len(c) == 1
        assert c["b"] == 2 and "a" not in c
        assert c.stats().evictions == 1


def test_bounds_hold_after_clear_and_refill() -> None:
    with Cache(max_bytes=None, max_entries=64, shards=2) as c:
        for round_ in range(3):
            for i in range(500):
                c.set(f"{round_}:{i}", i)
                _check(c, 64, None)
            c.clear()
            assert len(c) == 0
