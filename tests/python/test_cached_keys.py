"""@cached's compiled wrapper (_core.CachedFunction, bindings/python/src/cached.cc) and its argument keys.

The C key encoding (typed and untyped numbers, lengths, types, keyword order,
nesting), the fallback for other arguments, counters, binding as a method,
threads, reference counts, pickling and collection. The decorator's behaviour
as a whole (single-flight, TTLs, refusals, async) is in test_decorator.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import gc
import inspect
import pickle
import sys
import threading
import time
import weakref
from typing import Any, NamedTuple

import pytest

from libcache import _core

from helpers import Crowd
from libcache import Cache, cached
from test_decorator import CALLS, Shapes, Triangles  # classes whose @cached records its calls in CALLS


# --- the compiled wrapper (_core.CachedFunction) and its keys ----------------------------

# Cache(values="object") keeps result objects: a hit then returns the object itself.
OBJECT_VALUES = "values" in inspect.signature(Cache.__init__).parameters


def key_of(*args: Any, typed: bool = False, **kwargs: Any) -> Any:
    return _core._cached_key(args, kwargs, typed)


class Color(enum.IntEnum):
    RED = 1


class Pair(NamedTuple):
    a: int
    b: int


@dataclasses.dataclass(frozen=True)
class Ruler:  # module level, so that pickle can find it
    unit: int

    @cached  # first parameter not named self: the object goes into the key, pickled
    def measure(this, n: int) -> int:
        CALLS.append(f"measure {this.unit} {n}")
        return this.unit * n


@cached
def module_level(x: int) -> int:
    return x + 1


def test_plain_function_without_key_gets_the_compiled_wrapper() -> None:
    @cached
    def f(x: int) -> int:
        return x

    @cached(key=lambda x: str(x))
    def g(x: int) -> int:
        return x

    @cached
    async def h(x: int) -> int:
        return x

    assert isinstance(f, _core.CachedFunction)
    assert not isinstance(g, _core.CachedFunction) and not isinstance(h, _core.CachedFunction)


def test_untyped_keys_unify_equal_numbers_as_lru_cache_does() -> None:
    assert key_of(1) == key_of(1.0) == key_of(True)
    assert key_of(0) == key_of(0.0) == key_of(-0.0) == key_of(False)
    assert key_of(10**20) == key_of(1e20) and key_of(-(2**63)) == key_of(-(2.0**63))
    assert key_of(2**63) == key_of(2.0**63) != key_of(2**63 - 1)
    assert key_of(1.5) != key_of(1) and key_of(float("inf")) != key_of(float("-inf"))
    assert key_of(float("nan")) == key_of(float("nan"))  # one key for every NaN
    assert key_of((1, 2.0)) == key_of((1.0, True + 1))
    calls: list[Any] = []

    @cached
    def ident(x: Any) -> Any:
        calls.append(x)
        return x

    assert [ident(1), ident(1.0), ident(True)] == [1, 1, 1]
    assert calls == [1]
    assert ident.cache_info().hits == 2  # type: ignore[attr-defined]


def test_typed_keys_keep_int_float_and_bool_apart() -> None:
    keys = [key_of(v, typed=True) for v in (1, 1.0, True, 0, 0.0, False, 2**70, 2.0**70)]
    assert len(set(keys)) == len(keys)
    assert key_of(0.0, typed=True) == key_of(-0.0, typed=True)
    calls: list[Any] = []

    @cached(typed=True)
    def ident(x: Any) -> Any:
        calls.append(x)
        return x

    for _ in range(2):
        got = [ident(1), ident(1.0), ident(True)]
        assert [type(g) for g in got] == [int, float, bool]
    assert calls == [1, 1.0, True]


def test_keys_distinguish_lengths_types_keywords_and_nesting() -> None:
    distinct = [
        key_of("ab"),
        key_of("a", "b"),
        key_of(("a", "b")),
        key_of(("a",), "b"),
        key_of((("a", "b"),)),
        key_of(b"ab"),
        key_of("ab", None),
        key_of(None),
        key_of(),
        key_of(""),
        key_of(b""),
        key_of(()),
        key_of(a="b"),
        key_of("a", a="b"),
        key_of(ab=1),
        key_of(a=1, b=None),
        key_of("é"),
    ]
    assert all(k is not None for k in distinct)
    assert len(set(distinct)) == len(distinct)
    # Keyword order does not matter; passing by position or keyword does (as in lru_cache).
    assert key_of(a=1, b=2) == key_of(b=2, a=1) != key_of(1, b=2)
    assert key_of(x=1) != key_of(1)
    # No compiled key starts with a byte of the fallback's keys (pickle, key=, digests, str).
    for k in distinct[:-1]:
        assert k[:1] not in (b"p", b"u", b"h", b"s")


def test_keys_fall_back_for_subclasses_other_types_long_and_deep_arguments() -> None:
    deep: Any = 1
    for _ in range(8):
        deep = (deep,)
    assert key_of(deep) is not None and key_of((deep,)) is None
    for arg in (Color.RED, Pair(1, 2), [1], {1: 2}, {1}, 1j, "\ud800", "x" * 300, b"x" * 300, tuple(range(100))):
        assert key_of(arg) is None, arg
    assert key_of(("x" * 120, "y" * 120)) is not None and key_of(("x" * 130, "y" * 130)) is None
    assert key_of(**{f"k{i}": i for i in range(33)}) is None


def test_unsupported_and_long_arguments_use_the_fallback_key_and_still_hit() -> None:
    calls: list[Any] = []

    @cached
    def ident(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return [args, kwargs]

    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((Color.RED,), {}),
        ((1,), {}),  # not the IntEnum's result
        ((Pair(1, 2),), {}),
        (((1, 2),), {}),
        (([1, 2],), {}),
        (("\ud800",), {}),
        (("x" * 5000,), {}),
        (("x" * 300, 1), {"k": [2]}),
        ((), {f"k{i}": i for i in range(40)}),
    ]
    for _ in range(3):
        for args, kwargs in cases:
            assert ident(*args, **kwargs) == [args, kwargs]
    assert len(calls) == len(cases)
    assert type(ident(Color.RED)[0][0]) is Color
    info = ident.cache_info()  # type: ignore[attr-defined]
    assert (info.hits, info.misses) == (2 * len(cases) + 1, len(cases))


def test_unpicklable_argument_in_a_tuple_raises_a_helpful_type_error() -> None:
    @cached
    def f(*args: Any) -> int:
        return 1

    with pytest.raises(TypeError, match="key="):
        f(1, (2, threading.Lock()))
    with pytest.raises(TypeError, match="key="):
        f(x=lambda: None)


def test_a_hit_returns_the_stored_result() -> None:
    @cached
    def make(x: Any) -> dict[str, Any]:
        return {"x": x, "items": [1, 2]}

    first = make("a")
    again = make("a")
    if OBJECT_VALUES:
        assert again is first  # the object itself, as lru_cache returns it
    else:
        assert again == first
    assert make(1) == {"x": 1, "items": [1, 2]}


def test_cache_info_counts_fast_hits_fallback_hits_and_misses() -> None:
    @cached
    def f(*args: Any, **kwargs: Any) -> int:
        return len(args)

    f(1), f(1), f(x=1), f(x=1), f([1]), f([1]), f([1])
    assert f.cache_info()[:2] == (4, 3)  # type: ignore[attr-defined]
    assert (f.hits, f.misses) == (4, 3)  # type: ignore[attr-defined]
    f.cache_clear()  # type: ignore[attr-defined]
    assert f.cache_info()[:2] == (0, 0)  # type: ignore[attr-defined]


def test_cache_clear_forgets_compiled_and_fallback_keys_of_a_shared_cache() -> None:
    shared = Cache(max_entries=100, codec="pickle")
    calls: list[Any] = []

    @cached(cache=shared)
    def f(x: Any) -> Any:
        calls.append(x)
        return x

    f(1), f([1])
    generation = f.generation  # type: ignore[attr-defined]
    f.cache_clear()  # type: ignore[attr-defined]
    assert f.generation == generation + 1  # type: ignore[attr-defined]
    assert len(shared) == 2  # a shared cache is not cleared: the old keys age out
    f(1), f([1]), f(1), f([1])
    assert calls == [1, [1], 1, [1]]


def test_compiled_wrapper_binds_as_a_method() -> None:
    CALLS.clear()
    a, b = Ruler(2), Ruler(3)
    for _ in range(2):
        assert a.measure(5) == 10
        assert b.measure(5) == 15
        assert Ruler.measure(a, 5) == 10  # on the class: the function itself
    assert CALLS == ["measure 2 5", "measure 3 5"]
    assert isinstance(Ruler.__dict__["measure"], _core.CachedFunction)
    assert Ruler.measure is Ruler.__dict__["measure"]
    bound = a.measure
    assert bound.__self__ is a and bound.__func__ is Ruler.__dict__["measure"]
    assert inspect.signature(bound) == inspect.signature(lambda n: None).replace(
        parameters=[inspect.Parameter("n", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="int")],
        return_annotation="int",
    )
    assert Ruler.measure.cache_info().hits == 4  # type: ignore[attr-defined]


def test_method_with_key_and_static_and_class_methods_use_their_own_binding() -> None:
    class Counter:
        def __init__(self) -> None:
            self.n = 0

        @cached(key=lambda self, x: f"{id(self)}:{x}")
        def bump(self, x: int) -> int:
            self.n += 1
            return x + self.n

        @staticmethod
        @cached
        def twice(x: int) -> int:
            return 2 * x

    c = Counter()
    assert [c.bump(1), c.bump(1), c.bump(2)] == [2, 2, 4]
    assert [c.twice(4), Counter.twice(4)] == [8, 8]
    assert Counter.twice.cache_info()[:2] == (1, 1)  # type: ignore[attr-defined]
    CALLS.clear()
    assert [Shapes.over_staticmethod(7), Triangles.over_classmethod(7), Triangles.over_classmethod(7)] == [70, "Triangles:21", "Triangles:21"]
    assert CALLS == ["static over 7", "over Triangles 7"]


def test_many_threads_calling_one_function_count_every_call() -> None:
    calls: list[int] = []

    @cached
    def f(x: int) -> str:
        calls.append(x)
        time.sleep(0.001)
        return f"v{x}"

    per_thread, n = 2000, 8

    def work(i: int) -> bool:
        return all(f(j % 50) == f"v{j % 50}" and f(x=j % 7) == f"v{j % 7}" for j in range(i, i + per_thread))

    crowd = Crowd(n, work)
    crowd.run()
    assert crowd.errors == [None] * n and crowd.results == [True] * n
    assert sorted(calls) == sorted(list(range(50)) + list(range(7)))  # single-flight: once per key
    info = f.cache_info()  # type: ignore[attr-defined]
    assert info.misses == 57 and info.hits + info.misses == 2 * n * per_thread


def test_hits_leak_no_reference_to_arguments_or_results() -> None:
    @cached
    def f(*args: Any, **kwargs: Any) -> Any:
        return args

    arg, kwarg, other = "some argument", ("a", 1), [1, 2]
    value = f(arg, k=kwarg)
    f(arg), f(other)  # the misses: an object cache keeps the results, which hold arg
    before = [sys.getrefcount(x) for x in (arg, kwarg, other, value)]
    for _ in range(10_000):
        f(arg, k=kwarg)
        f(arg)
        f(other)
    assert [sys.getrefcount(x) for x in (arg, kwarg, other, value)] == before


def test_compiled_wrapper_keeps_metadata_pickles_by_reference_and_is_collected() -> None:
    assert module_level(1) == 2
    assert pickle.loads(pickle.dumps(module_level)) is module_level
    assert module_level.__name__ == "module_level" and module_level.__wrapped__(1) == 2  # type: ignore[attr-defined]
    assert "module_level" in repr(module_level)

    def make() -> Any:
        @cached
        def local(x: int) -> int:
            return x

        local(1)
        return weakref.ref(local)

    ref = make()
    gc.collect()
    assert ref() is None  # the cycle wrapper -> miss -> wrapper is collected


def test_cached_function_checks_its_arguments() -> None:
    with pytest.raises(TypeError):
        _core.CachedFunction(len, Cache(max_entries=10), "name", False, len)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _core.CachedFunction(len, Cache(max_entries=10), b"name", False, 42)  # type: ignore[arg-type]
    f = _core.CachedFunction(len, object(), b"n", False, lambda k, a, kw: "miss")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="libcache.Cache"):
        f(1)
    assert f([1]) == "miss"  # not encoded: straight to miss
    with pytest.raises(TypeError):
        _core._cached_key([1], {}, False)  # type: ignore[arg-type]


def test_async_functions_follow_the_same_typed_rule() -> None:
    calls: list[Any] = []

    @cached
    async def ident(x: Any) -> Any:
        calls.append(x)
        return x

    @cached(typed=True)
    async def typed_ident(x: Any) -> Any:
        calls.append(x)
        return x

    async def main() -> None:
        assert [await ident(1), await ident(1.0), await ident(True)] == [1, 1, 1]
        assert [await typed_ident(1), await typed_ident(1.0)] == [1, 1.0]

    asyncio.run(main())
    assert calls == [1, 1, 1.0]
