"""libcache.RedisStore: Redis as the shared tier behind a Cache (Cache.attach_redis).

Every write to the cache (set, add, replace, c[k] = v, delete, pop, touch) is
applied locally, queued, and sent to Redis in pipelined batches by a
background thread (write-behind); a local miss (get, get_or_set, c[k], k in c)
looks at the queue, then at Redis, and fills the cache with the value and its
remaining TTL (read-through). The engine does both (<libcache/cache_store.h>,
<libcache/cache_redis.h>); this module parses the arguments, maps statuses to
exceptions and adds what Python code needs: blocking calls that release the
GIL and let Ctrl-C through, and awaitable variants for asyncio.

Values are stored in Redis as the cache holds them: a one-byte type tag, then
the payload (codec values encoded by the cache's codec), so another process's
cache reads back the type that was written. Keys get the prefix in Redis.

Near-cache coherence (on by default with read-through): the adapter tracks
the prefix in Redis (CLIENT TRACKING ... BCAST PREFIX, invalidations on a
second connection), so that when any other client changes or deletes a key
under the prefix, this cache stops serving its old copy; when it can no
longer vouch for its copies (a connection dropped, a health check failed,
FLUSHALL) it drops them and reads from Redis until tracking is back. The
rules are the engine's (<libcache/cache_store.h>, "Changes made elsewhere",
and <libcache/cache_redis.h>); RedisStats counts what happened.
"""

from __future__ import annotations

import asyncio
import functools
import math
import numbers
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Tuple, Type, TypeVar, Union

from . import _core
from ._errors import STATUS_ERRORS, BackendError, CacheClosed, Error, RedisReplyError, StoreRejected

if TYPE_CHECKING:
    from types import TracebackType

    from ._cache import Cache

_S = TypeVar("_S", bound="RedisStore")

_OK, _E_INVALID, _E_TOO_LARGE, _E_IO, _E_TIMEOUT, _E_CLOSED = 0, -1, -3, -5, -7, -8
_REJECTED = 100

# cache_redis_command's reply types (CACHE_REDIS_REPLY_* in <libcache/cache_redis.h>).
_STRING, _ARRAY, _INTEGER, _NIL, _STATUS, _ERROR = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class RedisStats:
    """Counters of a store's link (write-behind and read-through), since it was attached."""

    queued_ops: int  # operations waiting or in flight
    queued_bytes: int  # their bytes, as counted against max_queue_bytes
    flushed_ops: int  # operations Redis applied
    batches: int  # pipelines sent
    retries: int  # operations sent again (outcome unknown after an I/O error, or rejected)
    store_errors: int  # batches that failed (Redis down, timeout): retried with backoff
    dead_letters: int  # operations given up after max_retries rejections (drained or not)
    refused_full: int  # writes refused with QueueFull
    coalesced: int  # waiting operations replaced by newer writes of their key
    oldest_pending: float  # seconds the oldest waiting operation has waited; 0.0 if none
    read_hits: int  # read-through misses answered by the queue or Redis
    read_misses: int  # ... that Redis did not have either
    read_errors: int  # ... that failed or timed out (answered as misses)
    # Coherence (1.4): what the link did with invalidations...
    invalidations: int  # invalidations received (keys, whole-cache drops, losses of tracking)
    invalidated: int  # clean local copies they dropped
    conflicts: int  # invalidations of a key with a local write pending (the local write kept)
    fills_refused: int  # values loaded but not kept (invalidated while in flight, or not coherent)
    coherent: bool  # the local copies are vouched for now (always True with coherence off)
    # ...and what the adapter saw.
    connects: int  # successful connections to Redis (the first included)
    connect_errors: int  # failed connection attempts
    fenced: int  # lost writer connections killed (CLIENT KILL) before a resend
    coherence: bool  # coherence is on for this store (coherence=True and read_through=True)
    tracking: bool  # tracking is established and its last health check passed
    tracking_resets: int  # times tracking was lost and the local copies dropped
    invalidation_messages: int  # invalidation messages from Redis (FLUSHALL included)
    flushall_messages: int  # of them, whole-database invalidations (FLUSHALL, FLUSHDB)
    health_check_age: Optional[float]  # seconds since the last passed health check; None: none yet


class ArrayReply(NamedTuple):
    """What RedisStore.command() returns for an array reply: its length only.

    The adapter passes the top level of a reply; to get structured data back,
    run a Lua script (EVAL) that returns a string, e.g. cjson.encode(...).
    """

    length: int


class DeadLetter(NamedTuple):
    """A write Redis kept refusing: the key (as the cache holds it, without prefix) and Redis's reason."""

    key: bytes
    reason: str


def _seconds(name: str, value: Any, *, none_ok: bool, zero_ok: bool) -> int:
    """ms for a duration in seconds (-1 for None when none_ok): whole ms, rounded down, at least 1."""
    if value is None and none_ok:
        return -1
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        what = "a number of seconds" + (" or None (no limit)" if none_ok else "")
        raise TypeError(f"{name} must be {what}, not {type(value).__name__}")
    s = float(value)
    if math.isnan(s) or s < 0 or (s == 0 and not zero_ok) or s > 2.0**40 / 1000:
        bound = ">= 0" if zero_ok else "> 0"
        raise ValueError(f"{name} must be {bound} seconds (and finite); got {value!r}")
    return 0 if s == 0 else max(1, int(s * 1000.0))


def _count(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low} to {high}; got {value}")
    return value


def _interruptible() -> bool:
    # Python runs signal handlers in the main thread only: elsewhere Ctrl-C
    # never arrives, and a call waits in the engine without a helper thread.
    return threading.current_thread() is threading.main_thread()


def _raise(rc: int, what: str) -> None:
    if rc == _OK:
        return
    cls: Type[Error] = STATUS_ERRORS.get(rc, Error)
    raise cls(what)


class RedisStore:
    """A Cache's link to Redis; made by Cache.attach_redis(url, ...).

    Blocking calls (flush, set_sync, delete_sync, close) release the GIL; in
    the main thread Ctrl-C interrupts them at once (KeyboardInterrupt; the
    call goes on in a helper thread until it ends or the store closes, and
    its outcome is unknown, as after a timeout). The *_async variants run the
    call in the event loop's default executor, never blocking the loop.
    Timeouts are seconds; None waits without limit.

    Closing the cache closes its store without waiting: call store.close()
    first to flush what is queued. After os.fork() the child's copy of the
    store is inert (the parent flushes its own writes; every call raises
    CacheClosed), and the child may attach a store of its own.
    """

    __slots__ = ("_link", "_cache", "_prefix", "_read_through", "_coherence", "__weakref__")

    def __init__(self, link: _core.StoreLink, cache: "Cache", prefix: bytes, read_through: bool, coherence: bool) -> None:
        self._link = link
        self._cache = cache
        self._prefix = prefix
        self._read_through = read_through
        self._coherence = coherence

    @property
    def cache(self) -> "Cache":
        """The cache this store is attached to."""
        return self._cache

    @property
    def closed(self) -> bool:
        """True once the store (or its cache) was closed, and in a forked child."""
        return self._link.closed

    @property
    def prefix(self) -> bytes:
        """The prefix of every key in Redis (a key k of the cache is prefix + k there)."""
        return self._prefix

    @property
    def read_through(self) -> bool:
        """Whether a local miss reads Redis."""
        return self._read_through

    @property
    def coherence(self) -> bool:
        """Whether the local copies are kept coherent with Redis (coherence=True and read_through=True)."""
        return self._coherence

    def command(self, *args: Union[str, bytes, int, float], timeout: Optional[float] = None) -> Any:
        """Runs one Redis command and returns its reply: command("PEXPIRE", b"app:k", 5000).

        Arguments are bytes, str (UTF-8), int or float (their decimal form);
        keys are given whole: add the prefix yourself (store.prefix). The
        reply: an int (integer reply), bytes (bulk string), str (status reply
        such as "OK"), None (nil), or ArrayReply(length) for an array (the
        adapter passes the top level only: its elements are not available).
        An error reply raises RedisReplyError with Redis's text; no answer
        within timeout seconds (None: the store's command_timeout), or Redis
        unreachable, raises BackendError (after a timeout the command may
        still have run); CacheClosed if the store is closed.

        Runs on one of the adapter's connections, not through the queue: it
        is not ordered with this cache's queued writes (flush() first when
        that matters), and what it changes in Redis reaches this cache's
        local copies as another client's write does, by an invalidation (at
        once: invalidate() the keys it wrote). Releases the GIL; in the main
        thread Ctrl-C interrupts the wait (the command's outcome is then
        unknown).
        """
        if not args:
            raise TypeError("command() needs at least the command's name")
        argv = [_arg(i, a) for i, a in enumerate(args)]
        ms = 0 if timeout is None else _seconds("timeout", timeout, none_ok=False, zero_ok=False)
        rc, kind, data, integer, why = self._link.command(argv, ms, _interruptible())
        if rc == _OK:
            if kind == _STRING:
                return data
            if kind == _INTEGER:
                return integer
            if kind == _NIL:
                return None
            if kind == _STATUS:
                return data.decode("utf-8", "replace")
            if kind == _ERROR:
                raise RedisReplyError(data.decode("utf-8", "replace"))
            if kind == _ARRAY:
                return ArrayReply(integer)
            raise Error(f"command: a reply of unknown type {kind} from the adapter")
        name = argv[0].decode("utf-8", "replace")[:32]
        if rc == _E_TIMEOUT:
            limit = "its command_timeout" if timeout is None else f"{timeout} s"
            raise BackendError(
                f"command {name}: no answer from Redis within {limit} (the command may still have run)"
                + (f": {why}" if why else "")
            )
        if rc == _E_IO:
            raise BackendError(f"command {name}: Redis could not be reached" + (f": {why}" if why else ""))
        if rc == _E_CLOSED:
            raise CacheClosed(f"command {name}: the store is closed")
        cls: Type[Error] = STATUS_ERRORS.get(rc, Error)
        raise cls(f"command {name} failed" + (f": {why}" if why else ""))

    async def command_async(self, *args: Union[str, bytes, int, float], timeout: Optional[float] = None) -> Any:
        """command() in the loop's default executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.command, *args, timeout=timeout))

    def invalidate(self, key: Union[str, bytes]) -> None:
        """Drops this cache's local copy of key, without writing anything to Redis.

        The next read of key goes to Redis. For a key changed in Redis by
        command() (its invalidation from Redis arrives too, a little later).
        A key with a local write waiting for or in flight to Redis keeps its
        local value (that write is newer). CacheClosed if the store is closed.
        """
        rc = self._link.invalidate(key)
        if rc == _E_CLOSED:
            raise CacheClosed("invalidate: the store is closed")
        _raise(rc, f"invalidate({key!r}) failed")

    def flush(self, timeout: Optional[float] = None) -> None:
        """Returns once Redis has answered every write made before the call.

        "Answered": applied, or given up as a dead letter (see dead_letters()).
        Raises Timeout (a TimeoutError) after timeout seconds (None: no
        limit), CacheClosed if the store is closed.
        """
        ms = _seconds("timeout", timeout, none_ok=True, zero_ok=True)
        rc = self._link.flush(ms, _interruptible())
        if rc == _E_TIMEOUT:
            s = self.stats()
            raise _timeout(
                f"flush: Redis did not answer every write within {timeout} s "
                f"({s.queued_ops} operations queued, {s.store_errors} failed batches so far); "
                "the writes stay queued and are retried"
            )
        _raise(rc, "flush failed" if rc != _E_CLOSED else "the store is closed")

    def set_sync(self, key: Union[str, bytes], value: Any, ttl: Optional[float] = None, *, timeout: Optional[float] = None) -> None:
        """Writes key = value to Redis and, once Redis applied it, to the cache (write-through).

        ttl as for Cache.set (None: the cache's default_ttl, 0: never expires).
        Ordered with the queued writes of the key: sent after them. On failure
        the local cache is unchanged: StoreRejected (Redis refused it, e.g.
        NOPERM), Timeout (no answer within timeout seconds: the write stays
        queued and may still reach Redis, never the cache), QueueFull,
        CacheClosed, or the errors of Cache.set.
        """
        ms = _seconds("timeout", timeout, none_ok=True, zero_ok=True)
        rc = self._link.set_sync(key, value, ttl, ms, _interruptible())
        _sync_result(rc, "set_sync", key, timeout)

    def delete_sync(self, key: Union[str, bytes], *, timeout: Optional[float] = None) -> None:
        """Deletes key from Redis and, once Redis answered, from the cache; errors as for set_sync."""
        ms = _seconds("timeout", timeout, none_ok=True, zero_ok=True)
        rc = self._link.delete_sync(key, ms, _interruptible())
        _sync_result(rc, "delete_sync", key, timeout)

    def close(self, timeout: Optional[float] = 5.0) -> int:
        """Flushes what it can within timeout seconds, stops, and detaches from the cache.

        Returns how many operations were not flushed (0: everything reached
        Redis; dead letters never drained count too). Never waits longer than
        timeout plus one Redis call's own timeout (connect + 3 x command),
        with Redis up, down or paused. The cache keeps working, locally only.
        Closing again returns 0.
        """
        ms = _seconds("timeout", timeout, none_ok=True, zero_ok=True)
        rc, unflushed = self._link.close(ms, _interruptible())
        if rc not in (_OK, _E_TIMEOUT, _E_CLOSED):
            _raise(rc, "close failed")
        return unflushed

    def stats(self) -> RedisStats:
        """A snapshot of the counters (also after close, while the cache is open).

        After close(), the adapter's own counters (connects ... health_check_age)
        are those of the moment close() began, and tracking is False.
        """
        raw = self._link.stats()
        d: dict[str, Any] = dict(raw)
        age = d.pop("health_check_age_ms")
        d["oldest_pending"] = d.pop("oldest_pending_ms") / 1000.0
        d["health_check_age"] = None if age < 0 else age / 1000.0
        for flag in ("coherent", "coherence", "tracking"):
            d[flag] = bool(d[flag])
        return RedisStats(**d)

    def dead_letters(self) -> list[DeadLetter]:
        """The writes Redis kept refusing (after max_retries), oldest first; forgets them.

        At most 4096 are held (the oldest released first; stats().dead_letters
        counts them all).
        """
        return [DeadLetter(key, reason) for _kind, key, reason in self._link.drain()]

    async def flush_async(self, timeout: Optional[float] = None) -> None:
        """flush() in the loop's default executor: awaiting never blocks the event loop.

        Cancelling the awaiting task does not stop the flush already running.
        """
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(self.flush, timeout))

    async def set_sync_async(
        self, key: Union[str, bytes], value: Any, ttl: Optional[float] = None, *, timeout: Optional[float] = None
    ) -> None:
        """set_sync() in the loop's default executor (cancelling does not recall the write)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(self.set_sync, key, value, ttl, timeout=timeout))

    async def delete_sync_async(self, key: Union[str, bytes], *, timeout: Optional[float] = None) -> None:
        """delete_sync() in the loop's default executor."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(self.delete_sync, key, timeout=timeout))

    async def close_async(self, timeout: Optional[float] = 5.0) -> int:
        """close() in the loop's default executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.close, timeout))

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional["TracebackType"]
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never the URL: it may hold a password.
        if self.closed:
            return "<libcache.RedisStore closed>"
        s = self.stats()
        return f"<libcache.RedisStore queued_ops={s.queued_ops} flushed_ops={s.flushed_ops} dead_letters={s.dead_letters}>"


def _timeout(message: str) -> Error:
    return STATUS_ERRORS[_E_TIMEOUT](message)


def _sync_result(rc: int, what: str, key: Union[str, bytes], timeout: Optional[float]) -> None:
    if rc == _OK:
        return
    if rc == _REJECTED:
        raise StoreRejected(
            f"{what}({key!r}): Redis refused the write (an error reply, such as NOPERM for a key the "
            "ACL user may not write); the cache is unchanged"
        )
    if rc == _E_TIMEOUT:
        raise _timeout(
            f"{what}({key!r}): no answer from Redis within {timeout} s; the cache is unchanged, and the "
            "write stays queued (it may still reach Redis, never the cache)"
        )
    if rc == _E_CLOSED:
        raise CacheClosed(f"{what}({key!r}): the store is closed")
    _raise(rc, f"{what}({key!r}) failed; the cache is unchanged")


def _arg(i: int, a: Any) -> bytes:
    if isinstance(a, bytes):
        return a
    if isinstance(a, str):
        return a.encode()
    if isinstance(a, (bytearray, memoryview)):
        return bytes(a)
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        raise TypeError(f"command argument {i} must be bytes, str, int or float, not {type(a).__name__}")
    if isinstance(a, float) and not math.isfinite(a):
        raise ValueError(f"command argument {i} must be finite; got {a!r}")
    return repr(a).encode() if isinstance(a, float) else str(a).encode()


def attach(
    cache: "Cache",
    url: str,
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
) -> RedisStore:
    """Cache.attach_redis's body (see there)."""
    if not getattr(_core, "HAS_REDIS", False):
        raise Error(
            "this build of libcache has no Redis support: it was built without hiredis "
            "(Debian: apt install libhiredis-dev, then reinstall libcache)"
        )
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    if isinstance(prefix, str):
        prefix = prefix.encode()
    elif not isinstance(prefix, bytes):
        raise TypeError(f"prefix must be str or bytes, not {type(prefix).__name__}")
    if on_full not in ("block", "fail"):
        raise ValueError(f'on_full must be "block" or "fail"; got {on_full!r}')
    if not isinstance(read_through, bool):
        raise TypeError(f"read_through must be a bool, not {type(read_through).__name__}")
    if not isinstance(coherence, bool):
        raise TypeError(f"coherence must be a bool, not {type(coherence).__name__}")
    health_ms = _seconds("health_interval", health_interval, none_ok=False, zero_ok=False)
    if not isinstance(retry_backoff, tuple) or len(retry_backoff) != 2:
        raise TypeError("retry_backoff must be a (min_seconds, max_seconds) tuple")
    backoff_min = _seconds("retry_backoff[0]", retry_backoff[0], none_ok=False, zero_ok=True)
    backoff_max = _seconds("retry_backoff[1]", retry_backoff[1], none_ok=False, zero_ok=True)
    if backoff_min > backoff_max:
        raise ValueError(f"retry_backoff must be (min, max) with min <= max; got {retry_backoff!r}")
    link = _core.attach_redis(
        cache,
        url,
        prefix,
        _seconds("flush_interval", flush_interval, none_ok=False, zero_ok=True),
        _count("batch_size", batch_size, 1, 65536),
        _count("batch_bytes", batch_bytes, 1, (1 << 40) - 1),
        _count("max_queue_bytes", max_queue_bytes, 1, (1 << 40) - 1),
        _count("max_queue_ops", max_queue_ops, 1, (1 << 24) - 1),
        on_full == "fail",
        _seconds("block_timeout", block_timeout, none_ok=False, zero_ok=True),
        read_through,
        _seconds("read_timeout", read_timeout, none_ok=False, zero_ok=False),
        _seconds("connect_timeout", connect_timeout, none_ok=False, zero_ok=False),
        _seconds("command_timeout", command_timeout, none_ok=False, zero_ok=False),
        _count("max_retries", max_retries, 0, (1 << 32) - 1),
        backoff_min,
        backoff_max,
        coherence and read_through,  # coherence keeps read copies: nothing to keep without reads
        health_ms,
    )
    store = RedisStore(link, cache, prefix, read_through, coherence and read_through)
    cache._redis_store = store
    return store
