"""Codecs turn values the engine cannot store natively into bytes and back.

bytes, str, int, float, bool and None never go through a codec: they are
stored with a type tag and come back with their type. Anything else needs the
cache's codec. The default is no codec, which is the safe choice when stored
bytes may come from outside the process (a shared Redis): nothing is ever
unpickled unless the cache was opened with codec="pickle".
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
