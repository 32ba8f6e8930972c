"""Codecs turn values the engine cannot store natively into bytes and back.

bytes, str, int, float, bool and None never go through a codec: they are
stored with a type tag and come back with their type. Only those exact types:
a subclass (an IntEnum, a str Enum, numpy.float64) or a numpy scalar is not
stored as its base type, which would hand back a different type than was
stored; without a codec it is refused with UnsupportedValue saying so, with a
codec it goes through the codec like any other object. Anything else needs
the cache's codec. The default is no codec, which is the safe choice when
stored bytes may come from outside the process (a shared Redis): nothing is
ever unpickled unless the cache was opened with codec="pickle".

A codec's failure, in dumps() or loads(), raises libcache.CodecError with the
codec's own exception as __cause__; a failed write leaves the cache unchanged.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Protocol, Union, runtime_checkable


@runtime_checkable
class Codec(Protocol):
    """Anything with these two methods can be a cache's codec."""

    def dumps(self, value: Any) -> Union[bytes, str]: ...

    def loads(self, data: bytes) -> Any: ...


class JsonCodec:
    """JSON (compact, UTF-8). Tuples come back as lists, dict keys as str."""

    name = "json"

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data)

    def __repr__(self) -> str:
        return "JsonCodec()"


class PickleCodec:
    """pickle, highest protocol: any picklable object.

    Only for data this program (or one you trust as much) wrote: unpickling
    bytes from elsewhere can run arbitrary code.
    """

    name = "pickle"

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)

    def __repr__(self) -> str:
        return "PickleCodec()"


_NATIVE = (bytes, str, int, float)  # bool cannot be subclassed
_CODECS_HINT = (
    'open the cache with codec="json" (JSON-compatible data), codec="pickle" (any picklable '
    "object, for data only this program writes) or an object with dumps() and loads()"
)


def unsupported_message(value: object) -> str:
    """The UnsupportedValue message for a value a cache without a codec refuses."""
    cls = type(value)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    base = next((t for t in _NATIVE if isinstance(value, t)), None)
    if base is not None:
        # An IntEnum, a str Enum, numpy.float64: stored as its base type it
        # would come back as a plain int/str/float, so it is refused.
        return (
            f"cannot store a {name} without a codec: {name} is a subclass of {base.__name__}, and "
            "libcache stores only the exact types bytes, str, int, float, bool and None as they "
            f"are (a subclass would come back as a plain {base.__name__}): store "
            f"{base.__name__}(x) (x.value for an enum), or {_CODECS_HINT}"
        )
    if cls.__module__ == "numpy" and callable(getattr(value, "item", None)):
        # numpy.bool_, numpy.int64, ...: numpy scalars are not Python's types.
        return (
            f"cannot store a {name} without a codec: it is a numpy scalar, not one of the exact "
            "types bytes, str, int, float, bool and None that libcache stores as they are: store "
            f"x.item() (the matching Python bool, int or float), or {_CODECS_HINT}"
        )
    return (
        f"cannot store a {name} without a codec: bytes, str, int, float, bool and None are "
        f"stored as they are; for other values {_CODECS_HINT}"
    )


_NAMED: dict[str, Codec] = {"json": JsonCodec(), "pickle": PickleCodec()}


def resolve(codec: Union[None, str, Codec]) -> Any:
    """The codec object for a Cache's codec= argument (None stays None)."""
    if codec is None:
        return None
    if isinstance(codec, str):
        try:
            return _NAMED[codec]
        except KeyError:
            raise ValueError(
                f"unknown codec {codec!r}: use 'json', 'pickle' or an object with "
                "dumps() and loads()"
            ) from None
    if not (callable(getattr(codec, "dumps", None)) and callable(getattr(codec, "loads", None))):
        raise TypeError(
            f"codec must be 'json', 'pickle' or an object with dumps() and loads(), "
            f"not {type(codec).__name__}"
        )
    return codec
