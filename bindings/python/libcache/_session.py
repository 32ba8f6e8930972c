"""SessionStore: server-side sessions in a libcache.Cache.

A session id is 256 random bits from `secrets`, URL-safe (43 characters). The
store keeps, under "<prefix><id>", the session's data and its absolute
deadline (wall-clock seconds, so that servers sharing the sessions through
Redis agree on it), encoded with the store's codec. The entry's TTL is the
idle timeout, refreshed by every get() and save() but never past the absolute
deadline. Ids are only ever accepted if the store issued them and they are
still live: save() never creates a session for an unknown id, which is what
keeps an attacker from choosing a victim's id (session fixation).

A stored record is only accepted with a plausible deadline: a real number,
finite, and at most absolute_ttl (plus _SKEW, for servers whose clocks
disagree) ahead of the store's clock. Anything else (NaN, an infinity, a
string, a deadline of the year 3000) would never expire, so such a record is
treated as absent and deleted.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import threading
import time
from typing import Any, Callable, Optional, Union

from . import _codecs, _core
from ._cache import Cache
from ._errors import CodecError

_SID = re.compile(r"[A-Za-z0-9_-]{43}\Z")
_SID_BYTES = 32  # 256 bits; token_urlsafe(32) is 43 characters
_SKEW = 300.0  # seconds a stored deadline may exceed now + absolute_ttl (clock differences)
_DEAD: Any = object()  # _parse: a session record that is expired or can never expire

# rotate() reads and deletes a session's record, save() replaces it: a lock
# per session key makes the two atomic with respect to each other, across
# every SessionStore of the process. Striped (sessions sharing a stripe only
# wait for each other's one or two engine calls); held around engine calls
# only, never around codec code, so it cannot be re-entered.
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


class SessionStore:
    """Sessions with idle and absolute timeouts, stored in a Cache.

    Args:
        cache: where sessions live (its bounds apply: a full cache evicts
            sessions like any other entry, so size it for them).
        idle_ttl: seconds a session survives without get() or save().
        absolute_ttl: seconds a session survives at most, however active.
        codec: how session data is encoded: "json" (the default; data must be
            JSON-compatible), "pickle" (trusted data only) or an object with
            dumps() and loads().
        prefix: key prefix of the store's entries.
        clock: wall-clock seconds (time.time), for the absolute deadline;
            replaceable in tests (a libcache._core.FakeClock, the same one the
            cache reads with Cache(_clock=...), moves both timeouts at once).

    Timeouts follow the package's TTL rule (an int, a float or another real
    number such as Decimal; not bool, NaN or infinite), and must be > 0.

    Concurrency: every method may be called from any thread. save() and
    rotate() of one session are atomic with respect to each other: a save()
    that returns normally landed before the rotation, and its data moved to
    the new id; a save() that comes after it raises KeyError. That holds for
    every SessionStore of the process on the same Cache (a lock per session
    key). A Cache lives in one process, so no other process shares its
    sessions to race with (a forked child has its own copy, which then goes
    its own way); sessions shared between processes (through Redis) would
    need the backend's atomic read-and-delete for the same guarantee.
    """

    def __init__(
        self,
        cache: Cache,
        idle_ttl: float = 1800,
        absolute_ttl: float = 86400,
        codec: Union[str, _codecs.Codec] = "json",
        prefix: str = "session:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(cache, Cache):
            raise TypeError(f"cache must be a libcache.Cache, not {type(cache).__name__}")
        for name, value in (("idle_ttl", idle_ttl), ("absolute_ttl", absolute_ttl)):
            _core._ttl_ms(value, name, "timeout")  # the package's one TTL rule
        if codec is None:
            raise ValueError("a SessionStore needs a codec: 'json', 'pickle' or an object with dumps()/loads()")
        self._cache = cache
        self._idle = float(idle_ttl)
        self._absolute = float(absolute_ttl)
        self._codec = _codecs.resolve(codec)
        self._prefix = prefix
        self._clock = clock

    @property
    def idle_ttl(self) -> float:
        return self._idle

    @property
    def absolute_ttl(self) -> float:
        return self._absolute

    def _key(self, sid: object) -> Optional[str]:
        # Only the shape of an id this store issues is looked up at all.
        if isinstance(sid, str) and _SID.match(sid):
            return self._prefix + sid
        return None

    def _encode(self, data: Any, deadline: float) -> bytes:
        try:
            raw = self._codec.dumps({"data": data, "deadline": deadline})
            if isinstance(raw, str):
                return raw.encode()
        except (CodecError, MemoryError):
            raise
        except Exception as e:
            raise CodecError(
                f"the session codec's dumps() failed on a {type(data).__name__} ({type(e).__name__}: {e})"
            ) from e
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise CodecError(f"the session codec's dumps() returned {type(raw).__name__}; it must return bytes or str")
        return bytes(raw)

    def _parse(self, raw: object, now: float) -> Any:
        """(data, deadline) of a live session record, _DEAD for a dead one, None if raw is not one."""
        if not isinstance(raw, bytes):
            return None
        try:
            record = self._codec.loads(raw)
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
        return data, float(deadline)

    def _load(self, key: str) -> Optional[tuple[Any, float, float]]:
        """(data, absolute deadline, seconds left before it) of a live session.

        A dead record (expired, or with a deadline that would never come) is deleted.
        """
        now = self._clock()
        parsed = self._parse(self._cache.get(key), now)
        if parsed is _DEAD:
            self._cache.delete(key)
            return None
        if parsed is None:
            return None
        data, deadline = parsed
        return data, deadline, deadline - now

    def _ttl(self, left: float) -> float:
        return min(self._idle, left)

    def create(self, data: Any) -> str:
        """Starts a session holding data; returns its new id."""
        deadline = self._clock() + self._absolute
        value = self._encode(data, deadline)
        while True:  # a collision of 256 random bits does not happen; add() makes sure
            sid = secrets.token_urlsafe(_SID_BYTES)
            if self._cache.add(self._prefix + sid, value, ttl=self._ttl(self._absolute)):
                return sid

    def get(self, sid: str) -> Any:
        """The session's data, refreshing its idle timeout; None if the id is unknown or expired."""
        key = self._key(sid)
        if key is None:
            return None
        loaded = self._load(key)
        if loaded is None:
            return None
        data, _, left = loaded
        self._cache.touch(key, self._ttl(left))
        return data

    def save(self, sid: str, data: Any) -> None:
        """Replaces the session's data (and refreshes its idle timeout).

        Raises KeyError if the id is unknown or expired: save() never creates a session.
        """
        key = self._key(sid)
        loaded = self._load(key) if key is not None else None
        if key is None or loaded is None:
            raise KeyError("unknown or expired session")
        _, deadline, left = loaded  # the deadline carries over unchanged
        value = self._encode(data, deadline)  # the codec runs outside the lock
        with _lock_for(self._cache, key):  # not in the middle of a rotate()
            saved = self._cache.replace(key, value, ttl=self._ttl(left))
        if not saved:  # expired, destroyed or rotated since the load
            raise KeyError("unknown or expired session")

    def rotate(self, sid: str) -> str:
        """Moves the session to a new id (after a login or a privilege change).

        The old id stops working; the data and the absolute deadline carry
        over, including those of any save() that returned before. Raises
        KeyError if the id is unknown or expired, or was rotated or destroyed
        concurrently.
        """
        key = self._key(sid)
        if key is None or self._load(key) is None:
            raise KeyError("unknown or expired session")
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
                return new_sid

    def destroy(self, sid: str) -> bool:
        """Ends the session (logout); True if it existed."""
        key = self._key(sid)
        return key is not None and self._cache.delete(key)

    def __repr__(self) -> str:
        return f"<libcache.SessionStore idle_ttl={self._idle} absolute_ttl={self._absolute} prefix={self._prefix!r}>"
