"""libcache.Cache: the mapping API, native value types, stats, lifetime.

Errors and bad input are in test_errors.py, TTLs in test_ttl.py, bounds in
test_bounds.py, codecs in test_codecs.py.
"""

from __future__ import annotations

import dataclasses
import pickle
import struct
import threading
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import libcache
from helpers import WAIT
from libcache import Cache, CacheStats


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type; floats compared bit for bit (nan, -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return bool(a == b)


@pytest.fixture
def cache() -> Iterator[Cache]:
    c = Cache(max_bytes=16 << 20)
    yield c
    c.close()


# ---- Native values come back with their type ---------------------------------

NATIVE_VALUES = [
    b"",
    b"bytes",
    b"\x00\xff\x00 embedded NULs and high bytes",
    bytes(range(256)) * 64,
    "",
    "ascii",
    "non-ASCII: é ß ☃ 日本語 𝄞 (4-byte UTF-8)",
    "\x00 NUL in a str",
    0,
    1,
    -1,
    2**63 - 1,
    -(2**63),
    2**63,  # just beyond int64
    -(2**63) - 1,
    2**64,
    -(2**64) - 5,
    10**100,
    -(10**100),
    1.5,
    -2.25,
    0.0,
    -0.0,
    float("inf"),
    float("-inf"),
    float("nan"),
    5e-324,
    1.7976931348623157e308,
    True,
    False,
    None,
]


@pytest.mark.parametrize("value", NATIVE_VALUES, ids=lambda v: f"{type(v).__name__}:{v!r:.40}")
def test_native_value_round_trips_with_its_type(cache: Cache, value: Any) -> None:
    cache.set("k", value)
    got = cache.get("k", "<missing>")
    assert same(got, value), (got, value)
    assert same(cache["k"], value)


def test_int_beyond_the_str_digit_limit_round_trips(cache: Cache) -> None:
    # Python refuses int <-> decimal str conversions past
    # sys.get_int_max_str_digits() (4300 by default); a big int is still an int.
    big = 7**20000  # about 16900 decimal digits
    cache.set("pos", big)
    cache.set("neg", -big)
    assert same(cache["pos"], big)
    assert same(cache["neg"], -big)


def test_bool_int_and_float_stay_distinct(cache: Cache) -> None:
    cache.set("int", 1)
    cache.set("true", True)
    cache.set("float", 1.0)
    cache.set("zero", 0)
    cache.set("false", False)
    assert type(cache["int"]) is int
    assert cache["true"] is True
    assert type(cache["float"]) is float
    assert type(cache["zero"]) is int
    assert cache["false"] is False


def test_none_value_is_distinguishable_from_a_miss(cache: Cache) -> None:
    cache.set("k", None)
    sentinel = object()
    assert cache.get("k", sentinel) is None
    assert "k" in cache
    assert cache["k"] is None
    assert cache.get("absent", sentinel) is sentinel


def test_large_value_round_trips() -> None:
    with Cache(max_bytes=16 << 20, shards=4) as cache:  # 4 MiB per shard
        value = bytes(range(256)) * 4096  # 1 MiB
        cache.set("big", value)
        assert cache.get("big") == value
        text = "é" * 300_000
        cache.set("text", text)
        assert cache.get("text") == text


def test_overwrite_changes_value_and_type(cache: Cache) -> None:
    cache.set("k", b"one")
    cache.set("k", 2)
    assert same(cache["k"], 2)
    cache.set("k", "three")
    assert same(cache["k"], "three")
    assert len(cache) == 1


# ---- Keys --------------------------------------------------------------------


def test_str_key_and_its_utf8_bytes_are_the_same_key(cache: Cache) -> None:
    cache.set("a", 1)
    assert cache.get(b"a") == 1
    cache.set(b"a", 2)
    assert cache["a"] == 2
    assert len(cache) == 1
    cache.set("ключ ☃", "v")
    assert cache.get("ключ ☃".encode()) == "v"
    assert "ключ ☃".encode() in cache
    assert cache.delete("ключ ☃".encode()) is True
    assert "ключ ☃" not in cache


def test_empty_key_is_a_key(cache: Cache) -> None:
    cache.set("", b"empty")
    assert cache.get("") == b"empty"
    assert cache.get(b"") == b"empty"
    assert "" in cache
    assert cache.delete(b"") is True
    assert "" not in cache


def test_str_and_bytes_subclass_keys_are_their_text_or_bytes(cache: Cache) -> None:
    class S(str):
        pass

    class B(bytes):
        pass

    cache.set(S("k1"), 1)
    cache.set(B(b"k2"), 2)
    assert cache.get("k1") == 1
    assert cache.get(b"k2") == 2


def test_keys_differing_only_in_a_byte_are_distinct(cache: Cache) -> None:
    cache.set(b"k\x00", 1)
    cache.set(b"k", 2)
    cache.set("K", 3)
    assert cache[b"k\x00"] == 1
    assert cache["k"] == 2
    assert cache["K"] == 3
    assert len(cache) == 3


# ---- The mapping protocol and the write variants ------------------------------


def test_mapping_protocol(cache: Cache) -> None:
    assert len(cache) == 0
    cache["a"] = b"1"
    cache[b"b"] = "2"
    assert len(cache) == 2
    assert cache["a"] == b"1"
    assert "a" in cache and b"b" in cache and "c" not in cache
    del cache["a"]
    assert "a" not in cache
    assert len(cache) == 1


def test_getitem_and_delitem_of_a_missing_key_raise_keyerror_with_the_key(cache: Cache) -> None:
    with pytest.raises(KeyError) as e:
        cache["missing"]
    assert e.value.args == ("missing",)
    with pytest.raises(KeyError) as e:
        del cache[b"missing"]
    assert e.value.args == (b"missing",)


def test_get_default(cache: Cache) -> None:
    assert cache.get("x") is None
    assert cache.get("x", 5) == 5
    assert cache.get("x", default=6) == 6
    assert cache.get(key="x", default=7) == 7
    assert "x" not in cache  # a default is not stored
    cache.set("x", 0)
    assert cache.get("x", 5) == 0


def test_set_accepts_keywords(cache: Cache) -> None:
    cache.set(key="k", value="v", ttl=None)
    cache.set("k2", value=2)
    cache.set("k3", 3, ttl=0)
    assert cache["k"] == "v" and cache["k2"] == 2 and cache["k3"] == 3
    assert cache.add(key="k4", value=4) is True
    assert cache.replace("k4", value=5, ttl=0) is True
    assert cache["k4"] == 5


def test_set_returns_none(cache: Cache) -> None:
    assert cache.set("k", 1) is None


def test_add_only_if_absent(cache: Cache) -> None:
    assert cache.add("k", "first") is True
    assert cache.add("k", "second") is False
    assert cache["k"] == "first"
    assert cache.add(b"k", "third") is False  # same key as bytes
    assert cache["k"] == "first"


def test_replace_only_if_present(cache: Cache) -> None:
    assert cache.replace("k", "v") is False
    assert "k" not in cache
    cache.set("k", "old")
    assert cache.replace("k", "new") is True
    assert cache["k"] == "new"
    assert len(cache) == 1


def test_delete(cache: Cache) -> None:
    assert cache.delete("k") is False
    cache.set("k", 1)
    assert cache.delete("k") is True
    assert cache.delete("k") is False
    assert "k" not in cache


def test_pop(cache: Cache) -> None:
    cache.set("k", True)
    assert cache.pop("k") is True
    assert "k" not in cache
    assert cache.pop("k", "dflt") == "dflt"
    assert cache.pop("k", None) is None
    with pytest.raises(KeyError):
        cache.pop("k")
    cache.set("n", None)
    assert cache.pop("n", "dflt") is None  # a stored None is a value, not a miss
    assert "n" not in cache

class _HookCodec:
    """pickle, with a hook run once by the next loads(): code that runs while a
    read is turning the stored bytes into the value."""

    def __init__(self) -> None:
        self.hook: Any = None

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value)

    def loads(self, data: bytes) -> Any:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return pickle.loads(data)


def test_pop_never_loses_a_write_that_lands_while_it_runs() -> None:
    # pop must read and remove as one engine operation. Another thread's set
    # of the key is made to land at the worst moment: while pop is decoding
    # the value it read (a get then a delete deleted that new value and
    # returned the old one: the write was lost). The write must then be either
    # what pop returns (it landed before the pop) or still there (after it).
    codec = _HookCodec()
    c = Cache(max_entries=100, codec=codec)
    c.set("k", ["old"])

    def another_thread_writes() -> None:
        t = threading.Thread(target=c.set, args=("k", ["new"]))
        t.start()
        t.join(WAIT)
        assert not t.is_alive()

    codec.hook = another_thread_writes
    got = c.pop("k")
    assert codec.hook is None  # the write did land during the pop
    left = c.get("k")
    assert (got, left) in ((["new"], None), (["old"], ["new"])), f"pop returned {got!r} and left {left!r}"


def test_pop_of_a_value_that_cannot_be_decoded_raises_and_leaves_it() -> None:
    codec = _HookCodec()
    c = Cache(max_entries=10, codec=codec)
    c.set("k", ["x"])

    def fail() -> None:
        raise libcache.CodecError("cannot decode")

    codec.hook = fail
    with pytest.raises(libcache.CodecError):
        c.pop("k")
    assert c.pop("k") == ["x"]  # still there, and pop works once it decodes
    assert "k" not in c


def test_clear(cache: Cache) -> None:
    for i in range(100):
        cache.set(f"k{i}", i)
    assert len(cache) == 100
    assert cache.clear() is None
    assert len(cache) == 0
    assert cache.stats().entries == 0
    assert all(f"k{i}" not in cache for i in range(100))
    cache.set("after", 1)  # still usable
    assert cache["after"] == 1


def test_values_are_copies(cache: Cache) -> None:
    buf = bytearray(b"abc")
    cache.set("k", bytes(buf))
    buf[0] = ord("z")
    assert cache["k"] == b"abc"


# ---- Stats ---------------------------------------------------------------------


def test_stats_counts_hits_misses_sets_deletes(cache: Cache) -> None:
    s = cache.stats()
    assert isinstance(s, CacheStats)
    assert (s.hits, s.misses, s.sets, s.deletes, s.evictions, s.expirations, s.entries) == (0, 0, 0, 0, 0, 0, 0)
    assert s.hit_ratio == 0.0

    cache.set("a", 1)
    cache["b"] = 2
    assert cache.add("c", 3) is True
    assert cache.add("c", 3) is False  # not a successful write
    assert cache.replace("a", 10) is True
    assert cache.replace("zz", 1) is False
    s = cache.stats()
    assert s.sets == 4
    assert s.entries == 3
    assert s.bytes > 0

    cache.get("a")  # hit
    cache["b"]  # hit
    assert "c" in cache  # hit
    cache.get("x")  # miss
    assert "y" not in cache  # miss
    s = cache.stats()
    assert (s.hits, s.misses) == (3, 2)
    assert s.hit_ratio == pytest.approx(3 / 5)

    assert cache.delete("a") is True
    assert cache.delete("a") is False
    del cache["b"]
    s = cache.stats()
    assert s.deletes == 2  # the failed delete does not count
    assert s.entries == 1
    assert s.evictions == 0 and s.expirations == 0


def test_stats_is_an_immutable_snapshot(cache: Cache) -> None:
    s = cache.stats()
    cache.set("k", 1)
    assert s.entries == 0 and cache.stats().entries == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.hits = 5  # type: ignore[misc]


def test_stats_bytes_grow_with_values_and_shrink_on_delete(cache: Cache) -> None:
    empty = cache.stats().bytes
    cache.set("k", b"x" * 10_000)
    full = cache.stats().bytes
    assert full >= empty + 10_000
    cache.delete("k")
    assert cache.stats().bytes == empty


def test_len_matches_stats_entries(cache: Cache) -> None:
    for i in range(50):
        cache.set(f"k{i}", i)
        assert len(cache) == cache.stats().entries == i + 1


# ---- Construction, properties, lifetime -----------------------------------------


def test_defaults_and_properties() -> None:
    with Cache() as c:
        assert c.max_bytes == 64 << 20
        assert c.max_entries is None
        assert c.default_ttl is None
        assert c.codec is None
        n = c.shard_count
        assert n >= 1 and n & (n - 1) == 0
    with Cache(max_bytes=None, max_entries=1000, default_ttl=2.5, shards=2, codec="json") as c:
        assert c.max_bytes is None
        assert c.max_entries == 1000
        assert c.default_ttl == 2.5
        assert c.shard_count == 2
        assert isinstance(c.codec, libcache.JsonCodec)


@pytest.mark.parametrize("shards", [1, 2, 4, 8, 1024])
def test_explicit_shard_count_is_honoured(shards: int) -> None:
    with Cache(max_bytes=64 << 20, shards=shards) as c:
        assert c.shard_count == shards
        for i in range(200):
            c.set(f"k{i}", i)
        assert all(c[f"k{i}"] == i for i in range(200))


def test_context_manager_closes() -> None:
    with Cache(max_bytes=1 << 20) as c:
        assert c.closed is False
        c.set("k", 1)
    assert c.closed is True
    with pytest.raises(libcache.CacheClosed):
        c.get("k")


def test_context_manager_closes_on_exception() -> None:
    with pytest.raises(RuntimeError):
        with Cache(max_bytes=1 << 20) as c:
            raise RuntimeError("boom")
    assert c.closed is True


def test_close_is_idempotent() -> None:
    c = Cache(max_bytes=1 << 20)
    c.close()
    c.close()
    assert c.closed is True


def test_repr() -> None:
    c = Cache(max_bytes=1 << 20, max_entries=10)
    c.set("k", 1)
    r = repr(c)
    assert r.startswith("<libcache.Cache") and "entries=1" in r and "max_entries=10" in r
    c.close()
    assert repr(c) == "<libcache.Cache closed>"


def test_two_caches_are_independent() -> None:
    with Cache(max_bytes=1 << 20) as a, Cache(max_bytes=1 << 20) as b:
        a.set("k", 1)
        assert "k" not in b
        b.set("k", 2)
        assert a["k"] == 1 and b["k"] == 2
        a.close()
        assert b["k"] == 2


def test_subclass_can_extend() -> None:
    class MyCache(Cache):
        def get_int(self, key: str) -> int:
            return int(self.get(key, 0))

    with MyCache(max_bytes=1 << 20) as c:
        c["n"] = 41
        assert c.get_int("n") == 41
        assert c["n"] == 41 and len(c) == 1 and "n" in c


def test_public_names() -> None:
    for name in libcache.__all__:
        assert hasattr(libcache, name), name
    assert libcache.MAX_KEY_SIZE == 65535
    assert isinstance(libcache.ENGINE_VERSION, str) and libcache.ENGINE_VERSION
    assert isinstance(libcache.__version__, str)


# ---- Property test: the cache agrees with a dict ----------------------------------

_KEY_TEXTS = ["a", "b", "ab", "é", "", "k\x00"]
keys = st.sampled_from(_KEY_TEXTS).flatmap(lambda t: st.sampled_from([t, t.encode()]))
values = st.one_of(
    st.binary(max_size=24),
    st.text(max_size=24),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
ttls = st.sampled_from([None, 0, 3600.0])
ops = st.one_of(
    st.tuples(st.just("set"), keys, values, ttls),
    st.tuples(st.just("setitem"), keys, values),
    st.tuples(st.just("add"), keys, values, ttls),
    st.tuples(st.just("replace"), keys, values, ttls),
    st.tuples(st.just("get"), keys),
    st.tuples(st.just("getitem"), keys),
    st.tuples(st.just("contains"), keys),
    st.tuples(st.just("delete"), keys),
    st.tuples(st.just("delitem"), keys),
    st.tuples(st.just("pop"), keys),
    st.tuples(st.just("len")),
)

_MISS = object()


def _norm(k: Any) -> bytes:
    return k.encode() if isinstance(k, str) else bytes(k)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(ops, max_size=60))
def test_agrees_with_a_dict(program: List[Tuple[Any, ...]]) -> None:
    model: Dict[bytes, Any] = {}
    with Cache(max_bytes=32 << 20, shards=4) as c:  # never evicts these few entries
        for op in program:
            name = op[0]
            if name == "set":
                _, k, v, ttl = op
                assert c.set(k, v, ttl=ttl) is None
                model[_norm(k)] = v
            elif name == "setitem":
                _, k, v = op
                c[k] = v
                model[_norm(k)] = v
            elif name == "add":
                _, k, v, ttl = op
                expected = _norm(k) not in model
                assert c.add(k, v, ttl) is expected
                if expected:
                    model[_norm(k)] = v
            elif name == "replace":
                _, k, v, ttl = op
                expected = _norm(k) in model
                assert c.replace(k, v, ttl=ttl) is expected
                if expected:
                    model[_norm(k)] = v
            elif name == "get":
                got = c.get(op[1], _MISS)
                want = model.get(_norm(op[1]), _MISS)
                assert got is want if want is _MISS else same(got, want)
            elif name == "getitem":
                if _norm(op[1]) in model:
                    assert same(c[op[1]], model[_norm(op[1])])
                else:
                    with pytest.raises(KeyError):
                        c[op[1]]
            elif name == "contains":
                assert (op[1] in c) is (_norm(op[1]) in model)
            elif name == "delete":
                assert c.delete(op[1]) is (model.pop(_norm(op[1]), _MISS) is not _MISS)
            elif name == "delitem":
                if _norm(op[1]) in model:
                    del c[op[1]]
                    del model[_norm(op[1])]
                else:
                    with pytest.raises(KeyError):
                        del c[op[1]]
            elif name == "pop":
                want = model.pop(_norm(op[1]), _MISS)
                got = c.pop(op[1], _MISS)
                assert got is want if want is _MISS else same(got, want)
            elif name == "len":
                assert len(c) == len(model)
        assert len(c) == len(model) == c.stats().entries
        for t in _KEY_TEXTS:
            got = c.get(t, _MISS)
            want = model.get(t.encode(), _MISS)
            assert got is want if want is _MISS else same(got, want)
        assert c.stats().evictions == 0


def test_same_helper_is_strict() -> None:
    # The comparison the tests rely on must itself tell these apart.
    assert not same(1, True)
    assert not same(1, 1.0)
    assert not same(0.0, -0.0)
    assert same(float("nan"), float("nan"))
    assert not same(b"a", "a")
