"""A Flask-Caching backend on libcache: libcache.contrib.flask_caching.LibcacheCache.

Configure it by import path (needs the extra: pip install libcache[flask])::

    Cache(app, config={
        "CACHE_TYPE": "libcache.contrib.flask_caching.LibcacheCache",
        "CACHE_DEFAULT_TIMEOUT": 300,                # seconds; 0 = never expires
        "CACHE_KEY_PREFIX": "myapp:",
        "CACHE_LIBCACHE_MAX_BYTES": 64 << 20,        # None: no byte bound
        "CACHE_LIBCACHE_MAX_ENTRIES": None,          # default: CACHE_THRESHOLD
        "CACHE_LIBCACHE_POLICY": "adaptive",         # eviction policy; default "clock"
        "CACHE_LIBCACHE_REDIS_URL": "redis://127.0.0.1:6379/0",   # optional shared tier
        "CACHE_LIBCACHE_WRITE_MODE": "behind",       # or "through"
        "CACHE_LIBCACHE_REDIS_OPTIONS": {"prefix": "myapp:"},     # attach_redis() keywords
    })

Config keys read by factory():
    CACHE_DEFAULT_TIMEOUT: seconds (or a timedelta) for a set with timeout=None.
    CACHE_KEY_PREFIX: prepended to every key (Flask-Caching's default is
        "flask_cache_").
    CACHE_LIBCACHE_MAX_BYTES: the byte bound (default 64 MiB; None: none).
    CACHE_LIBCACHE_MAX_ENTRIES: the entry bound; when the key is absent,
        CACHE_THRESHOLD is used (SimpleCache's entry bound, 500 by default;
        0 or None: no entry bound). At least one bound must remain.
    CACHE_LIBCACHE_POLICY: the eviction policy, "clock" (the default) or
        "adaptive" (frequency-aware: Cache(policy=...)).
    CACHE_LIBCACHE_REDIS_URL: attach Redis as the shared tier (read-through,
        coherent near cache by default; see Cache.attach_redis).
    CACHE_LIBCACHE_WRITE_MODE: "behind" (the default: a write is local at
        once and reaches Redis within milliseconds) or "through" (set, add,
        delete return once Redis applied the write: store.set_sync/delete_sync).
    CACHE_LIBCACHE_REDIS_OPTIONS: a dict of further attach_redis() keywords
        (prefix, read_through, coherence, flush_interval, timeouts...).
    CACHE_OPTIONS / CACHE_ARGS: as for every backend (keyword and positional
        arguments of LibcacheCache).
    CACHE_SERIALIZER: honoured (it replaces the serializer of pickled values).

Semantics follow cachelib's SimpleCache (Flask-Caching's "SimpleCache"):
    * get of a missing or expired key returns None; set returns True; add
      returns False when the key is present; delete returns whether the key
      was there; has, clear, get_many, set_many, delete_many, get_dict, inc,
      dec as in cachelib.BaseCache (inc/dec of a missing key starts at 0; a
      lock makes them atomic within the process, not across processes sharing
      Redis).
    * Timeouts: None means default_timeout; 0 means never expires (also
      libcache's rule); a datetime.timedelta is rounded up to whole seconds; a
      float is deprecated by cachelib (DeprecationWarning) and rounded up; a
      negative timeout stores nothing (the key is removed, set returns True:
      the value would have expired at once, as with SimpleCache). Expiry is
      exact to the millisecond (SimpleCache rounds to whole seconds).
    * An unpicklable value raises (pickle.PicklingError, TypeError or
      AttributeError, as pickle raises them) and nothing is stored.
      SimpleCache stores a broken entry instead, whose get raises TypeError.

Copy versus object (the decision):
    SimpleCache pickles every value, so a value read back is a new copy, and
    mutating the object passed to set (or returned by get) never changes the
    cached one. LibcacheCache keeps that guarantee and avoids the pickle where
    it cannot be observed: the engine runs with values="object" (it holds
    objects by reference), and a value is stored as it is when it is
    immutable all the way down -- exactly str, bytes, int, float, complex,
    bool, None, or a tuple or frozenset of such values (at most 16 levels
    deep; subclasses do not count). Such a value cannot be mutated, so
    handing back the same object is indistinguishable from a copy, and a hit
    costs no pickle.loads. Every other value (list, dict, set, bytearray,
    class instances, subclasses of the immutable types...) is pickled by
    the serializer at set and unpickled at every get, a fresh copy each time,
    as with SimpleCache. The pickled bytes are what max_bytes charges (an
    immutable value is charged sys.getsizeof's shallow size, so a tuple's
    elements are not counted). With Redis attached, values reach Redis
    through the engine's type tags and libcache's "pickle" codec, so other
    LibcacheCache instances (other processes) read back the same types.
    Only trusted data: pickle is not safe against a hostile Redis.
"""

from __future__ import annotations

import datetime as dt
import pickle
import threading
from typing import Any, Dict, List, Optional, Union

from cachelib.serializers import SimpleSerializer
from flask_caching.backends.base import BaseCache

from .._cache import Cache
from .._redis import RedisStore

__all__ = ["LibcacheCache"]

_Timeout = Union[int, float, dt.timedelta, None]

_MISSING: Any = object()
_IMMUTABLE_SCALARS = frozenset({str, bytes, int, float, complex, bool, type(None)})
_MAX_DEPTH = 16


class _Pickled(bytes):
    """A value pickled by the backend's serializer: unpickled (a new copy) at every get."""

    __slots__ = ()

    def __reduce__(self) -> Any:  # pickled (to Redis) as itself, not as its bytes
        return (_Pickled, (bytes(self),))


def _immutable(value: Any, depth: int = 0) -> bool:
    t = type(value)
    if t in _IMMUTABLE_SCALARS:
        return True
    if (t is tuple or t is frozenset) and depth < _MAX_DEPTH:
        return all(_immutable(v, depth + 1) for v in value)
    return False


def _redis_glob(prefix: str) -> str:
    # The prefix as a literal in a Redis glob (KEYS pattern), then "*".
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in prefix) + "*"


# Deletes the keys under a prefix (KEYS, as cachelib's RedisCache.clear does).
_CLEAR_SCRIPT = (
    "local n = 0 "
    "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) n = n + 1 end "
    "return n"
)


class LibcacheCache(BaseCache):
    """A Flask-Caching backend storing into a libcache.Cache (optionally over Redis).

    Args:
        default_timeout: seconds for timeout=None (0: never expires).
        ignore_delete_many_errors: as for every cachelib cache.
        key_prefix: prepended to every key.
        max_bytes, max_entries: the bounds of the libcache.Cache (None: no
            such bound; at least one is needed).
        redis_url: if set, attach_redis(redis_url, **redis_options).
        write_mode: "behind" or "through" (only with redis_url).
        redis_options: further attach_redis() keywords.
        cache: an existing libcache.Cache with values="object" to use instead
            of making one (the bounds and Redis options are then not used;
            the backend does not close it).
    """

    serializer: Any = SimpleSerializer()

    def __init__(
        self,
        default_timeout: _Timeout = 300,
        ignore_delete_many_errors: bool = False,
        *,
        key_prefix: str = "",
        max_bytes: Optional[int] = 64 << 20,
        max_entries: Optional[int] = None,
        policy: str = "clock",
        redis_url: Optional[str] = None,
        write_mode: str = "behind",
        redis_options: Optional[Dict[str, Any]] = None,
        cache: Optional[Cache] = None,
    ) -> None:
        super().__init__(
            default_timeout=default_timeout,  # type: ignore[arg-type]
            ignore_delete_many_errors=ignore_delete_many_errors,
        )
        if not isinstance(key_prefix, str):
            raise TypeError(f"key_prefix must be a str, not {type(key_prefix).__name__}")
        if write_mode not in ("behind", "through"):
            raise ValueError(f'write_mode must be "behind" or "through", not {write_mode!r}')
        if write_mode == "through" and redis_url is None and cache is None:
            raise ValueError('write_mode="through" needs redis_url (the shared tier to write through to)')
        self.key_prefix = key_prefix
        self._lock = threading.Lock()  # inc/dec: read-modify-write within this process
        self._owns_cache = cache is None
        if cache is None:
            cache = Cache(
                max_bytes=max_bytes, max_entries=max_entries, policy=policy, codec="pickle", values="object"
            )
        elif cache.values != "object":
            raise ValueError('cache= must be a libcache.Cache with values="object"')
        self._cache = cache
        self._store: Optional[RedisStore] = None
        if redis_url is not None:
            try:
                self._store = cache.attach_redis(redis_url, **(redis_options or {}))
            except BaseException:
                if self._owns_cache:
                    cache.close()
                raise
        elif cache.redis_store is not None and not cache.redis_store.closed:
            self._store = cache.redis_store
        self._through = write_mode == "through" and self._store is not None

    @classmethod
    def factory(
        cls,
        app: Any,
        config: Dict[str, Any],
        args: List[Any],
        kwargs: Dict[str, Any],
    ) -> "LibcacheCache":
        """Builds the backend from the app's config (see the module docstring)."""
        options: Dict[str, Any] = {
            "key_prefix": config.get("CACHE_KEY_PREFIX") or "",
            "max_bytes": config.get("CACHE_LIBCACHE_MAX_BYTES", 64 << 20),
            "max_entries": (
                config["CACHE_LIBCACHE_MAX_ENTRIES"]
                if "CACHE_LIBCACHE_MAX_ENTRIES" in config
                else (config.get("CACHE_THRESHOLD") or None)
            ),
            "policy": config.get("CACHE_LIBCACHE_POLICY") or "clock",
            "redis_url": config.get("CACHE_LIBCACHE_REDIS_URL"),
            "write_mode": config.get("CACHE_LIBCACHE_WRITE_MODE") or "behind",
            "redis_options": config.get("CACHE_LIBCACHE_REDIS_OPTIONS"),
        }
        options.update(kwargs)  # CACHE_OPTIONS win, as for the other backends
        return cls(*args, **options)

    # ---- helpers ---------------------------------------------------------------

    @property
    def cache(self) -> Cache:
        """The libcache.Cache this backend stores into."""
        return self._cache

    @property
    def redis_store(self) -> Optional[RedisStore]:
        """The RedisStore of the shared tier, or None."""
        return self._store

    def _key(self, key: str) -> str:
        return self.key_prefix + key

    def _ttl(self, timeout: _Timeout) -> Optional[float]:
        """libcache's TTL for a cachelib timeout: 0 = never; None = already expired."""
        seconds = self._normalize_timeout(timeout)  # type: ignore[arg-type]
        if seconds < 0:
            return None
        return seconds

    def _encode(self, value: Any) -> Any:
        if _immutable(value):
            return value
        data = self.serializer.dumps(value)
        if data is None:  # cachelib's serializers log the error and return None
            raise pickle.PicklingError(f"could not serialize a value of type {type(value).__name__}")
        return _Pickled(data)

    def _decode(self, stored: Any) -> Any:
        if type(stored) is _Pickled:
            return self.serializer.loads(bytes(stored))
        return stored

    def _write(self, key: str, value: Any, ttl: float) -> None:
        if self._through:
            assert self._store is not None
            self._store.set_sync(key, value, ttl)
        else:
            self._cache.set(key, value, ttl)

    def _remove(self, key: str) -> bool:
        if self._through:
            assert self._store is not None
            existed = key in self._cache
            self._store.delete_sync(key)
            return existed
        return self._cache.delete(key)

    # ---- the cachelib API ------------------------------------------------------

    def get(self, key: str) -> Any:
        stored = self._cache.get(self._key(key), _MISSING)
        if stored is _MISSING:
            return None
        return self._decode(stored)

    def get_many(self, *keys: str) -> List[Any]:
        return [self.get(k) for k in keys]

    def has(self, key: str) -> bool:
        return self._key(key) in self._cache

    def set(self, key: str, value: Any, timeout: _Timeout = None) -> bool:
        ttl = self._ttl(timeout)
        stored = self._encode(value)
        k = self._key(key)
        if ttl is None:
            self._remove(k)
        else:
            self._write(k, stored, ttl)
        return True

    def add(self, key: str, value: Any, timeout: _Timeout = None) -> bool:
        ttl = self._ttl(timeout)
        stored = self._encode(value)
        k = self._key(key)
        if ttl is None:
            return k not in self._cache
        if self._through:
            # Not atomic across processes (Redis has no SET NX for the tagged value here).
            if k in self._cache:
                return False
            self._write(k, stored, ttl)
            return True
        return self._cache.add(k, stored, ttl)

    def set_many(self, mapping: Dict[str, Any], timeout: _Timeout = None) -> List[Any]:
        ttl = self._ttl(timeout)
        encoded = [(k, self._encode(v)) for k, v in mapping.items()]  # every value, before any write
        for k, stored in encoded:
            if ttl is None:
                self._remove(self._key(k))
            else:
                self._write(self._key(k), stored, ttl)
        return [k for k, _ in encoded]

    def delete(self, key: str) -> bool:
        return self._remove(self._key(key))

    def delete_many(self, *keys: str) -> List[Any]:
        deleted = []
        for key in keys:
            self.delete(key)
            deleted.append(key)  # absent afterwards: deleted, as cachelib counts it
        return deleted

    def clear(self) -> bool:
        """Empties the cache; with Redis, also deletes the keys under the store's prefix and CACHE_KEY_PREFIX."""
        store = self._store
        if store is not None and not store.closed:
            store.flush(timeout=5.0)
            pattern = _redis_glob(store.prefix.decode("utf-8", "surrogateescape") + self.key_prefix)
            store.command("EVAL", _CLEAR_SCRIPT, 0, pattern)
        self._cache.clear()
        return True

    def inc(self, key: str, delta: int = 1) -> Optional[int]:
        with self._lock:
            value = (self.get(key) or 0) + delta
            self.set(key, value)
            return value

    def dec(self, key: str, delta: int = 1) -> Optional[int]:
        return self.inc(key, -delta)

    def close(self) -> None:
        """Closes the cache this backend made (flushing its Redis store); a cache passed in is left open."""
        if self._owns_cache:
            if self._store is not None and not self._store.closed:
                self._store.close()
            self._cache.close()

    def __repr__(self) -> str:
        return f"<LibcacheCache key_prefix={self.key_prefix!r} {self._cache!r}>"
