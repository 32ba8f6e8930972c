"""Codecs: values other than bytes/str/int/float/bool/None, and custom codecs."""

from __future__ import annotations

import dataclasses
import enum
import fractions
import json
import pickle
import sys
from typing import Any, Iterator, List

import pytest

import libcache
from libcache import Cache, Codec, CodecError, JsonCodec, PickleCodec, UnsupportedValue


@dataclasses.dataclass(frozen=True)
class Point:  # module level, so that pickle can find it
    x: int
    y: int


NON_NATIVE = [
    [1, 2],
    {"a": 1},
    (1, 2),
    {1, 2},
    bytearray(b"x"),
    memoryview(b"x"),
    Point(1, 2),
    object(),
    1 + 2j,
    fractions.Fraction(1, 3),
]


# ---- Without a codec --------------------------------------------------------


@pytest.mark.parametrize("value", NON_NATIVE, ids=lambda v: type(v).__name__)
def test_without_codec_other_values_raise_unsupported_value_naming_the_codecs(value: Any) -> None:
    with Cache(max_bytes=1 << 20) as c:
        c.set("k", b"previous")
        before = c.stats()
        for write in (lambda: c.set("k", value), lambda: c.replace("k", value), lambda: c.add("new", value)):
            with pytest.raises(UnsupportedValue) as e:
                write()
            assert isinstance(e.value, TypeError) and isinstance(e.value, libcache.Error)
            msg = str(e.value)
            assert type(value).__name__ in msg
            assert 'codec="json"' in msg and 'codec="pickle"' in msg
        with pytest.raises(UnsupportedValue):
            c["k"] = value
        assert c.stats() == before  # nothing written, nothing counted
        assert c["k"] == b"previous"
        assert "new" not in c


# ---- JSON ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [[1, "two", 3.5, None, True], {"name": "Ada", "tags": ["x"], "nested": {"n": 1}}, [], {}, {"é": "☃"}],
    ids=repr,
)
def test_json_codec_round_trips_json_data(value: Any) -> None:
    with Cache(max_bytes=1 << 20, codec="json") as c:
        c.set("k", value)
        assert c.get("k") == value
        assert c["k"] == value


def test_json_codec_turns_nested_tuples_into_lists() -> None:
    with Cache(max_bytes=1 << 20, codec="json") as c:
        c.set("k", {"pair": (1, 2)})
        assert c["k"] == {"pair": [1, 2]}


def test_json_codec_stores_a_top_level_tuple_as_a_list() -> None:
    # A tuple is a value like any other: the codec gets it whole (dumps(value)),
    # and JSON hands it back as a list.
    with Cache(max_bytes=1 << 20, codec="json") as c:
        c.set("pair", (1, 2))
        assert c["pair"] == [1, 2]
        c.set("single", ("only",))
        assert c["single"] == ["only"]
        c.set("empty", ())
        assert c["empty"] == []


def test_json_codec_refuses_non_json_data_and_leaves_the_cache_unchanged() -> None:
    with Cache(max_bytes=1 << 20, codec="json") as c:
        c.set("k", [1])
        before = c.stats()
        with pytest.raises(TypeError):
            c.set("k", {1, 2})  # a set is not JSON
        assert c.stats() == before
        assert c["k"] == [1]


def test_natives_bypass_the_codec_and_keep_their_type() -> None:
    with Cache(max_bytes=1 << 20, codec="json") as c:
        for v in (b"raw", "text", 7, 2**80, 1.5, True, None):
            c.set("k", v)
            got = c["k"]
            assert type(got) is type(v) and got == v


# ---- pickle ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [Point(1, 2), {1, 2}, frozenset({"a"}), {"nested": [Point(3, 4)]}, fractions.Fraction(1, 3), 1 + 2j, [b"x", "y"]],
    ids=repr,
)
def test_pickle_codec_round_trips_objects(value: Any) -> None:
    with Cache(max_bytes=1 << 20, codec="pickle") as c:
        c.set("k", value)
        got = c["k"]
        assert got == value and type(got) is type(value)


@pytest.mark.parametrize("value", [(1, 2), ("only",), (), (Point(1, 2), [3])], ids=repr)
def test_pickle_codec_round_trips_tuples(value: Any) -> None:
    # The codec must get the tuple as one argument: dumps((1, 2)), not dumps(1, 2).
    with Cache(max_bytes=1 << 20, codec="pickle") as c:
        c.set("k", value)
        got = c["k"]
        assert type(got) is tuple and got == value


def test_tuple_reaches_a_custom_codec_whole() -> None:
    seen: List[Any] = []

    class Recording:
        def dumps(self, value: Any) -> bytes:
            seen.append(value)
            return repr(value).encode()

        def loads(self, data: bytes) -> Any:
            return data

    with Cache(max_bytes=1 << 20, codec=Recording()) as c:
        c.set("k", ("a",))
        c.set("k", ("a", "b"))
    assert seen == [("a",), ("a", "b")]


def test_pickle_codec_through_get_or_set() -> None:
    with Cache(max_bytes=1 << 20, codec="pickle") as c:
        assert c.get_or_set("p", lambda: Point(5, 6)) == Point(5, 6)
        assert c["p"] == Point(5, 6)


# ---- Custom codecs ------------------------------------------------------------------


class Recorder:
    """A codec that records its calls and stores values as repr() text."""

    def __init__(self) -> None:
        self.dumped: List[Any] = []
        self.loaded: List[bytes] = []

    def dumps(self, value: Any) -> bytes:
        self.dumped.append(value)
        return b"R" + repr(sorted(value)).encode()

    def loads(self, data: bytes) -> Any:
        self.loaded.append(data)
        return ("loaded", data)


def test_custom_codec_gets_the_value_and_loads_gets_exactly_the_dumped_bytes() -> None:
    codec = Recorder()
    with Cache(max_bytes=1 << 20, codec=codec) as c:
        assert c.codec is codec
        c.set("k", {3, 1, 2})
        assert codec.dumped == [{1, 2, 3}]
        assert c["k"] == ("loaded", b"R[1, 2, 3]")
        assert codec.loaded == [b"R[1, 2, 3]"]
        assert all(type(d) is bytes for d in codec.loaded)


def test_custom_codec_is_never_called_for_natives() -> None:
    codec = Recorder()
    with Cache(max_bytes=1 << 20, codec=codec) as c:
        for v in (b"b", "s", 1, -(2**90), 0.5, False, True, None):
            c.set("k", v)
            assert c["k"] == v
    assert codec.dumped == [] and codec.loaded == []


def test_custom_codec_dumps_may_return_str() -> None:
    class StrCodec:
        def dumps(self, value: Any) -> str:
            return "é:" + ",".join(value)

        def loads(self, data: bytes) -> Any:
            return data

    with Cache(max_bytes=1 << 20, codec=StrCodec()) as c:
        c.set("k", ["a", "b"])
        assert c["k"] == "é:a,b".encode()  # stored as UTF-8


@pytest.mark.parametrize("bad", [None, 42, bytearray(b"x"), ["b"], object()], ids=lambda v: type(v).__name__)
def test_custom_codec_dumps_returning_non_bytes_raises_codec_error(bad: Any) -> None:
    class Bad:
        def dumps(self, value: Any) -> Any:
            return bad

        def loads(self, data: bytes) -> Any:
            raise AssertionError("never called")

    with Cache(max_bytes=1 << 20, codec=Bad()) as c:
        c.set("k", b"previous")
        before = c.stats()
        with pytest.raises(CodecError) as e:
            c.set("k", [1])
        assert isinstance(e.value, libcache.Error)
        assert "dumps()" in str(e.value) and type(bad).__name__ in str(e.value)
        with pytest.raises(CodecError):
            c.add("new", [1])
        assert c.stats() == before
        assert c["k"] == b"previous"
        assert "new" not in c


class Boom(Exception):
    pass


def test_custom_codec_dumps_failure_raises_codec_error_chaining_it() -> None:
    class Raising:
        def dumps(self, value: Any) -> bytes:
            raise Boom("cannot encode")

        def loads(self, data: bytes) -> Any:
            return data

    with Cache(max_bytes=1 << 20, codec=Raising()) as c:
        c.set("k", 1)
        before = c.stats()
        writes = [
            lambda: c.set("k", [1]),
            lambda: c.replace("k", [1]),
            lambda: c.add("new", [1]),
            lambda: c.__setitem__("k", [1]),
        ]
        for write in writes:
            with pytest.raises(CodecError, match="dumps.*list.*Boom: cannot encode") as e:
                write()
            assert type(e.value.__cause__) is Boom and e.value.__suppress_context__
        assert c.stats() == before  # nothing written, nothing counted
        assert c["k"] == 1 and "new" not in c


def test_custom_codec_loads_failure_raises_codec_error_from_every_read() -> None:
    class Raising:
        def dumps(self, value: Any) -> bytes:
            return b"payload"

        def loads(self, data: bytes) -> Any:
            raise Boom("cannot decode")

    with Cache(max_bytes=1 << 20, codec=Raising()) as c:
        c.set("k", [1])
        reads = [
            lambda: c.get("k"),
            lambda: c.get("k", "default"),  # not swallowed into the default
            lambda: c["k"],
            lambda: c.get_or_set("k", lambda: "loaded"),
        ]
        for read in reads:
            with pytest.raises(CodecError, match="loads.*Boom: cannot decode") as e:
                read()
            assert type(e.value.__cause__) is Boom
        assert "k" in c  # presence needs no decoding; the entry is still there
        assert c.delete("k") is True


class Gone:  # pickled, then removed from the module: loads() raises AttributeError
    pass


def _deeply_nested() -> Any:
    v: Any = []
    for _ in range(100_000):
        v = [v]
    return v


class _StrCodec:
    """dumps() returns the value itself (a str): UTF-8 encoding happens in the binding."""

    def dumps(self, value: Any) -> str:
        return str(value[0])

    def loads(self, data: bytes) -> Any:
        return data


class _NotJson(JsonCodec):
    """Writes bytes its own loads() (json) cannot read."""

    def dumps(self, value: Any) -> bytes:
        return b"{not json"


# What each codec failure used to surface as, raw: (codec, value, the original exception).
ENCODE_FAILURES = [
    pytest.param("json", _deeply_nested(), RecursionError, id="RuntimeError-json-recursion"),
    pytest.param("json", ["\udc80"], UnicodeEncodeError, id="UnicodeEncodeError-json"),
    pytest.param(_StrCodec(), ["\udc80"], UnicodeEncodeError, id="UnicodeEncodeError-str-from-dumps"),
    pytest.param("json", {1, 2}, TypeError, id="TypeError-json-set"),
    pytest.param("pickle", lambda: None, (AttributeError, pickle.PicklingError), id="pickle-lambda"),
]


@pytest.mark.parametrize("codec, value, original", ENCODE_FAILURES)
def test_encode_failures_raise_codec_error_and_leave_the_cache_unchanged(
    codec: Any, value: Any, original: Any
) -> None:
    with Cache(max_bytes=1 << 20, codec=codec) as c:
        c.set("k", "previous")
        before = c.stats()
        for write in (lambda: c.set("k", value), lambda: c.add("new", value), lambda: c.replace("k", value)):
            with pytest.raises(CodecError) as e:
                write()
            assert isinstance(e.value.__cause__, original), repr(e.value.__cause__)
            assert isinstance(e.value, libcache.Error)
            assert type(e.value.__cause__).__name__ in str(e.value)
        assert c.stats() == before
        assert c["k"] == "previous" and "new" not in c


def test_json_decode_failure_raises_codec_error() -> None:
    with Cache(max_bytes=1 << 20, codec=_NotJson()) as c:
        c.set("k", [1])
        with pytest.raises(CodecError) as e:
            c.get("k")
        assert isinstance(e.value.__cause__, json.JSONDecodeError)
        assert isinstance(e.value, ValueError)  # what JSONDecodeError was: old handlers still catch it


def test_pickle_of_a_class_that_is_gone_raises_codec_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with Cache(max_bytes=1 << 20, codec="pickle") as c:
        c.set("k", Gone())
        monkeypatch.delattr(sys.modules[__name__], "Gone")
        with pytest.raises(CodecError, match="AttributeError") as e:
            c.get("k")
        assert isinstance(e.value.__cause__, AttributeError)


def test_codec_error_is_value_error_and_type_error() -> None:
    # json and pickle raise either for data they cannot handle: a caller that
    # caught one of them keeps catching the CodecError.
    assert issubclass(CodecError, ValueError) and issubclass(CodecError, TypeError)
    with Cache(max_bytes=1 << 20, codec="json") as c:
        with pytest.raises(TypeError):
            c.set("k", {1, 2})


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit, MemoryError, CodecError])
def test_codec_exceptions_that_are_not_codec_failures_pass_unchanged(exc: type) -> None:
    class Raising:
        def dumps(self, value: Any) -> bytes:
            raise exc("from dumps")

        def loads(self, data: bytes) -> Any:
            raise exc("from loads")

    with Cache(max_bytes=1 << 20, codec=Raising()) as c:
        with pytest.raises(exc, match="from dumps") as e:
            c.set("k", [1])
        assert type(e.value) is exc
        assert "k" not in c


# ---- Subclasses of the native types, numpy scalars ----------------------------------


class Color(enum.IntEnum):
    RED = 1


class Mode(str, enum.Enum):
    FAST = "fast"


class Meters(float):
    pass


class Name(str):
    pass


class Blob(bytes):
    pass


SUBCLASSED = [
    pytest.param(Color.RED, "int", id="IntEnum"),
    pytest.param(Mode.FAST, "str", id="str-Enum"),
    pytest.param(Meters(1.5), "float", id="float-subclass"),
    pytest.param(Name("x"), "str", id="str-subclass"),
    pytest.param(Blob(b"x"), "bytes", id="bytes-subclass"),
]


@pytest.mark.parametrize("value, base", SUBCLASSED)
def test_subclasses_of_native_types_are_refused_saying_why(value: Any, base: str) -> None:
    # Stored as their base type they would come back as a plain int/str/...:
    # refused, with a message naming the base type and the conversion.
    with Cache(max_bytes=1 << 20) as c:
        c.set("k", "previous")
        before = c.stats()
        with pytest.raises(UnsupportedValue) as e:
            c.set("k", value)
        msg = str(e.value)
        assert f"is a subclass of {base}" in msg, msg
        assert f"{base}(x)" in msg and "exact types" in msg, msg
        assert type(value).__name__ in msg and 'codec="pickle"' in msg
        assert c.stats() == before and c["k"] == "previous"


@pytest.mark.parametrize("value, base", SUBCLASSED)
def test_subclasses_go_through_a_codec(value: Any, base: str) -> None:
    with Cache(max_bytes=1 << 20, codec="pickle") as c:
        c.set("k", value)
        got = c["k"]
        assert type(got) is type(value) and got == value


def test_numpy_scalars_are_refused_saying_why() -> None:
    np = pytest.importorskip("numpy")
    with Cache(max_bytes=1 << 20) as c:
        with pytest.raises(UnsupportedValue, match="subclass of float.*float\\(x\\)"):
            c.set("k", np.float64(1.5))
        for value in (np.bool_(True), np.int64(3), np.float32(1.5)):
            with pytest.raises(UnsupportedValue, match="numpy scalar.*x\\.item\\(\\)"):
                c.set("k", value)
        assert "k" not in c
        c.set("k", np.bool_(True).item())  # what the message says to do
        assert c["k"] is True


# ---- The codec argument -------------------------------------------------------------


def test_named_codecs_resolve_to_codec_objects() -> None:
    with Cache(max_bytes=1 << 20, codec="json") as c:
        assert isinstance(c.codec, JsonCodec)
    with Cache(max_bytes=1 << 20, codec="pickle") as c:
        assert isinstance(c.codec, PickleCodec)
    assert isinstance(JsonCodec(), Codec) and isinstance(PickleCodec(), Codec)


def test_unknown_codec_name_raises_value_error() -> None:
    with pytest.raises(ValueError, match="json.*pickle"):
        Cache(max_bytes=1 << 20, codec="yaml")


@pytest.mark.parametrize("bad", [1, object(), b"json", type("NoLoads", (), {"dumps": lambda self, v: b""})()])
def test_codec_without_dumps_and_loads_raises_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="dumps\\(\\) and loads\\(\\)"):
        Cache(max_bytes=1 << 20, codec=bad)


def test_codec_object_with_non_callable_methods_is_refused() -> None:
    class NotCallable:
        dumps = "x"
        loads = "y"

    with pytest.raises(TypeError):
        Cache(max_bytes=1 << 20, codec=NotCallable())


def test_builtin_codecs_directly() -> None:
    j = JsonCodec()
    assert j.dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()
    assert j.loads(b'{"a":1}') == {"a": 1}
    p = PickleCodec()
    assert p.loads(p.dumps(Point(1, 2))) == Point(1, 2)
    assert repr(j) == "JsonCodec()" and repr(p) == "PickleCodec()"


@pytest.fixture
def pickled() -> Iterator[Cache]:
    c = Cache(max_bytes=1 << 20, codec="pickle")
    yield c
    c.close()


def test_codec_values_count_like_any_other(pickled: Cache) -> None:
    pickled.set("k", Point(1, 1))
    assert "k" in pickled and len(pickled) == 1
    assert pickled.pop("k") == Point(1, 1)
    assert pickled.stats().entries == 0
