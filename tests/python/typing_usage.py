"""Typical use of libcache's public API, checked with mypy --strict by
test_typing.py (never imported by the tests). If the package's annotations or
stubs break, mypy fails here."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional, Union

import libcache
from libcache import (
    ArrayReply,
    BackendError,
    Cache,
    CacheClosed,
    CacheInfo,
    CacheStats,
    Codec,
    Error,
    JsonCodec,
    KeyTooLarge,
    RedisReplyError,
    RedisStats,
    RedisStore,
    SessionConflict,
    SessionStore,
    UnsupportedValue,
    ValueTooLarge,
    cached,
)


class UpperJson:
    """A custom codec: any object with dumps() and loads()."""

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value).upper().encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data.lower())


def basic(cache: Cache) -> int:
    cache.set("user:1", b"\x00raw")
    cache.set(b"user:2", "text", ttl=60)
    cache.set("user:3", 3, ttl=0.5)
    cache.set("user:4", None, ttl=None)
    cache["user:5"] = 2.5
    value: Any = cache["user:5"]
    maybe: Any = cache.get("user:1")
    with_default: Union[Any, int] = cache.get("user:9", 0)
    added: bool = cache.add("user:6", True)
    replaced: bool = cache.replace("user:6", False, ttl=10)
    deleted: bool = cache.delete("user:6")
    popped: Any = cache.pop("user:5")
    popped_default: Any = cache.pop("user:5", None)
    present: bool = "user:1" in cache
    del cache["user:1"]
    touched: bool = cache.touch("user:2", 120.0)
    left: Optional[float] = cache.ttl("user:2")
    if left is not None:
        assert left > 0
    purged: int = cache.purge_expired()
    size: int = len(cache)
    cache.clear()
    del value, maybe, with_default, added, replaced, deleted, popped, popped_default
    del present, touched, purged
    return size


def stats(cache: Cache) -> float:
    s: CacheStats = cache.stats()
    total: int = s.hits + s.misses + s.evictions + s.expirations + s.entries + s.bytes
    ratio: float = s.hit_ratio
    return ratio + total


def properties(cache: Cache) -> str:
    max_bytes: Optional[int] = cache.max_bytes
    max_entries: Optional[int] = cache.max_entries
    default_ttl: Optional[float] = cache.default_ttl
    shards: int = cache.shard_count
    policy: str = cache.policy
    closed: bool = cache.closed
    return f"{max_bytes} {max_entries} {default_ttl} {shards} {policy} {closed} {cache.codec!r}"


def constructors() -> list[Cache]:
    caches = [
        Cache(),
        Cache(max_bytes=64 << 20),
        Cache(max_bytes=None, max_entries=10_000),
        Cache(max_bytes=1 << 20, max_entries=100, default_ttl=30.0, shards=4),
        Cache(codec="json"),
        Cache(codec="pickle"),
        Cache(codec=JsonCodec()),
        Cache(codec=UpperJson()),
        Cache(max_entries=10_000, policy="adaptive"),
    ]
    codec: Codec = UpperJson()
    caches.append(Cache(codec=codec))
    return caches


def lifetime() -> None:
    with Cache(max_entries=10) as cache:
        cache.set("k", "v")
    try:
        cache.get("k")
    except CacheClosed:
        pass
    other = Cache(max_bytes=1 << 20)
    other.close()


def errors(cache: Cache) -> Optional[str]:
    try:
        cache.set("k" * 70_000, 1)
    except KeyTooLarge as e:
        return str(e)
    except ValueTooLarge as e:
        return str(e)
    except UnsupportedValue as e:
        return str(e)
    except Error as e:
        return str(e)
    return None


def loading(cache: Cache) -> int:
    n: int = cache.get_or_set("answer", lambda: 42, ttl=60)
    s: str = cache.get_or_set("name", lambda: "Ada")
    return n + len(s)


async def loading_async(cache: Cache) -> str:
    async def load() -> str:
        await asyncio.sleep(0)
        return "loaded"

    value: str = await cache.get_or_set_async("k", load, ttl=5)
    return value


def decorated(cache: Cache) -> int:
    @cached
    def square(x: int) -> int:
        return x * x

    @cached(cache=cache, ttl=60)
    def user_name(user_id: int) -> str:
        return f"user {user_id}"

    @cached(cache, key=lambda user_id: f"u:{user_id}")
    def user_age(user_id: int) -> int:
        return user_id + 20

    @cached(typed=True)
    def half(x: float) -> float:
        return x / 2

    info: CacheInfo = square.cache_info()  # type: ignore[attr-defined]
    return square(3) + len(user_name(1)) + user_age(2) + info.hits + int(half(4.0))


def sessions(cache: Cache) -> Any:
    store = SessionStore(cache, idle_ttl=1800, absolute_ttl=86400)
    sid: str = store.create({"user": 42})
    data: Any = store.get(sid)
    store.save(sid, {"user": 42, "cart": [1, 2]})
    new_sid: str = store.rotate(sid)
    ended: bool = store.destroy(new_sid)
    idle: float = store.idle_ttl
    del ended, idle
    return data


def redis_tier(cache: Cache) -> int:
    store: RedisStore = cache.attach_redis(
        "redis://127.0.0.1:6379/0", prefix="app:", coherence=True, health_interval=0.1, read_timeout=0.1
    )
    same: Optional[RedisStore] = cache.redis_store
    s: RedisStats = store.stats()
    age: Optional[float] = s.health_check_age
    counts: int = s.invalidations + s.invalidated + s.conflicts + s.fills_refused + s.tracking_resets
    counts += s.invalidation_messages + s.flushall_messages + s.connects + s.connect_errors + s.fenced
    flags: bool = s.coherent and s.coherence and s.tracking and store.coherence and store.read_through
    prefix: bytes = store.prefix
    try:
        reply: Any = store.command("EVAL", "return 1", 0, timeout=0.5)
        if isinstance(reply, ArrayReply):
            counts += reply.length
    except RedisReplyError as e:
        print(e)
    except BackendError:
        pass
    store.invalidate("user:1")
    unflushed: int = store.close(timeout=5)
    del same, age, flags, prefix
    return counts + unflushed


async def redis_async(store: RedisStore) -> Any:
    return await store.command_async("PING")


def shared_sessions(cache: Cache) -> Any:
    store = SessionStore(cache, idle_ttl=1800, absolute_ttl=86400, refresh_fraction=0.25, timeout=1.0)
    shared: bool = store.shared
    sid = store.create({"cart": []})
    while True:
        data: Any = store.get(sid)
        data["cart"].append(1)
        try:
            store.save(sid, data)
            break
        except SessionConflict:
            continue
    del shared
    return data


def module_constants() -> str:
    limit: int = libcache.MAX_KEY_SIZE
    version: str = libcache.ENGINE_VERSION
    return f"{limit} {version} {libcache.__version__}"
