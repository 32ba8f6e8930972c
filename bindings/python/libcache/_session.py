"""SessionStore: server-side sessions in a libcache.Cache, optionally shared through Redis.

A session id is 256 random bits from `secrets`, URL-safe (43 characters). The
store keeps, under "<prefix><id>", one record: a version header, then the
session's data and its absolute deadline (wall-clock seconds, so that servers
sharing the sessions through Redis agree on it) encoded with the store's
codec:

    b"S1:" <version, decimal> b":" codec.dumps({"data": ..., "deadline": ...})

The version starts at 1 and grows by one with every save(); Redis reads it
in the Lua scripts below, which is why it sits before the codec's bytes. A
record without the header (written by libcache 1.3, or by hand) is version 0.
The entry's TTL is the idle timeout, refreshed by get() and save() but never
past the absolute deadline. Ids are only ever accepted if the store issued
them and they are still live: save() never creates a session for an unknown
id, which is what keeps an attacker from choosing a victim's id (session
fixation).

A stored record is only accepted with a plausible deadline: a real number,
finite, and at most absolute_ttl (plus _SKEW, for servers whose clocks
disagree) ahead of the store's clock. Anything else (NaN, an infinity, a
string, a deadline of the year 3000) would never expire, so such a record is
treated as absent and deleted.

## Two modes
Local (the cache has no Redis store): the record lives in the cache only; a
lock per session key makes save() and rotate() atomic with respect to each
other. Shared (the cache has a RedisStore: cache.attach_redis()): Redis holds
the truth and every process's cache is a coherent near cache of it. There
every change is made in Redis before the call returns, never queued:

  create   RedisStore.set_sync (SET ... PXAT through the queue, waited for;
           the new record is in Redis and in this cache when it returns)
  save     a Lua script: SET only if the record's version is still the one
           this thread or task last saw (_SAVE); then this cache's copy is
           dropped (RedisStore.invalidate), so its next get() reads the new
           record from Redis: a process never serves its own older version
  rotate   a Lua script: copy to the new key (NX) and DEL the old one, as one
           step (_ROTATE); a save that comes after it finds no record
  destroy  DEL; this cache's copy dropped
  get      the near cache, else Redis (read-through); the idle deadline is
           moved (PEXPIREAT) only when it would move by more than
           refresh_fraction of idle_ttl (see SessionStore)

The scripts run with RedisStore.command (EVALSHA, EVAL after NOSCRIPT), on a
connection of the adapter's pool, not through the write-behind queue: no
session key ever has a local write waiting in the queue, whose value the
engine would keep over another server's change (<libcache/cache_store.h>:
"a key with a local write still waiting keeps its local value"). Every other
server's copy is dropped by Redis's invalidation (the adapter's coherence).
"""

from __future__ import annotations

import contextvars
import hashlib
import math
import numbers
import os
import re
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Union

from . import _codecs, _core
from ._cache import Cache
from ._errors import BackendError, CacheClosed, CodecError, Error, QueueFull, RedisReplyError, SessionConflict, Timeout

if TYPE_CHECKING:
    from ._redis import RedisStore

_SID = re.compile(r"[A-Za-z0-9_-]{43}\Z")
_SID_BYTES = 32  # 256 bits; token_urlsafe(32) is 43 characters
_SKEW = 300.0  # seconds a stored deadline may exceed now + absolute_ttl (clock differences)
_DEAD: Any = object()  # _parse: a session record that is expired or can never expire
_HEADER = re.compile(rb"S1:(0|[1-9][0-9]{0,17}):")  # the version header of a record
_BYTES_TAG = b"b"  # the binding's type tag of a bytes value (libcache/_cache.py), as Redis holds it
_REFRESH_TIMEOUT = 0.1  # seconds get() waits for Redis to move an idle deadline
_SEEN_MAX = 64  # versions remembered per thread or task (sessions it read or wrote)

# rotate() reads and deletes a session's record, save() replaces it: a lock
# per session key makes the two atomic with respect to each other, across
# every SessionStore of the process on a cache without Redis. Striped
# (sessions sharing a stripe only wait for each other's one or two engine
# calls); held around engine calls only, never around codec code, so it
# cannot be re-entered.
_STRIPES = 64
_locks = [threading.Lock() for _ in range(_STRIPES)]


def _lock_for(cache: Cache, key: str) -> "threading.Lock":
    return _locks[hash((id(cache), key)) % _STRIPES]


def _after_fork_in_child() -> None:
    # A lock that a parent thread held at fork() stays held in the child.
    global _locks
    _locks = [threading.Lock() for _ in range(_STRIPES)]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# The version of each session this thread or task last read (get) or wrote
# (create, save, rotate): what its next save() is checked against. A
# ContextVar, so that every thread and every asyncio task has its own (a task
# starts with a copy of its creator's); the dict is replaced, never changed in
# place, so that a copy never sees a later change of the original.
_seen: "contextvars.ContextVar[dict[tuple[int, str], int]]" = contextvars.ContextVar("libcache_sessions_seen")


_NONE_SEEN: dict[tuple[int, str], int] = {}  # never changed


def _seen_version(cache: Cache, key: str) -> Optional[int]:
    return _seen.get(_NONE_SEEN).get((id(cache), key))


def _remember(cache: Cache, key: str, version: Optional[int]) -> None:
    """Records (or, with None, forgets) the version of key this context saw."""
    old = _seen.get(_NONE_SEEN)
    k = (id(cache), key)
    if old.get(k) == version and (version is not None or k not in old):
        return  # the common case (a get of what this context saw last): no copy
    new = dict(old)
    new.pop(k, None)
    if version is not None:
        new[k] = version
        while len(new) > _SEEN_MAX:
            del new[next(iter(new))]  # the oldest
    _seen.set(new)


class _Script(NamedTuple):
    text: str
    sha: str


def _script(text: str) -> _Script:
    return _Script(text, hashlib.sha1(text.encode()).hexdigest())


# KEYS[1] the session's key in Redis; ARGV[1] the version expected, ARGV[2]
# the new value (as the cache stores it: type tag, then the record), ARGV[3]
# its expiry (ms since the epoch). 1 saved, 0 the version differs, -1 no
# session record there.
_SAVE = _script(
    """local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 1, 1) ~= 'b' then return -1 end
local v = string.match(cur, '^bS1:(%d+):') or '0'
if v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return 1
"""
)

# KEYS[1] the old key, KEYS[2] the new one; ARGV[1] the new key's expiry (ms
# since the epoch). 1 moved, 0 no session record under the old key, -1 the
# new key exists (an id collision: pick another).
_ROTATE = _script(
    """local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 1, 1) ~= 'b' then return 0 end
if not redis.call('SET', KEYS[2], cur, 'PXAT', ARGV[1], 'NX') then return -1 end
redis.call('DEL', KEYS[1])
return 1
"""
)


class _Loaded(NamedTuple):
    data: Any
    deadline: float  # absolute, wall-clock seconds
    left: float  # seconds before it
    version: int


class SessionStore:
    """Sessions with idle and absolute timeouts, stored in a Cache, shared through Redis if it has one.

    Args:
        cache: where sessions live (its bounds apply: a full cache evicts
            sessions like any other entry, so size it for them). If it has
            a Redis store (cache.attach_redis(...), before or after this
            store is made), sessions live in Redis and every server sees them.
        idle_ttl: seconds a session survives without get() or save().
        absolute_ttl: seconds a session survives at most, however active.
        codec: how session data is encoded: "json" (the default; data must be
            JSON-compatible), "pickle" (trusted data only) or an object with
            dumps() and loads().
        prefix: key prefix of the store's entries (the Redis store's prefix
            comes before it in Redis).
        clock: wall-clock seconds (time.time), for the absolute deadline;
            replaceable in tests (a libcache._core.FakeClock, the same one the
            cache reads with Cache(_clock=...), moves both timeouts at once).
        refresh_fraction: with Redis, get() moves the idle deadline only when
            that moves it by more than refresh_fraction * idle_ttl (from 0, on
            every get, to below 1; default 0.25): a PEXPIREAT on every request
            would invalidate every other server's copy. Without Redis every
            get() refreshes it (a local touch costs nothing).
        timeout: with Redis, seconds create, save, rotate and destroy wait for
            Redis before raising BackendError.

    Timeouts follow the package's TTL rule (an int, a float or another real
    number such as Decimal; not bool, NaN or infinite), and must be > 0.

    Idle expiry: without Redis, a session ends idle_ttl after its last get()
    or save(). With Redis, between (1 - refresh_fraction) * idle_ttl and
    idle_ttl after its last get() (the deadline moves only in steps), and
    idle_ttl after its last save(); never later than the absolute deadline.
    Redis's TTL on the key is min(idle deadline, absolute deadline), so Redis
    ends it by itself.

    Lost updates: save() checks the session's version against the one this
    thread (or asyncio task) last read with get() or wrote, and raises
    SessionConflict if it was saved since, by another server or another
    thread, instead of silently overwriting that update (nothing is written):
    get() the session again, reapply the change, save() again. A save()
    with no earlier get() of the session in this thread or task saves over
    whatever version is current. With Redis, Redis checks the version (a Lua
    script), so this holds across servers.

    Concurrency: every method may be called from any thread. save() and
    rotate() of one session are atomic with respect to each other: a save()
    that returns normally landed before the rotation, and its data moved to
    the new id; a save() that comes after it raises KeyError (without Redis:
    a lock per session key in this process; with Redis: both are one Lua
    script each, across every server).

    Shared sessions (a cache with a Redis store; it needs read_through and
    coherence on, the defaults, and raises Error otherwise):
      - create, save, rotate and destroy are write-through: when they return,
        Redis has the change, and the next request to any server sees it (a
        server that still holds the old record serves it until Redis's
        invalidation reaches it: the README gives the window measured). When
        Redis cannot be reached, or does not answer within timeout, they raise
        BackendError and nothing changed locally: no session ever exists in
        one process only. After a timeout the change itself may or may not
        have reached Redis (a rotate: the old id then either still works or
        is refused everywhere; a create: the new id was never handed out).
      - get() while Redis is unreachable: a local copy is served only while
        the adapter vouches for it. Once the adapter notices the loss (at
        once when a connection drops, within health_interval plus the
        command timeout when Redis stops answering) it drops every clean
        local copy, and until tracking is back every read goes to Redis:
        get() then returns None, as for an unknown id (it never raises).
        So a session destroyed elsewhere is never served for longer than the
        invalidation delay, or that detection time when Redis is lost.
      - An id the store did not issue costs what a miss costs (one lookup in
        this cache and one in Redis; a malformed one not even that) and
        answers the same as an expired one: there is no oracle.
      - If the cache's Redis store was closed, every method raises
        CacheClosed (sessions would otherwise go on in this process only).
    """

    def __init__(
        self,
        cache: Cache,
        idle_ttl: float = 1800,
        absolute_ttl: float = 86400,
        codec: Union[str, _codecs.Codec] = "json",
        prefix: str = "session:",
        clock: Callable[[], float] = time.time,
        *,
        refresh_fraction: float = 0.25,
        timeout: float = 1.0,
    ) -> None:
        if not isinstance(cache, Cache):
            raise TypeError(f"cache must be a libcache.Cache, not {type(cache).__name__}")
        for name, value in (("idle_ttl", idle_ttl), ("absolute_ttl", absolute_ttl), ("timeout", timeout)):
            _core._ttl_ms(value, name, "timeout")  # the package's one TTL rule
        if isinstance(refresh_fraction, bool) or not isinstance(refresh_fraction, numbers.Real):
            raise TypeError(f"refresh_fraction must be a number, not {type(refresh_fraction).__name__}")
        if not 0 <= float(refresh_fraction) < 1:
            raise ValueError(f"refresh_fraction must be >= 0 and < 1; got {refresh_fraction!r}")
        if codec is None:
            raise ValueError("a SessionStore needs a codec: 'json', 'pickle' or an object with dumps()/loads()")
        self._cache: Cache = cache
        self._idle: float = float(idle_ttl)
        self._absolute: float = float(absolute_ttl)
        self._codec: Any = _codecs.resolve(codec)
        self._prefix: str = prefix
        self._clock: Callable[[], float] = clock
        self._fraction: float = float(refresh_fraction)
        self._timeout: float = float(timeout)

    @property
    def idle_ttl(self) -> float:
        return self._idle

    @property
    def absolute_ttl(self) -> float:
        return self._absolute

    @property
    def shared(self) -> bool:
        """True when the sessions live in Redis (the cache has an open Redis store)."""
        return self._redis() is not None

    # ---- records ---------------------------------------------------------------------

    def _key(self, sid: object) -> Optional[str]:
        # Only the shape of an id this store issues is looked up at all.
        if isinstance(sid, str) and _SID.match(sid):
            return self._prefix + sid
        return None

    def _encode(self, data: Any, deadline: float, version: int) -> bytes:
        try:
            raw = self._codec.dumps({"data": data, "deadline": deadline})
            if isinstance(raw, str):
                raw = raw.encode()
        except (CodecError, MemoryError):
            raise
        except Exception as e:
            raise CodecError(
                f"the session codec's dumps() failed on a {type(data).__name__} ({type(e).__name__}: {e})"
            ) from e
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise CodecError(f"the session codec's dumps() returned {type(raw).__name__}; it must return bytes or str")
        return b"S1:%d:" % version + bytes(raw)

    def _parse(self, raw: object, now: float) -> Any:
        """(data, deadline, version) of a live session record, _DEAD for a dead one, None if raw is not one."""
        if not isinstance(raw, bytes):
            return None
        header = _HEADER.match(raw) if raw.startswith(b"S1:") else None
        version = int(header.group(1)) if header else 0
        try:
            record = self._codec.loads(raw[header.end() :] if header else raw)
            data, deadline = record["data"], record["deadline"]
        except Exception:
            return None  # not a session record: never accepted
        # What the store writes: a float, finite, at most absolute_ttl ahead.
        if not (type(deadline) is int or (type(deadline) is float and math.isfinite(deadline))):
            return _DEAD  # NaN, an infinity, a string, a bool: it would never expire
        if deadline > now + self._absolute + _SKEW:
            return _DEAD  # a deadline this store never gives
        if deadline <= now:
            return _DEAD
        return data, float(deadline), version

    def _load(self, key: str, rs: "Optional[RedisStore]") -> Optional[_Loaded]:
        """The live session under key (from this cache, or through it from Redis).

        A dead record (expired, or with a deadline that would never come) is
        deleted: locally, or with Redis only if its deadline would never come
        (an expired one is Redis's to end, at the TTL it has there: this
        server's clock may be ahead).
        """
        now = self._clock()
        raw = self._cache.get(key)
        parsed = self._parse(raw, now)
        if parsed is _DEAD:
            if rs is None:
                self._cache.delete(key)
            elif not self._expired(raw, now):
                self._delete_in_redis(rs, key)
            return None
        if parsed is None:
            return None
        data, deadline, version = parsed
        return _Loaded(data, deadline, deadline - now, version)

    def _load_for_write(self, key: str, rs: "Optional[RedisStore]") -> _Loaded:
        """_load for save and rotate: KeyError if there is no live session.

        With Redis, a miss is asked again of Redis itself (GET), so that an
        unreachable Redis raises BackendError rather than KeyError (a read
        through the cache answers a failure as a miss), and a read that timed
        out does not fail a save. Every unknown id costs the same.
        """
        loaded = self._load(key, rs)
        if loaded is not None:
            return loaded
        if rs is not None:
            raw = self._command(rs, "GET", self._rkey(rs, key))
            if isinstance(raw, bytes) and raw[:1] == _BYTES_TAG:
                now = self._clock()
                parsed = self._parse(raw[1:], now)
                if parsed is not None and parsed is not _DEAD:
                    data, deadline, version = parsed
                    return _Loaded(data, deadline, deadline - now, version)
        raise KeyError("unknown or expired session")

    def _expired(self, raw: object, now: float) -> bool:
        try:
            assert isinstance(raw, bytes)
            header = _HEADER.match(raw)
            deadline = self._codec.loads(raw[header.end() :] if header else raw)["deadline"]
            return type(deadline) in (int, float) and math.isfinite(deadline) and deadline <= now
        except Exception:
            return False

    def _ttl(self, left: float) -> float:
        return min(self._idle, left)

    # ---- Redis ------------------------------------------------------------------------

    def _redis(self) -> "Optional[RedisStore]":
        """The cache's Redis store, None without one; raises if it cannot hold shared sessions."""
        rs = self._cache._redis_store
        if rs is None:
            return None
        if rs.closed:
            raise CacheClosed(
                "the cache's Redis store is closed: its sessions are shared through Redis, and this process "
                "alone cannot serve them (attach a new store, or use a cache that never had one)"
            )
        if not rs.coherence:
            raise Error(
                "a SessionStore over Redis needs the store's read_through=True and coherence=True (the "
                "defaults): without them a session destroyed on one server would still be served on others"
            )
        return rs

    def _rkey(self, rs: "RedisStore", key: str) -> bytes:
        return rs.prefix + key.encode()

    def _eval(self, rs: "RedisStore", script: _Script, keys: list[bytes], args: list[Union[bytes, int, str]]) -> Any:
        try:
            try:
                return rs.command("EVALSHA", script.sha, len(keys), *keys, *args, timeout=self._timeout)
            except RedisReplyError as e:
                if not str(e).startswith("NOSCRIPT"):
                    raise
            return rs.command("EVAL", script.text, len(keys), *keys, *args, timeout=self._timeout)
        except RedisReplyError as e:
            raise BackendError(f"Redis refused the session script: {e}") from e

    def _command(self, rs: "RedisStore", *args: Union[bytes, str, int], timeout: Optional[float] = None) -> Any:
        try:
            return rs.command(*args, timeout=self._timeout if timeout is None else timeout)
        except RedisReplyError as e:
            raise BackendError(f"Redis refused {args[0]!r}: {e}") from e

    def _delete_in_redis(self, rs: "RedisStore", key: str) -> None:
        try:
            self._command(rs, "DEL", self._rkey(rs, key))
            rs.invalidate(key)
        except (BackendError, CacheClosed):
            pass  # a record that never expires is only skipped, until next time

    @staticmethod
    def _expiry_ms(now: float, left: float, idle: float) -> int:
        return int((now + min(idle, left)) * 1000)

    # ---- the API ----------------------------------------------------------------------

    def create(self, data: Any) -> str:
        """Starts a session holding data; returns its new id.

        With Redis: in Redis (and in this cache) when it returns; BackendError
        if Redis did not confirm it within timeout (no id is handed out).
        """
        rs = self._redis()
        deadline = self._clock() + self._absolute
        value = self._encode(data, deadline, 1)
        if rs is None:
            while True:  # a collision of 256 random bits does not happen; add() makes sure
                sid = secrets.token_urlsafe(_SID_BYTES)
                if self._cache.add(self._prefix + sid, value, ttl=self._ttl(self._absolute)):
                    break
        else:
            # 256 random bits: no collision check (SET, not SET NX: set_sync
            # is the write that also fills this cache).
            sid = secrets.token_urlsafe(_SID_BYTES)
            try:
                rs.set_sync(self._prefix + sid, value, ttl=self._ttl(self._absolute), timeout=self._timeout)
            except (Timeout, QueueFull) as e:
                raise BackendError(f"create: Redis did not confirm the new session within {self._timeout} s ({e})") from e
        _remember(self._cache, self._prefix + sid, 1)
        return sid

    def get(self, sid: str) -> Any:
        """The session's data, refreshing its idle timeout; None if the id is unknown or expired.

        With Redis: from this cache if it holds a coherent copy, else from
        Redis; None also while Redis is unreachable (see the class docstring).
        """
        key = self._key(sid)
        if key is None:
            return None
        rs = self._redis()
        loaded = self._load(key, rs)
        if loaded is None:
            return None
        _remember(self._cache, key, loaded.version)
        want = self._ttl(loaded.left)
        if rs is None:
            self._cache.touch(key, want)
            return loaded.data
        try:
            left = self._cache.ttl(key)  # the idle deadline as Redis gave it
        except KeyError:
            left = None  # served, not kept (dropped since, or not coherent): nothing to compare with
        if left is not None and want - left > self._fraction * self._idle:
            try:
                self._command(
                    rs,
                    "PEXPIREAT",
                    self._rkey(rs, key),
                    self._expiry_ms(self._clock(), loaded.left, self._idle),
                    timeout=min(self._timeout, _REFRESH_TIMEOUT),
                )
                rs.invalidate(key)  # the next get reads the new TTL (Redis's invalidation follows)
            except (BackendError, CacheClosed):
                pass  # the session stays live until its current deadline; a later get tries again
        return loaded.data

    def save(self, sid: str, data: Any) -> None:
        """Replaces the session's data (and refreshes its idle timeout).

        Raises KeyError if the id is unknown or expired (save() never creates
        a session), SessionConflict if the session was saved (here or on
        another server) since this thread or task last read it: nothing was
        written; get() it again, reapply the change and save again. With
        Redis: in Redis when it returns; BackendError if Redis did not answer
        within timeout (after a timeout the save may or may not have landed).
        """
        key = self._key(sid)
        rs = self._redis()
        if key is None:
            raise KeyError("unknown or expired session")
        loaded = self._load_for_write(key, rs)
        expected = _seen_version(self._cache, key)
        if expected is None:
            expected = loaded.version  # no earlier read here: over what is current
        # The deadline carries over unchanged; the codec runs outside any lock.
        value = self._encode(data, loaded.deadline, expected + 1)
        if rs is None:
            self._save_local(key, value, expected, loaded.left)
        else:
            self._save_redis(rs, key, value, expected, loaded.left)
        _remember(self._cache, key, expected + 1)

    def _conflict(self, key: str) -> SessionConflict:
        return SessionConflict(
            f"session {key[len(self._prefix):][:6]}...: saved elsewhere since this thread or task read it; nothing "
            "was written. get() it again, reapply your change, and save() again"
        )

    def _save_local(self, key: str, value: bytes, expected: int, left: float) -> None:
        with _lock_for(self._cache, key):  # not in the middle of a rotate() or another save()
            raw = self._cache.get(key)
            if not isinstance(raw, bytes):  # expired, destroyed or rotated since the load
                raise KeyError("unknown or expired session")
            header = _HEADER.match(raw)
            if (int(header.group(1)) if header else 0) != expected:
                raise self._conflict(key)
            saved = self._cache.replace(key, value, ttl=self._ttl(left))
        if not saved:
            raise KeyError("unknown or expired session")

    def _save_redis(self, rs: "RedisStore", key: str, value: bytes, expected: int, left: float) -> None:
        now = self._clock()
        try:
            outcome = self._eval(
                rs,
                _SAVE,
                [self._rkey(rs, key)],
                [str(expected), _BYTES_TAG + value, self._expiry_ms(now, left, self._idle)],
            )
        finally:
            # Saved, refused or unknown (a timeout): this cache's copy is not
            # to be trusted as the current record any more.
            rs.invalidate(key)
        if outcome == 0:
            raise self._conflict(key)
        if outcome != 1:
            raise KeyError("unknown or expired session")

    def rotate(self, sid: str) -> str:
        """Moves the session to a new id (after a login or a privilege change).

        The old id stops working (with Redis: on every server, as soon as
        Redis's invalidation reaches it); the data and the absolute deadline
        carry over, including those of any save() that returned before.
        Raises KeyError if the id is unknown or expired, or was rotated or
        destroyed concurrently; with Redis, BackendError as for save().
        """
        key = self._key(sid)
        rs = self._redis()
        if key is None:
            raise KeyError("unknown or expired session")
        loaded = self._load_for_write(key, rs)
        if rs is not None:
            return self._rotate_redis(rs, key, loaded)
        # The record is read and deleted as one step against save(): what
        # moves is the latest saved record, and a save() after this fails.
        # Deleting also means that of two concurrent rotations only one wins.
        with _lock_for(self._cache, key):
            value = self._cache.get(key)
            if not isinstance(value, bytes) or not self._cache.delete(key):
                raise KeyError("unknown or expired session")
        now = self._clock()
        parsed = self._parse(value, now)
        if parsed is None or parsed is _DEAD:  # expired since the load
            raise KeyError("unknown or expired session")
        left = parsed[1] - now
        while True:
            new_sid = secrets.token_urlsafe(_SID_BYTES)
            if self._cache.add(self._prefix + new_sid, value, ttl=self._ttl(left)):
                break
        self._moved(key, self._prefix + new_sid, parsed[2])
        return new_sid

    def _rotate_redis(self, rs: "RedisStore", key: str, loaded: _Loaded) -> str:
        while True:
            new_sid = secrets.token_urlsafe(_SID_BYTES)
            new_key = self._prefix + new_sid
            now = self._clock()
            if loaded.deadline <= now:
                raise KeyError("unknown or expired session")
            try:
                outcome = self._eval(
                    rs,
                    _ROTATE,
                    [self._rkey(rs, key), self._rkey(rs, new_key)],
                    [self._expiry_ms(now, loaded.deadline - now, self._idle)],
                )
            finally:
                rs.invalidate(key)  # moved, gone, or unknown (a timeout): read it from Redis next time
            if outcome != -1:  # -1: the new id exists already (it does not happen): another one
                break
        if outcome != 1:
            raise KeyError("unknown or expired session")
        self._moved(key, new_key, loaded.version)
        return new_sid

    def _moved(self, old_key: str, new_key: str, version: int) -> None:
        seen = _seen_version(self._cache, old_key)
        _remember(self._cache, old_key, None)
        _remember(self._cache, new_key, version if seen is None else seen)

    def destroy(self, sid: str) -> bool:
        """Ends the session (logout); True if it existed.

        With Redis: deleted in Redis when it returns, refused by every server
        once Redis's invalidation reaches it; BackendError if Redis did not
        answer within timeout (this cache's copy is dropped anyway).
        """
        key = self._key(sid)
        rs = self._redis()
        if key is None:
            return False
        _remember(self._cache, key, None)
        if rs is None:
            return self._cache.delete(key)
        try:
            existed = self._command(rs, "DEL", self._rkey(rs, key))
        finally:
            rs.invalidate(key)
        return bool(existed)

    def __repr__(self) -> str:
        return f"<libcache.SessionStore idle_ttl={self._idle} absolute_ttl={self._absolute} prefix={self._prefix!r}>"
