"""Errors: the status table, limits, bad arguments, use after close, and
objects whose __init__ never ran. Every bad call must raise a clear error,
never crash, and leave the cache as it was.

Calls that could crash the interpreter run in a forked child (the
run_in_child fixture), so that a crash fails one test, not the run.
"""

from __future__ import annotations

import asyncio
import decimal
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

import libcache
from libcache import (
    BackendError,
    Cache,
    CacheClosed,
    CodecError,
    Error,
    InternalError,
    InvalidArgument,
    KeyTooLarge,
    OutOfMemory,
    QueueFull,
    StoreError,
    StoreRejected,
    Timeout,
    UnsupportedValue,
    ValueTooLarge,
)
from libcache._errors import STATUS_ERRORS

RunInChild = Callable[..., Dict[str, Any]]


@pytest.fixture
def cache() -> Iterator[Cache]:
    c = Cache(max_bytes=1 << 20, shards=1)
    c.set("kept", b"value")
    c.set("other", 42, ttl=0)
    yield c
    c.close()


def contents(c: Cache) -> Dict[str, Any]:
    return {k: c.get(k, "<absent>") for k in ("kept", "other", "k", "new", "x")}


def assert_unchanged(
    c: Cache, call: Callable[[], Any], exc: Any, match: Optional[str] = None
) -> pytest.ExceptionInfo[Any]:
    """call() raises exc, and neither the counters nor the contents change."""
    before = contents(c)
    stats = c.stats()  # after the reads above, which count hits and misses
    with pytest.raises(exc, match=match) as e:
        call()
    assert c.stats() == stats, "a failed call changed the counters"
    assert contents(c) == before
    return e


# ---- The status table and the hierarchy ---------------------------------------------


def test_status_table() -> None:
    assert STATUS_ERRORS == {
        -1: InvalidArgument,
        -2: OutOfMemory,
        -3: ValueTooLarge,
        -5: BackendError,
        -6: QueueFull,
        -7: Timeout,
        -8: CacheClosed,
        -9: InternalError,
        100: StoreRejected,  # CACHE_STORE_REJECTED: a store's answer to one write
    }
    for cls in STATUS_ERRORS.values():
        assert issubclass(cls, Error)


@pytest.mark.parametrize(
    "cls, builtin",
    [
        (InvalidArgument, ValueError),
        (KeyTooLarge, ValueError),
        (ValueTooLarge, ValueError),
        (UnsupportedValue, TypeError),
        (CodecError, ValueError),
        (CodecError, TypeError),  # json and pickle raise either for data they cannot handle
        (OutOfMemory, MemoryError),
        (BackendError, OSError),
        (Timeout, TimeoutError),
    ],
)
def test_errors_are_also_the_builtin_a_caller_already_catches(cls: type, builtin: type) -> None:
    assert issubclass(cls, Error) and issubclass(cls, builtin)


def test_every_error_is_exported() -> None:
    for cls in (
        Error,
        InvalidArgument,
        KeyTooLarge,
        ValueTooLarge,
        UnsupportedValue,
        CodecError,
        CacheClosed,
        OutOfMemory,
        BackendError,
        QueueFull,
        Timeout,
        InternalError,
        StoreError,
        StoreRejected,
    ):
        assert getattr(libcache, cls.__name__) is cls
        assert cls.__name__ in libcache.__all__


# ---- Values too large for the bounds --------------------------------------------------


def test_value_too_large_raises_and_keeps_the_previous_value() -> None:
    with Cache(max_bytes=64 << 10, shards=1) as c:
        c.set("k", b"previous")
        c.set("x", "other")
        big = b"x" * (64 << 10)
        e = assert_unchanged(c, lambda: c.set("k", big), ValueTooLarge)
        msg = str(e.value)
        assert "max_bytes" in msg and "raise" in msg  # says what to change
        assert c["k"] == b"previous"
        assert_unchanged(c, lambda: c.replace("k", big), ValueTooLarge)
        assert_unchanged(c, lambda: c.add("new", big), ValueTooLarge)
        assert_unchanged(c, lambda: c.__setitem__("k", big), ValueTooLarge)
        assert c["k"] == b"previous" and c["x"] == "other"
        assert "new" not in c


@pytest.mark.parametrize("shards", [None, 1, 4, 64])
def test_an_eighth_of_max_bytes_always_fits(shards: Optional[int]) -> None:
    # A shard lends an entry the other shards' limits: 1/8 of max_bytes fits
    # whatever the shard count (and 300 KiB of 1 MiB over 4 shards, above one
    # shard's share, too).
    with Cache(max_bytes=16 << 20, shards=shards) as c:
        for i in range(2000):
            c.set(f"small{i}", b"s" * 1000)
        c.set("k", b"x" * (2 << 20))
        assert len(c["k"]) == 2 << 20
        assert c.stats().bytes <= 16 << 20
    with Cache(max_bytes=1 << 20, shards=4) as c:
        c.set("k", b"x" * (300 << 10))
        assert len(c["k"]) == 300 << 10


def test_large_str_value_is_too_large_as_well() -> None:
    with Cache(max_bytes=32 << 10, shards=1) as c:
        c.set("k", 1)
        with pytest.raises(ValueTooLarge):
            c.set("k", "é" * (32 << 10))
        assert c["k"] == 1


# ---- Keys over the limit --------------------------------------------------------------

LONG_KEYS = [
    pytest.param("a" * 65536, id="str-65536"),
    pytest.param(b"a" * 65536, id="bytes-65536"),
    pytest.param("é" * 32768, id="str-32768-chars-65536-utf8-bytes"),
    pytest.param("a" * 200_000, id="str-200000"),
]


def test_max_key_size() -> None:
    assert libcache.MAX_KEY_SIZE == 65535


@pytest.mark.parametrize("key", LONG_KEYS)
def test_key_too_large_raises_on_writes(cache: Cache, key: Any) -> None:
    for write in (
        lambda: cache.set(key, 1),
        lambda: cache.add(key, 1),
        lambda: cache.replace(key, 1),
        lambda: cache.__setitem__(key, 1),
    ):
        e = assert_unchanged(cache, write, KeyTooLarge)
        assert "65535" in str(e.value)
        assert isinstance(e.value, ValueError) and isinstance(e.value, Error)


@pytest.mark.parametrize("key", LONG_KEYS)
def test_key_too_large_simply_misses_on_reads(cache: Cache, key: Any) -> None:
    assert cache.get(key) is None
    assert cache.get(key, "dflt") == "dflt"
    assert (key in cache) is False
    with pytest.raises(KeyError):
        cache[key]
    assert cache.delete(key) is False
    with pytest.raises(KeyError):
        del cache[key]
    assert cache.touch(key, 10) is False
    with pytest.raises(KeyError):
        cache.ttl(key)
    assert cache.pop(key, "dflt") == "dflt"
    assert contents(cache)["kept"] == b"value"


def test_key_at_the_limit_is_accepted() -> None:
    with Cache(max_bytes=4 << 20, shards=1) as c:
        k = "a" * 65535
        c.set(k, 1)
        assert c[k] == 1
        k2 = "é" * 32767 + "a"  # 65535 UTF-8 bytes
        c.set(k2, 2)
        assert c[k2.encode()] == 2


# ---- Bad keys ---------------------------------------------------------------------------

BAD_KEYS = [1, 1.5, None, ("a",), ["a"], bytearray(b"a"), memoryview(b"a"), object(), True]


def _key_calls(c: Cache, key: Any) -> List[Tuple[str, Callable[[], Any]]]:
    return [
        ("get", lambda: c.get(key)),
        ("get_default", lambda: c.get(key, 1)),
        ("set", lambda: c.set(key, 1)),
        ("add", lambda: c.add(key, 1)),
        ("replace", lambda: c.replace(key, 1)),
        ("delete", lambda: c.delete(key)),
        ("pop", lambda: c.pop(key, None)),
        ("touch", lambda: c.touch(key, 1)),
        ("ttl", lambda: c.ttl(key)),
        ("getitem", lambda: c[key]),
        ("setitem", lambda: c.__setitem__(key, 1)),
        ("delitem", lambda: c.__delitem__(key)),
        ("contains", lambda: key in c),
    ]


@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: type(k).__name__)
def test_bad_key_type_raises_type_error_saying_what_to_do(cache: Cache, key: Any) -> None:
    for name, call in _key_calls(cache, key):
        e = assert_unchanged(cache, call, TypeError)
        msg = str(e.value)
        assert "str or bytes" in msg, (name, msg)
        assert type(key).__name__ in msg, (name, msg)


def test_key_with_a_lone_surrogate_raises_value_error(cache: Cache) -> None:
    key = "bad\ud800"
    for name, call in _key_calls(cache, key):
        assert_unchanged(cache, call, ValueError)  # UnicodeEncodeError


def test_str_value_with_a_lone_surrogate_raises_value_error(cache: Cache) -> None:
    assert_unchanged(cache, lambda: cache.set("kept", "\udc80"), ValueError)


# ---- Bad TTLs ---------------------------------------------------------------------------

# (ttl, the exception, whether its message must name "ttl")
BAD_TTLS = [
    pytest.param("1", TypeError, True, id="str"),
    pytest.param(b"1", TypeError, True, id="bytes"),
    pytest.param(True, TypeError, True, id="True"),
    pytest.param(False, TypeError, True, id="False"),
    pytest.param([1], TypeError, True, id="list"),
    pytest.param(object(), TypeError, True, id="object"),
    pytest.param(1j, TypeError, False, id="complex"),
    pytest.param(-1, ValueError, True, id="-1"),
    pytest.param(-0.001, ValueError, True, id="-0.001"),
    pytest.param(float("-inf"), ValueError, True, id="-inf"),
    pytest.param(float("nan"), ValueError, True, id="nan"),
    pytest.param(float("inf"), ValueError, True, id="inf"),
    pytest.param(1e300, ValueError, True, id="1e300"),
    pytest.param(10**400, ValueError, True, id="int-10**400"),
    pytest.param(decimal.Decimal("-1"), ValueError, True, id="Decimal-1"),
]


@pytest.mark.parametrize("ttl, exc, names_ttl", BAD_TTLS)
def test_bad_ttl_raises_and_leaves_the_cache_unchanged(cache: Cache, ttl: Any, exc: type, names_ttl: bool) -> None:
    calls = [
        lambda: cache.set("kept", b"new", ttl),
        lambda: cache.set("new", b"new", ttl=ttl),
        lambda: cache.add("new", 1, ttl),
        lambda: cache.replace("kept", 1, ttl=ttl),
        lambda: cache.touch("kept", ttl),
        lambda: cache.touch("x", ttl),
    ]
    for call in calls:
        e = assert_unchanged(cache, call, exc)
        if names_ttl:
            assert "ttl" in str(e.value), str(e.value)


def test_numeric_ttl_types_are_accepted(cache: Cache) -> None:
    cache.set("k", 1, ttl=60)
    cache.set("k", 1, ttl=60.5)
    cache.set("k", 1, ttl=decimal.Decimal("60"))
    assert cache.touch("k", 30) is True
    assert cache["k"] == 1
    # The same rule for default_ttl (tests/python/test_ttl.py checks every entry point).
    with Cache(max_bytes=1 << 20, default_ttl=decimal.Decimal(1)) as c:
        assert c.default_ttl == decimal.Decimal(1)


class _IntOnly:
    """A number with __int__ alone: float() refuses it."""

    def __int__(self) -> int:
        return 5


def test_ttl_that_float_refuses_is_a_type_error_naming_ttl(cache: Cache) -> None:
    for call in (lambda: cache.set("k", 1, ttl=_IntOnly()), lambda: Cache(default_ttl=_IntOnly())):  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="ttl must be a number of seconds"):
            call()


# ---- Bad constructor arguments ------------------------------------------------------------

BAD_OPTIONS: List[Tuple[Dict[str, Any], type, str]] = [
    ({"max_bytes": -1}, ValueError, "max_bytes"),
    ({"max_bytes": 0}, ValueError, "max_bytes"),
    ({"max_bytes": 1.5}, TypeError, "max_bytes"),
    ({"max_bytes": "1"}, TypeError, "max_bytes"),
    ({"max_bytes": True}, TypeError, "max_bytes"),
    ({"max_bytes": 2**64}, ValueError, "max_bytes"),
    ({"max_entries": -5}, ValueError, "max_entries"),
    ({"max_entries": 0}, ValueError, "max_entries"),
    ({"max_entries": 10.0}, TypeError, "max_entries"),
    ({"max_entries": False}, TypeError, "max_entries"),
    ({"max_bytes": None}, ValueError, "bound"),
    ({"max_bytes": None, "max_entries": None}, ValueError, "bound"),
    ({"shards": 3}, ValueError, "power of two"),
    ({"shards": 0}, ValueError, "shards"),
    ({"shards": -4}, ValueError, "shards"),
    ({"shards": 2048}, ValueError, "shards"),
    ({"shards": 4.0}, TypeError, "shards"),
    ({"shards": True}, TypeError, "shards"),
    ({"default_ttl": -1}, ValueError, "default_ttl"),
    ({"default_ttl": float("nan")}, ValueError, "default_ttl"),
    ({"default_ttl": float("-inf")}, ValueError, "default_ttl"),
    ({"default_ttl": float("inf")}, ValueError, "default_ttl"),
    ({"default_ttl": 1e308}, ValueError, "default_ttl"),
    ({"default_ttl": 10**30}, ValueError, "default_ttl"),
    ({"default_ttl": "60"}, TypeError, "default_ttl"),
    ({"default_ttl": True}, TypeError, "default_ttl"),
    ({"codec": "yaml"}, ValueError, "codec"),
    ({"codec": 3}, TypeError, "codec"),
    ({"max_bytes": 1}, ValueError, "max_bytes"),  # too small for one entry: the engine refuses
    ({"max_bytes": 1000, "shards": 1024}, ValueError, "shards"),
    ({"max_bytes": None, "max_entries": 2, "shards": 4}, ValueError, "max_entries"),
]


def _options_id(options: Dict[str, Any]) -> str:
    return ",".join(f"{k}={v!r:.20}" for k, v in options.items())


@pytest.mark.parametrize("kwargs, exc, word", BAD_OPTIONS, ids=[_options_id(o[0]) for o in BAD_OPTIONS])
def test_bad_constructor_arguments(kwargs: Dict[str, Any], exc: type, word: str) -> None:
    with pytest.raises(exc) as e:
        Cache(**kwargs)
    assert word in str(e.value), str(e.value)


def test_constructor_rejects_unknown_keywords_and_extra_positionals() -> None:
    with pytest.raises(TypeError):
        Cache(max_size=10)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Cache(1 << 20, None, None, None, None, "extra")  # type: ignore[call-arg]


def test_init_twice_raises_and_keeps_the_cache(cache: Cache) -> None:
    with pytest.raises(Error):
        cache.__init__(max_bytes=1 << 20)  # type: ignore[misc]
    assert cache["kept"] == b"value"
    assert cache.closed is False


# ---- Bad call shapes ----------------------------------------------------------------------


def test_wrong_argument_counts_and_keywords_raise_type_error(cache: Cache) -> None:
    calls: List[Callable[[], Any]] = [
        lambda: cache.get(),  # type: ignore[call-overload]
        lambda: cache.get("a", 1, 2),  # type: ignore[call-overload]
        lambda: cache.get("a", dflt=1),  # type: ignore[call-overload]
        lambda: cache.get("a", key="b"),  # type: ignore[call-overload]
        lambda: cache.set("a"),  # type: ignore[call-arg]
        lambda: cache.set("a", 1, 2, 3),  # type: ignore[call-arg]
        lambda: cache.set("a", 1, tll=3),  # type: ignore[call-arg]
        lambda: cache.set("a", 1, ttl=3, value=2),  # type: ignore[misc]
        lambda: cache.add(value=1),  # type: ignore[call-arg]
        lambda: cache.replace(),  # type: ignore[call-arg]
        lambda: cache.touch("a"),  # type: ignore[call-arg]
    ]
    for call in calls:
        assert_unchanged(cache, call, TypeError)


# ---- Use after close ------------------------------------------------------------------------


def _all_calls(c: Cache) -> List[Tuple[str, Callable[[], Any]]]:
    return [
        ("get", lambda: c.get("kept")),
        ("get_default", lambda: c.get("absent", 1)),
        ("set", lambda: c.set("k", 1)),
        ("set_ttl", lambda: c.set("k", 1, ttl=5)),
        ("add", lambda: c.add("k", 1)),
        ("replace", lambda: c.replace("kept", 1)),
        ("delete", lambda: c.delete("kept")),
        ("pop", lambda: c.pop("kept")),
        ("pop_default", lambda: c.pop("absent", None)),
        ("touch", lambda: c.touch("kept", 5)),
        ("ttl", lambda: c.ttl("kept")),
        ("clear", lambda: c.clear()),
        ("stats", lambda: c.stats()),
        ("purge_expired", lambda: c.purge_expired()),
        ("shard_count", lambda: c.shard_count),
        ("len", lambda: len(c)),
        ("contains", lambda: "kept" in c),
        ("getitem", lambda: c["kept"]),
        ("setitem", lambda: c.__setitem__("k", 1)),
        ("delitem", lambda: c.__delitem__("kept")),
        ("get_or_set", lambda: c.get_or_set("k", lambda: 1)),
        ("get_or_set_async", lambda: asyncio.run(c.get_or_set_async("k", _one))),
        ("codec", lambda: c.codec),
        ("bad_key", lambda: c.get(12345)),
        ("long_key_write", lambda: c.set("a" * 70000, 1)),
    ]


async def _one() -> int:
    return 1


CALL_NAMES = [name for name, _ in _all_calls(None)]  # type: ignore[arg-type]


@pytest.mark.parametrize("name", CALL_NAMES)
def test_every_call_after_close_raises_cache_closed(name: str) -> None:
    c = Cache(max_bytes=1 << 20)
    c.set("kept", b"value")
    c.close()
    call = dict(_all_calls(c))[name]
    with pytest.raises(CacheClosed) as e:
        call()
    assert isinstance(e.value, Error)
    assert "closed" in str(e.value)


def test_closed_cache_reports_closed_and_close_again_is_harmless() -> None:
    c = Cache(max_bytes=1 << 20)
    c.close()
    assert c.closed is True
    c.close()
    assert repr(c) == "<libcache.Cache closed>"
    with c:  # entering a closed cache is allowed; using it is not
        with pytest.raises(CacheClosed):
            c.get("k")


@pytest.mark.parametrize("name", CALL_NAMES)
def test_calls_before_init_raise_error_and_never_crash(name: str, run_in_child: RunInChild) -> None:
    def call() -> Any:
        c = Cache.__new__(Cache)
        return dict(_all_calls(c))[name]()

    out = run_in_child(call)
    assert "raised" in out, f"{name} on an uninitialised Cache returned {out.get('ok')} instead of raising"
    assert "Error" in out["raised"], out


@pytest.mark.parametrize(
    "name", ["closed", "close", "repr", "codec", "enter_exit", "del", "subclass_without_super_init"]
)
def test_uninitialised_cache_housekeeping_never_crashes(name: str, run_in_child: RunInChild) -> None:
    def call() -> Any:
        c = Cache.__new__(Cache)
        if name == "closed":
            assert c.closed is True  # not usable, so not open
        elif name == "close":
            c.close()
        elif name == "repr":
            return repr(c)
        elif name == "codec":
            try:
                return c.codec
            except Error:
                return "Error"
        elif name == "enter_exit":
            with c:
                pass
        elif name == "del":
            del c
        elif name == "subclass_without_super_init":

            class Lazy(Cache):
                def __init__(self) -> None:
                    pass

            try:
                lazy = Lazy()
            except TypeError:
                return "refused at construction"
            for _, fn in _all_calls(lazy):
                try:
                    fn()
                except Error:
                    continue
                raise AssertionError("a call on a Cache whose base __init__ never ran did not raise")
        return "fine"

    out = run_in_child(call)
    assert "ok" in out, out


# ---- Closing from inside a call (re-entrancy) ---------------------------------------------------
# A codec's dumps() or a ttl's __float__ runs Python code in the middle of a
# write; if that code closes the cache, the write must raise CacheClosed rather
# than use the freed engine.


class _Closer:
    def __init__(self) -> None:
        self.cache: Any = None


def test_codec_dumps_that_closes_the_cache_gives_cache_closed(run_in_child: RunInChild) -> None:
    def call() -> Any:
        holder = _Closer()

        class Closing:
            def dumps(self, value: Any) -> bytes:
                holder.cache.close()
                return b"x"

            def loads(self, data: bytes) -> Any:
                return data

        holder.cache = c = Cache(max_bytes=1 << 20, codec=Closing())
        for i in range(50):  # fill the engine so that a write into freed memory shows
            c.set(f"k{i}", b"v" * 100)
        c.set("k", [1])
        return "set returned normally"

    out = run_in_child(call)
    assert "CacheClosed" in out.get("raised", []), out


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda c, ttl: c.set("k", b"w", ttl=ttl), id="set"),
        pytest.param(lambda c, ttl: c.touch("k", ttl), id="touch"),
    ],
)
def test_ttl_float_that_closes_the_cache_gives_cache_closed(
    write: Callable[[Cache, Any], Any], run_in_child: RunInChild
) -> None:
    def call() -> Any:
        holder = _Closer()

        class ClosingTtl:
            def __float__(self) -> float:
                holder.cache.close()
                return 5.0

        holder.cache = c = Cache(max_bytes=1 << 20)
        c.set("k", b"v")
        return write(c, ClosingTtl())

    out = run_in_child(call)
    assert "CacheClosed" in out.get("raised", []), out


def test_codec_loads_that_closes_the_cache_still_returns_the_value(run_in_child: RunInChild) -> None:
    def call() -> Any:
        holder = _Closer()

        class ClosingLoads:
            def dumps(self, value: Any) -> bytes:
                return b"payload"

            def loads(self, data: bytes) -> Any:
                holder.cache.close()
                return data

        holder.cache = c = Cache(max_bytes=1 << 20, codec=ClosingLoads())
        c.set("k", [1])
        assert c.get("k") == b"payload"  # the read was complete before loads ran
        assert c.closed is True
        try:
            c.get("k")
        except CacheClosed:
            return "fine"
        return "a get after close did not raise"

    assert run_in_child(call) == {"ok": "'fine'"}


# ---- Messages --------------------------------------------------------------------------------


def test_ttl_of_a_missing_key_raises_key_error_carrying_the_key(cache: Cache) -> None:
    with pytest.raises(KeyError) as e:
        cache.ttl("missing")
    assert e.value.args == ("missing",)  # like c["missing"] and dict


def test_key_type_error_message_suggests_a_fix(cache: Cache) -> None:
    with pytest.raises(TypeError) as e:
        cache.set(42, 1)  # type: ignore[arg-type]
    assert "f\"user:{user_id}\"" in str(e.value) or "string key" in str(e.value)
