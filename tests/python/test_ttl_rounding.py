"""TTLs given in seconds keep the milliseconds written in decimal: 1.001 s is
1001 ms, though 1.001 as a double is just below it (floor(1.001 * 1000) is
1000); a positive TTL never rounds to 0 ("never expires")."""

from libcache import Cache
from libcache._core import FakeClock


def _remaining_ms_after_set(ttl: float) -> int:
    clock = FakeClock(1000.0)
    c = Cache(max_entries=10, _clock=clock)
    try:
        c.set("k", b"v", ttl=ttl)
        ms = 0  # the entry lives until exactly its deadline
        while c.get("k") is not None:
            clock.advance(0.001)
            ms += 1
        return ms
    finally:
        c.close()


def test_decimal_milliseconds_survive_binary_floats() -> None:
    for ms in (1, 7, 999, 1001, 1003, 4097, 123_457):
        assert _remaining_ms_after_set(ms / 1000) == ms, ms


def test_a_tiny_positive_ttl_is_one_millisecond_not_never() -> None:
    assert _remaining_ms_after_set(1e-9) == 1
    assert _remaining_ms_after_set(0.0004) == 1


def test_sub_millisecond_parts_round_down() -> None:
    assert _remaining_ms_after_set(0.0019) == 1
    assert _remaining_ms_after_set(1.0015) == 1001
