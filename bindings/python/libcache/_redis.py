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
from ._errors import STATUS_ERRORS, CacheClosed, Error, StoreRejected

if TYPE_CHECKING:
    from types import TracebackType

    from ._cache import Cache

_S = TypeVar("_S", bound="RedisStore")

_OK, _E_TIMEOUT, _E_CLOSED = 0, -7, -8
_REJECTED = 100


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

    __slots__ = ("_link", "_cache", "__weakref__")

    def __init__(self, link: _core.StoreLink, cache: "Cache") -> None:
        self._link = link
        self._cache = cache

    @property
    def cache(self) -> "Cache":
        """The cache this store is attached to."""
        return self._cache

    @property
    def closed(self) -> bool:
        """True once the store (or its cache) was closed, and in a forked child."""
        return self._link.closed

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
        """A snapshot of the link's counters (also after close, while the cache is open)."""
        t = self._link.stats()
        return RedisStats(*t[:9], t[9] / 1000.0, *t[10:])

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
    )
    return RedisStore(link, cache)
