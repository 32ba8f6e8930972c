"""libcache.Cache: the engine as a Python mapping, plus single-flight loading.

The hot methods (get, set, add, replace, c[k], c[k] = v, del c[k], k in c,
len(c)) are the compiled base class's (bindings/python/src/_core.cc); this
subclass adds what is cheap to write in Python and not on the hot path.

Stored values start with a one-byte type tag, so that they come back with
their type: b bytes, s str (UTF-8), i int (8 bytes, little-endian), I int
(decimal digits, beyond 64 bits), d float (IEEE double, little-endian), T True,
F False, N None, c the codec's bytes.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional, TypeVar, Union

from . import _codecs, _core
from ._errors import Error

T = TypeVar("T")
_C = TypeVar("_C", bound="Cache")

_MISSING: Any = object()


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was created, and what it holds now."""

    hits: int
    misses: int
    sets: int
    deletes: int
    evictions: int
    expirations: int
    entries: int
    bytes: int

    @property
    def hit_ratio(self) -> float:
        """hits / (hits + misses); 0.0 before the first read."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class _Flight:
    """One loader call that concurrent callers of get_or_set wait for.

    A lock held from creation until finish() is the whole signal: creating
    one costs about 0.1 µs, a threading.Event (a Condition around a lock)
    about 2 µs, which every miss would pay.
    """

    __slots__ = ("_done", "_value", "_error")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._value: Any = None
        self._error: Optional[BaseException] = None

    def finish(self, value: Any, error: Optional[BaseException]) -> None:
        self._value, self._error = value, error
        self._done.release()

    def wait(self) -> Any:
        # Blocks until finish(); acquiring releases the GIL, and a signal
        # (Ctrl-C) interrupts it. Released at once for the next waiter.
        with self._done:
            pass
        if self._error is not None:
            raise self._error
        return self._value


def _bound(name: str, value: Optional[int]) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, or None for no bound on {name[4:]}; got {value}")
    if value >= 1 << 64:
        raise ValueError(f"{name} must be below 2**64; got {value}")
    return value


def _default_ttl_ms(default_ttl: Optional[float]) -> int:
    # The one TTL rule of the package (_core.cc's SecondsToMs): None or 0 = never.
    return _core._ttl_ms(default_ttl, "default_ttl", "default")


def _shards(shards: Optional[int]) -> int:
    if shards is None:
        return 0
    if isinstance(shards, bool) or not isinstance(shards, int):
        raise TypeError(f"shards must be an int or None, not {type(shards).__name__}")
    if shards < 1 or shards > 1024 or shards & (shards - 1):
        raise ValueError(f"shards must be a power of two from 1 to 1024, or None (automatic); got {shards}")
    return shards


def _flight_key(key: Union[str, bytes]) -> bytes:
    # The engine's key: str keys are their UTF-8 bytes ("a" and b"a" are one key).
    return key.encode() if isinstance(key, str) else bytes(key)


# Every live cache, so that a forked child can drop the parent's in-flight
# loads (their threads do not exist in the child).
_live: "weakref.WeakSet[Cache]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for cache in list(_live):
        cache._reset_flights()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Cache(_core.Cache):
    """A bounded, thread-safe in-process cache with CLOCK eviction and TTLs.

    Args:
        max_bytes: bound on the memory the cache charges for (keys, values and
            the engine's own overhead); None for no byte bound.
        max_entries: bound on the number of entries; None for none.
        default_ttl: seconds an entry lives when a write passes ttl=None;
            None or 0 for never.
        shards: a power of two up to 1024, or None to pick from the core count.
        codec: how values other than bytes, str, int, float, bool and None are
            stored: None (refuse them), "json", "pickle" (trusted data only) or
            an object with dumps() and loads(). Only those exact types are
            stored as they are: subclasses (an IntEnum, a str Enum,
            numpy.float64) and numpy scalars go through the codec, and without
            one are refused (UnsupportedValue says how to convert them). A
            codec's failure raises CodecError, chaining the codec's exception.
        _clock: private, for tests: a libcache._core.FakeClock that the engine
            reads instead of its monotonic clock, so that TTLs expire when the
            test advances it.

    Keys are str (stored as UTF-8) or bytes. TTLs (ttl=, touch, default_ttl)
    are seconds: an int, a float or another real number such as Decimal or
    Fraction (not bool); NaN, infinities and negative values are refused. None
    means the cache's default_ttl (for default_ttl: never), 0 means never
    expires; a TTL is kept in whole milliseconds, rounded down, at least 1.
    Every method may be called from any thread; after close() every call
    raises CacheClosed.
    """

    __slots__ = ("_flights", "_flights_lock", "_async_flights", "_settings")

    def __init__(
        self,
        max_bytes: Optional[int] = 64 << 20,
        max_entries: Optional[int] = None,
        default_ttl: Optional[float] = None,
        shards: Optional[int] = None,
        codec: Union[None, str, _codecs.Codec] = None,
        *,
        _clock: Optional[_core.FakeClock] = None,
    ) -> None:
        if hasattr(self, "_settings"):
            raise Error("Cache.__init__() was already called on this cache")
        mb, me = _bound("max_bytes", max_bytes), _bound("max_entries", max_entries)
        if mb == 0 and me == 0:
            raise ValueError("a cache needs a bound: set max_bytes, max_entries or both")
        super().__init__(mb, me, _default_ttl_ms(default_ttl), _shards(shards), _codecs.resolve(codec), _clock)
        self._settings = (max_bytes, max_entries, default_ttl)
        self._reset_flights()
        _live.add(self)

    def _reset_flights(self) -> None:
        self._flights: dict[bytes, _Flight] = {}
        self._flights_lock = threading.Lock()
        self._async_flights: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bytes, asyncio.Task[Any]]]" = (
            weakref.WeakKeyDictionary()
        )

    @property
    def max_bytes(self) -> Optional[int]:
        return self._settings[0]

    @property
    def max_entries(self) -> Optional[int]:
        return self._settings[1]

    @property
    def default_ttl(self) -> Optional[float]:
        return self._settings[2]

    def pop(self, key: Union[str, bytes], default: Any = _MISSING) -> Any:
        """Removes key and returns its value; default (or KeyError) if absent."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        self.delete(key)
        return value

    def stats(self) -> CacheStats:
        """A snapshot of the counters (summed shard by shard, so approximate under writes)."""
        return CacheStats(*self._counters())

    def get_or_set(self, key: Union[str, bytes], loader: Callable[[], T], ttl: Optional[float] = None) -> T:
        """The cached value for key, or loader()'s result, stored with ttl.

        Single-flight across threads: while one thread runs loader() for a
        key, the others asking for that key wait for its result instead of
        calling loader() themselves. If loader() raises, every waiter gets the
        exception and nothing is cached. Waiting releases the GIL and can be
        interrupted (Ctrl-C).
        """
        value = self.get(key, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[no-any-return]
        _core._ttl_ms(ttl)  # a bad ttl fails before the loader runs, not after
        fkey = _flight_key(key)
        with self._flights_lock:
            flight = self._flights.get(fkey)
            leader = flight is None
            if flight is None:
                # A leader may have stored the value since our miss.
                if self._has(key):
                    value = self.get(key, _MISSING)
                    if value is not _MISSING:
                        return value  # type: ignore[no-any-return]
                flight = self._flights[fkey] = _Flight()
        if not leader:
            return flight.wait()  # type: ignore[no-any-return]
        # The flight leaves the table before it is finished, so that a caller
        # coming after the result (or the error) starts a new load.
        try:
            value = loader()
            self.set(key, value, ttl)
        except BaseException as e:
            self._end_flight(fkey, flight)
            flight.finish(None, e)
            raise
        self._end_flight(fkey, flight)
        flight.finish(value, None)
        return value

    def _end_flight(self, fkey: bytes, flight: _Flight) -> None:
        with self._flights_lock:
            if self._flights.get(fkey) is flight:
                del self._flights[fkey]

    async def get_or_set_async(
        self, key: Union[str, bytes], loader: Callable[[], Awaitable[T]], ttl: Optional[float] = None
    ) -> T:
        """get_or_set for coroutines: single-flight across the tasks of one event loop.

        loader is called with no arguments and must return an awaitable. The
        load runs in a task of its own, so a caller that is cancelled does not
        cancel it for the others; if it raises, every waiter gets the exception
        and nothing is cached.
        """
        value = self.get(key, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[no-any-return]
        _core._ttl_ms(ttl)  # a bad ttl fails before the loader runs, not after
        loop = asyncio.get_running_loop()
        flights = self._async_flights.setdefault(loop, {})
        fkey = _flight_key(key)
        task = flights.get(fkey)
        if task is None:
            if self._has(key):
                value = self.get(key, _MISSING)
                if value is not _MISSING:
                    return value  # type: ignore[no-any-return]
            task = flights[fkey] = loop.create_task(self._load_async(key, fkey, loader, ttl, flights))
        return await asyncio.shield(task)

    async def _load_async(
        self,
        key: Union[str, bytes],
        fkey: bytes,
        loader: Callable[[], Awaitable[Any]],
        ttl: Optional[float],
        flights: dict[bytes, "asyncio.Task[Any]"],
    ) -> Any:
        try:
            pending = loader()
            if not inspect.isawaitable(pending):
                raise TypeError(
                    f"get_or_set_async's loader must return an awaitable (an async def function), "
                    f"got {type(pending).__name__}; use get_or_set for plain functions"
                )
            value = await pending
            self.set(key, value, ttl)
            return value
        finally:
            flights.pop(fkey, None)

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<libcache.Cache closed>"
        s = self.stats()
        return (
            f"<libcache.Cache entries={s.entries} bytes={s.bytes} max_bytes={self.max_bytes} "
            f"max_entries={self.max_entries} default_ttl={self.default_ttl} "
            f"shards={self.shard_count} hit_ratio={s.hit_ratio:.3f}>"
        )
