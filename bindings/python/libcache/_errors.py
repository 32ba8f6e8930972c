"""libcache's exceptions, and the one table that maps C ABI statuses to them.

Every exception the package raises on purpose is a :class:`Error`; the ones
caused by a bad argument are also :class:`ValueError` or :class:`TypeError`,
so code that already catches those keeps working.
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every libcache error."""


class InvalidArgument(Error, ValueError):
    """An argument the engine refused (options out of range, a bad TTL)."""


class KeyTooLarge(Error, ValueError):
    """A key longer than the engine's limit (65535 bytes once encoded)."""


class ValueTooLarge(Error, ValueError):
    """An entry that can never fit in the cache's bounds (one shard's share)."""


class UnsupportedValue(Error, TypeError):
    """A value the cache cannot store without a codec (the message names one)."""


class CodecError(Error, ValueError, TypeError):
    """A value the codec could not encode, or stored bytes it could not decode.

    Raised for every failure of a codec's dumps() or loads() (the codec's own
    exception is chained as __cause__), for a dumps() that returns neither
    bytes nor str, and for stored bytes that no libcache binding wrote. Also a
    ValueError and a TypeError: json and pickle raise either for data they
    cannot handle, so code that caught those keeps working. A failed write
    leaves the cache unchanged.
    """


class CacheClosed(Error):
    """The cache (or store) was closed; create a new one to go on."""


class OutOfMemory(Error, MemoryError):
    """The engine could not allocate memory."""


class StoreError(Error):
    """A failure of the cache's backing store (Redis: Cache.attach_redis)."""


class BackendError(StoreError, OSError):
    """The store could not be reached or refused the connection (Redis down, bad password or ACL)."""


class QueueFull(StoreError):
    """The store's write-behind queue is full: the write was refused and the cache is unchanged."""


class StoreRejected(StoreError):
    """The store refused this one write (for example NOPERM: an ACL that forbids the key)."""


class RedisReplyError(Error):
    """Redis answered RedisStore.command() with an error reply; str(e) is Redis's text (e.g. "WRONGTYPE ...").

    The command reached Redis and Redis refused it (a wrong type, a script
    error, an ACL's NOPERM): sending it again will not help.
    """


class SessionConflict(Error):
    """SessionStore.save() lost a race: the session was saved elsewhere since this thread or task read it.

    Another server (or another thread or task of this process) saved the
    session after this thread's (or task's) last get() or save() of it, so
    saving would silently overwrite that update. Nothing was written. Read the
    session again with get(), apply the change to what it returns, and save
    again.
    """


class Timeout(Error, TimeoutError):
    """An operation did not finish in time."""


class InternalError(Error):
    """A bug in libcache: please report it with the message."""


# C ABI status (capi/include/libcache/cache.h) -> exception class. _core raises
# through this table only; a status missing here raises Error.
STATUS_ERRORS: dict[int, type[Error]] = {
    -1: InvalidArgument,  # CACHE_E_INVALID
    -2: OutOfMemory,  # CACHE_E_NOMEM
    -3: ValueTooLarge,  # CACHE_E_TOO_LARGE
    -5: BackendError,  # CACHE_E_IO
    -6: QueueFull,  # CACHE_E_FULL
    -7: Timeout,  # CACHE_E_TIMEOUT
    -8: CacheClosed,  # CACHE_E_CLOSED
    -9: InternalError,  # CACHE_E_INTERNAL
    100: StoreRejected,  # CACHE_STORE_REJECTED (<libcache/cache_store.h>: set_sync, delete_sync)
}


class ReentrantLoad(Error, RuntimeError):
    """A get_or_set loader (or @cached function) asked for the key it is loading, in its own thread or task."""
