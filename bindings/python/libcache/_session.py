"""SessionStore: server-side sessions in a libcache.Cache.

A session id is 256 random bits from `secrets`, URL-safe (43 characters). The
store keeps, under "<prefix><id>", the session's data and its absolute
deadline (wall-clock seconds, so that servers sharing the sessions through
Redis agree on it), encoded with the store's codec. The entry's TTL is the
idle timeout, refreshed by every get() and save() but never past the absolute
deadline. Ids are only ever accepted if the store issued them and they are
still live: save() never creates a session for an unknown id, which is what
keeps an attacker from choosing a victim's id (session fixation).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any, Callable, Optional, Union

from . import _codecs
from ._cache import Cache

_SID = re.compile(r"[A-Za-z0-9_-]{43}\Z")
_SID_BYTES = 32  # 256 bits; token_urlsafe(32) is 43 characters


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
        clock: wall-clock seconds (time.time); replaceable in tests.
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
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be seconds, not {type(value).__name__}")
            if not value > 0:
                raise ValueError(f"{name} must be > 0 seconds; got {value}")
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
        raw = self._codec.dumps({"data": data, "deadline": deadline})
        return raw.encode() if isinstance(raw, str) else bytes(raw)

    def _load(self, key: str) -> Optional[tuple[Any, float, float]]:
        """(data, absolute deadline, seconds left before it) of a live session."""
        raw = self._cache.get(key)
        if not isinstance(raw, bytes):
            return None
        try:
            record = self._codec.loads(raw)
            data, deadline = record["data"], float(record["deadline"])
        except Exception:
            return None  # not a session record: never accepted
        left = deadline - self._clock()
        if left <= 0:
            self._cache.delete(key)
            return None
        return data, deadline, left

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
        if not self._cache.replace(key, self._encode(data, deadline), ttl=self._ttl(left)):
            raise KeyError("unknown or expired session")

    def rotate(self, sid: str) -> str:
        """Moves the session to a new id (after a login or a privilege change).

        The old id stops working; the data and the absolute deadline carry
        over. Raises KeyError if the id is unknown or expired, or was rotated
        or destroyed concurrently.
        """
        key = self._key(sid)
        loaded = self._load(key) if key is not None else None
        # Deleting first means that of two concurrent rotations only one wins.
        if key is None or loaded is None or not self._cache.delete(key):
            raise KeyError("unknown or expired session")
        data, deadline, left = loaded
        value = self._encode(data, deadline)
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
