"""libcache: a fast, bounded, thread-safe in-process cache.

    from libcache import Cache, cached, SessionStore

    cache = Cache(max_bytes=64 << 20, default_ttl=300)
    cache["user:42"] = b"..."
    cache.get_or_set("user:43", lambda: load_user(43), ttl=60)

See README.md for the full API.
"""

from __future__ import annotations

from ._errors import (
    BackendError,
    CacheClosed,
    CodecError,
    Error,
    InternalError,
    InvalidArgument,
    KeyTooLarge,
    OutOfMemory,
    QueueFull,
    RedisReplyError,
    ReentrantLoad,
    SessionConflict,
    StoreError,
    StoreRejected,
    Timeout,
    UnsupportedValue,
    ValueTooLarge,
)
from ._codecs import Codec, JsonCodec, PickleCodec
from ._cache import Cache, CacheStats
from ._decorator import CacheInfo, cached
from ._session import SessionStore
from ._redis import ArrayReply, DeadLetter, RedisStats, RedisStore
from ._core import ENGINE_VERSION, MAX_KEY_SIZE

__version__ = "1.6.0"

__all__ = [
    "ArrayReply",
    "BackendError",
    "Cache",
    "CacheClosed",
    "CacheInfo",
    "CacheStats",
    "Codec",
    "CodecError",
    "DeadLetter",
    "ENGINE_VERSION",
    "Error",
    "InternalError",
    "InvalidArgument",
    "JsonCodec",
    "KeyTooLarge",
    "MAX_KEY_SIZE",
    "OutOfMemory",
    "PickleCodec",
    "QueueFull",
    "RedisReplyError",
    "RedisStats",
    "RedisStore",
    "ReentrantLoad",
    "SessionConflict",
    "SessionStore",
    "StoreError",
    "StoreRejected",
    "Timeout",
    "UnsupportedValue",
    "ValueTooLarge",
    "cached",
]
