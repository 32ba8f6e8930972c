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
import atexit
import contextvars
import inspect
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional, Tuple, TypeVar, Union

from . import _codecs, _core, _redis
from ._errors import Error, KeyTooLarge, ReentrantLoad, ValueTooLarge

T = TypeVar("T")
_C = TypeVar("_C", bound="Cache")

_MISSING: Any = object()
_RETRY: Any = object()  # _Flight.wait(): the leader was interrupted; ask again


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
    # Values get_or_set, get_or_set_async or @cached loaded and returned
    # without storing, because they are too large for the cache (ValueTooLarge).
    not_cached: int = 0

    @property
    def hit_ratio(self) -> float:
        """hits / (hits + misses); 0.0 before the first read."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class _Flight:
    """One loader call that concurrent callers of get_or_set wait for.

    A lock held from creation until the leader releases it is the whole
    signal: creating one costs about 0.1 µs, a threading.Event (a Condition
    around a lock) about 2 µs, which every miss would pay. The leader sets
    _value or _error with plain attribute stores, then releases _done (see
    Cache.get_or_set for why it calls no method before that release).
    """

    __slots__ = ("_done", "_value", "_error")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._value: Any = None
        self._error: Optional[BaseException] = None

    def wait(self) -> Any:
        """The leader's value; raises its Exception; _RETRY if it was interrupted.

        Blocks until the leader is done; acquiring releases the GIL, and a
        signal (Ctrl-C) interrupts it. Released at once for the next waiter.
        A leader stopped by a BaseException that is not an Exception
        (KeyboardInterrupt, SystemExit) loaded nothing, and that exception is
        its thread's own: the waiters try again instead of raising it.
        """
        with self._done:
            pass
        error = self._error
        if error is None:
            return self._value
        if isinstance(error, Exception):
            raise error
        return _RETRY


# The flights (sync) and load tasks (async) that the current thread or task is
# leading, innermost last: a loader that asks for its own key finds its own
# flight here and raises instead of waiting for itself. Thread contexts start
# empty; a task starts with a copy of the context that created it, so a load
# task inherits its creator's chain.
_leading: "contextvars.ContextVar[tuple[object, ...]]" = contextvars.ContextVar("libcache_leading", default=())


def _reentered(key: Union[str, bytes], how: str) -> ReentrantLoad:
    return ReentrantLoad(
        f"{how}({key!r}): the loader re-entered {how} for its own key, which would wait for its own "
        "load forever; a loader must not ask for the key it is loading (directly, through a @cached "
        "function called with the same arguments, or through another key's loader)"
    )


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


# The eviction policies: Cache(policy=...) -> CACHE_POLICY_* of <libcache/cache.h>.
_POLICIES = {"clock": 0, "adaptive": 1}


def _policy(policy: str) -> int:
    if not isinstance(policy, str):
        raise TypeError(f'policy must be a str, "clock" or "adaptive", not {type(policy).__name__}')
    if policy not in _POLICIES:
        raise ValueError(f'policy must be "clock" or "adaptive", not {policy!r}')
    return _POLICIES[policy]


def _flight_key(key: Union[str, bytes]) -> bytes:
    # The engine's key: str keys are their UTF-8 bytes ("a" and b"a" are one key).
    return key.encode() if isinstance(key, str) else bytes(key)


def _check_key(fkey: bytes) -> None:
    # Before the loader runs: its value could never be stored under this key.
    if len(fkey) > _core.MAX_KEY_SIZE:
        raise KeyTooLarge(f"a key of {len(fkey)} bytes is longer than the limit of {_core.MAX_KEY_SIZE} bytes")


# Every live cache, so that a forked child can drop the parent's in-flight
# loads (their threads do not exist in the child).
_live: "weakref.WeakSet[Cache]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for cache in list(_live):
        cache._reset_flights()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _close_object_stores_at_exit() -> None:
    # A Redis link's threads drop local copies of object values, and dropping
    # one runs Python code (its release takes the GIL). During interpreter
    # finalization a thread that takes the GIL is stopped by CPython
    # (pthread_exit), which would unwind through the engine's C++ frames and
    # abort the process. So the links of object caches stop before that: their
    # stores are closed here (what they still queue is flushed, 2 s at most).
    # Registered at import, so it runs after the application's own atexit
    # handlers (last in, first out). Bytes caches' links run no Python code.
    for cache in list(_live):
        store = cache._redis_store
        if store is None or cache.closed or cache.values != "object":
            continue
        try:
            store.close(timeout=2.0)
        except Exception:  # noqa: BLE001 - exiting: nothing to report to
            pass


atexit.register(_close_object_stores_at_exit)


class Cache(_core.Cache):
    """A bounded, thread-safe in-process cache with CLOCK (or adaptive) eviction and TTLs.

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
        values: "bytes" (the default): a value is stored as a copy of its
            bytes (bytes, str, int, float, bool, None exactly; other objects
            through the codec), and every read builds a new object from them:
            what is stored cannot change, and max_bytes counts exactly what
            the engine holds. "object": the cache holds the object itself, by
            reference, and a hit returns that same object, with no copy and no
            codec (as functools.lru_cache does): any object may be stored, and
            mutating a cached object mutates what later hits see. With Redis
            attached, the codec encodes what Redis gets, and a value read
            through from Redis is decoded once and kept as an object.
        policy: which entries leave when a bound is reached. "clock" (the
            default): CLOCK, second chance, one ring per shard; it tracks
            LRU's hit ratio within about half a point. "adaptive": frequency-
            aware, a window TinyLFU of three CLOCK rings that tunes its window
            to the workload: much better on database, search and looping
            workloads, within about a point of LRU on recency-heavy ones; the
            same read path, writes cost a little more, and a frequency sketch
            of a few bytes per entry counts against max_bytes. The policy
            changes which entries are evicted, nothing else (bounds, TTLs,
            stats). Read back as Cache.policy.
        size: values="object" only: a callable giving the bytes to charge an
            object against max_bytes (an int from 0 to 2**48 - 1). By default
            the charge is shallow, as sys.getsizeof's: exact for bytes, str and
            numbers, the container alone for a dict, list or tuple (what it
            refers to is not counted). Entries count against max_entries as
            usual.
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

    __slots__ = ("_flights", "_async_flights", "_settings", "_not_cached", "_not_cached_lock", "_redis_store")

    def __init__(
        self,
        max_bytes: Optional[int] = 64 << 20,
        max_entries: Optional[int] = None,
        default_ttl: Optional[float] = None,
        shards: Optional[int] = None,
        codec: Union[None, str, _codecs.Codec] = None,
        *,
        values: str = "bytes",
        policy: str = "clock",
        size: Optional[Callable[[Any], int]] = None,
        _clock: Optional[_core.FakeClock] = None,
    ) -> None:
        if hasattr(self, "_settings"):
            raise Error("Cache.__init__() was already called on this cache")
        mb, me = _bound("max_bytes", max_bytes), _bound("max_entries", max_entries)
        if mb == 0 and me == 0:
            raise ValueError("a cache needs a bound: set max_bytes, max_entries or both")
        if values not in ("bytes", "object"):
            raise ValueError(f'values must be "bytes" or "object", not {values!r}')
        if size is not None and (values != "object" or not callable(size)):
            raise TypeError('size= is a callable giving an object\'s size in bytes, for values="object" only')
        policy_kind = _policy(policy)
        super().__init__(
            mb,
            me,
            _default_ttl_ms(default_ttl),
            _shards(shards),
            _codecs.resolve(codec),
            _clock,
            values == "object",
            size,
            policy_kind,
        )
        self._settings = (max_bytes, max_entries, default_ttl)
        self._not_cached = 0
        self._redis_store: Optional[_redis.RedisStore] = None  # the last store attach_redis made
        self._reset_flights()
        _live.add(self)

    def _reset_flights(self) -> None:
        # Registered with setdefault and removed by the leader, each one step
        # under the GIL (bytes keys run no Python code): no lock to leak.
        self._flights: dict[bytes, _Flight] = {}
        self._not_cached_lock = threading.Lock()  # a fork may have copied it held
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

    @property
    def redis_store(self) -> Optional["_redis.RedisStore"]:
        """The RedisStore attach_redis() linked to this cache (None if none; it may be closed since)."""
        return self._redis_store

    def pop(self, key: Union[str, bytes], default: Any = _MISSING) -> Any:
        """Removes key and returns its value; default (or KeyError) if absent.

        The removal is one engine operation: a write of key by another thread
        lands before the pop (and is what it returns) or after it (and stays),
        never in between. A value that cannot be decoded (CodecError) raises
        and stays in the cache.
        """
        value = self._take(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return value

    def stats(self) -> CacheStats:
        """A snapshot of the counters (summed shard by shard, so approximate under writes)."""
        return CacheStats(*self._counters(), not_cached=self._not_cached)

    def get_or_set(self, key: Union[str, bytes], loader: Callable[[], T], ttl: Optional[float] = None) -> T:
        """The cached value for key, or loader()'s result, stored with ttl.

        Single-flight across threads: while one thread runs loader() for a
        key, the others asking for that key wait for its result instead of
        calling loader() themselves. If loader() raises an Exception, every
        waiter gets it and nothing is cached; if the loading thread is stopped
        by KeyboardInterrupt (or another BaseException), that thread gets it
        and one of the waiters loads instead. Waiting releases the GIL and can
        be interrupted (Ctrl-C); on CPython 3.10+ an interrupt (or an exception
        from a signal handler) anywhere in the call leaves no load behind.

        A value too large for the cache (ValueTooLarge) is returned without
        being stored, and counted in stats().not_cached; a value the cache
        cannot store at all (UnsupportedValue, a codec error) raises. A key
        over the engine's limit raises KeyTooLarge before loader() runs.

        Raises ReentrantLoad if loader() itself asks get_or_set for key in
        the same thread (directly or through other loads), where waiting would
        wait for itself forever.
        """
        value = self.get(key, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[no-any-return]
        return self._load_missed(key, loader, ttl)

    def _load_missed(self, key: Union[str, bytes], loader: Callable[[], T], ttl: Optional[float] = None) -> T:
        # get_or_set after its get missed (also @cached's miss path, whose
        # compiled lookup was that get: the miss is counted once).
        _core._ttl_ms(ttl)  # a bad ttl fails before the loader runs, not after
        fkey = _flight_key(key)
        _check_key(fkey)
        flights = self._flights
        while True:
            # No window for an exception (KeyboardInterrupt, or anything a
            # signal handler raises) to leave a flight registered: CPython
            # (3.10+) runs signal handlers only after a call returns, at a
            # backward jump or on entering a function. The registration is a
            # call inside the try, so an exception right after it is handled
            # below; from the last call of the try (or of the handler) to the
            # release of the waiters there are only attribute stores, dict
            # subscripts and forward jumps.
            new = _Flight()
            try:
                flight = flights.setdefault(fkey, new)
                if flight is new:
                    value = self._lead(key, loader, ttl, new)
            except BaseException as e:
                if fkey in flights and flights[fkey] is new:
                    del flights[fkey]
                    new._error = e
                    new._done.release()
                raise
            if flight is new:
                # The flight leaves the table before it is finished, so that a
                # caller coming after the result starts a new load.
                if fkey in flights and flights[fkey] is new:
                    del flights[fkey]
                new._value = value
                new._done.release()
                return value
            if flight in _leading.get():
                raise _reentered(key, "get_or_set")
            value = flight.wait()
            if value is not _RETRY:
                return value
            value = self.get(key, _MISSING)
            if value is not _MISSING:
                return value

    def _lead(self, key: Union[str, bytes], loader: Callable[[], T], ttl: Optional[float], flight: _Flight) -> T:
        # A leader may have stored the value since our miss and left the table
        # before we registered: the value is then there.
        if self._has(key):
            value = self.get(key, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[no-any-return]
        outer = _leading.get()
        try:
            _leading.set(outer + (flight,))
            value = loader()
        finally:
            _leading.set(outer)
        self._store(key, value, ttl)
        return value

    def _store(self, key: Union[str, bytes], value: Any, ttl: Optional[float]) -> None:
        # A loaded value too large to cache is still the caller's answer.
        try:
            self.set(key, value, ttl)
        except ValueTooLarge:
            with self._not_cached_lock:
                self._not_cached += 1

    async def get_or_set_async(
        self, key: Union[str, bytes], loader: Callable[[], Awaitable[T]], ttl: Optional[float] = None
    ) -> T:
        """get_or_set for coroutines: single-flight across the tasks of one event loop.

        loader is called with no arguments and must return an awaitable. The
        load runs in a task of its own, so a caller that is cancelled does not
        cancel it for the others; if it raises, every waiter gets the exception
        and nothing is cached. Values too large to cache, long keys and
        ReentrantLoad (the loader, or a task it starts, asking for the key it
        is loading) as for get_or_set.
        """
        value = self.get(key, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[no-any-return]
        _core._ttl_ms(ttl)  # a bad ttl fails before the loader runs, not after
        fkey = _flight_key(key)
        _check_key(fkey)
        loop = asyncio.get_running_loop()
        flights = self._async_flights.setdefault(loop, {})
        task = flights.get(fkey)
        if task is not None and task.done():
            task = None  # its load was interrupted before it left the table: never wait on it
        if task is None:
            if self._has(key):
                value = self.get(key, _MISSING)
                if value is not _MISSING:
                    return value  # type: ignore[no-any-return]
            task = flights[fkey] = loop.create_task(self._load_async(key, fkey, loader, ttl, flights))
        elif task in _leading.get():
            raise _reentered(key, "get_or_set_async")
        return await asyncio.shield(task)

    async def _load_async(
        self,
        key: Union[str, bytes],
        fkey: bytes,
        loader: Callable[[], Awaitable[Any]],
        ttl: Optional[float],
        flights: dict[bytes, "asyncio.Task[Any]"],
    ) -> Any:
        me = asyncio.current_task()
        try:
            _leading.set(_leading.get() + (me,))  # this task's own context
            pending = loader()
            if not inspect.isawaitable(pending):
                raise TypeError(
                    f"get_or_set_async's loader must return an awaitable (an async def function), "
                    f"got {type(pending).__name__}; use get_or_set for plain functions"
                )
            value = await pending
            self._store(key, value, ttl)
            return value
        finally:
            if flights.get(fkey) is me:
                del flights[fkey]

    def attach_redis(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: Union[str, bytes] = b"",
        flush_interval: float = 0.005,
        batch_size: int = 512,
        batch_bytes: int = 4 << 20,
        max_queue_bytes: int = 64 << 20,
        max_queue_ops: int = 1 << 20,
        on_full: str = "block",
        block_timeout: float = 1.0,
        read_through: bool = True,
        read_timeout: float = 0.1,
        connect_timeout: float = 1.0,
        command_timeout: float = 1.0,
        max_retries: int = 3,
        retry_backoff: Tuple[float, float] = (0.01, 2.0),
        coherence: bool = True,
        health_interval: float = 0.1,
    ) -> "_redis.RedisStore":
        """Links Redis to this cache as its shared tier: write-behind and read-through.

        From now on every write (set, add, replace, c[k] = v, delete, pop,
        touch) is applied here and queued; a background thread sends the
        queue to Redis in pipelined batches (SET key value PXAT, DEL,
        PEXPIREAT), at most flush_interval seconds later, batch_size
        operations or batch_bytes at a time. A later write of a waiting key
        replaces the earlier one; per-key order is kept, also across retries
        and reconnects. A local miss (get, get_or_set, c[k], k in c) reads the
        queue first (a process reads its own writes), then Redis (GET and
        PTTL, single-flight, within read_timeout seconds: a Redis that does not
        answer in time is a miss), and fills the cache with Redis's
        remaining TTL; read_through=False turns that off.

        Args:
            url: redis://[[user]:password@]host[:port][/db] or
                unix://[[user]:password@]/path.sock[?db=N]; user and password
                percent-encoded. Credentials never appear in errors or stats.
            prefix: prepended to every key in Redis.
            max_queue_bytes, max_queue_ops: bounds of the queue (keys, values
                and 64 bytes per operation). When full, on_full="block" makes
                a write wait up to block_timeout seconds for room, "fail"
                refuses it at once: QueueFull, and the cache is unchanged.
            connect_timeout, command_timeout: seconds for a connection and for
                one pipeline's replies.
            max_retries: how often a write Redis refuses (an error reply such
                as NOPERM) is retried before it becomes a dead letter.
            retry_backoff: (min, max) seconds between attempts after Redis
                failed (capped, jittered, doubling).
            coherence: keep the local copies coherent with Redis (the
                default): when another client (another process's cache,
                redis-cli, a script) changes or deletes a key under the
                prefix, this cache stops serving its old copy once Redis's
                invalidation arrives (Redis's client-side caching, tracking
                the prefix). A local write not yet flushed is kept over a
                remote change (it reaches Redis later and wins there too);
                when the invalidation path is lost (a dropped connection, a
                failed health check, FLUSHALL), every clean local copy is
                dropped and reads go to Redis until tracking is back. Only
                with read_through: read_through=False turns coherence off too
                (there are no read copies to keep), as coherence=False does
                for a process that only writes.
            health_interval: seconds between health checks of the
                invalidation path (PING): a silent loss is found within
                about this plus command_timeout.

        Connects once at once, so that a wrong address, password or ACL raises
        BackendError here (a malformed URL: InvalidArgument). Values go to
        Redis as the cache holds them (a type tag, then the payload; codec
        values encoded), so caches in other processes read back the types
        that were written. Writes that release the GIL: with read_through, a
        get; with on_full="block", every write (both wait for Redis at most
        their timeouts). Returns the RedisStore (flush, set_sync,
        delete_sync, command, invalidate, stats, dead_letters, close; also
        cache.redis_store); a cache has at most one open.
        """
        return _redis.attach(
            self,
            url,
            prefix=prefix,
            flush_interval=flush_interval,
            batch_size=batch_size,
            batch_bytes=batch_bytes,
            max_queue_bytes=max_queue_bytes,
            max_queue_ops=max_queue_ops,
            on_full=on_full,
            block_timeout=block_timeout,
            read_through=read_through,
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            coherence=coherence,
            health_interval=health_interval,
        )

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
            f"shards={self.shard_count} policy={self.policy} hit_ratio={s.hit_ratio:.3f}>"
        )
