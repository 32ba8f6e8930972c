"""@cached: memoising sync and async functions in a libcache.Cache."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import threading
from typing import Any, Callable

import pytest

from libcache._core import FakeClock

from helpers import WAIT, Crowd, blocked_in, call_with_deadline, wait_until
from libcache import Cache, CacheInfo, ReentrantLoad, UnsupportedValue, cached


@dataclasses.dataclass(frozen=True)
class Point:  # module level, so that pickle can find it
    x: int
    y: int


CALLS: list[str] = []


class Shapes:  # module level: a classmethod's key pickles the class by reference
    sides = 4

    @cached
    @classmethod
    def over_classmethod(cls, n: int) -> str:
        CALLS.append(f"over {cls.__name__} {n}")
        return f"{cls.__name__}:{cls.sides * n}"

    @classmethod
    @cached(ttl=0)
    def under_classmethod(cls, n: int) -> str:
        CALLS.append(f"under {cls.__name__} {n}")
        return f"{cls.__name__}:{cls.sides * n}"

    @cached()
    @staticmethod
    def over_staticmethod(n: int) -> int:
        CALLS.append(f"static over {n}")
        return n * 10

    @staticmethod
    @cached
    def under_staticmethod(n: int) -> int:
        CALLS.append(f"static under {n}")
        return n * 100

    @cached
    @classmethod
    async def async_classmethod(cls, n: int) -> str:
        CALLS.append(f"async {cls.__name__} {n}")
        return f"{cls.__name__}:{n}"


class Triangles(Shapes):
    sides = 3


# --- sync and async functions ------------------------------------------------------


def test_sync_function_results_are_cached_per_arguments() -> None:
    calls: list[int] = []

    @cached()
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert square(3) == 9
    assert square(3) == 9
    assert square(4) == 16
    assert square(3) == 9
    assert calls == [3, 4]


def test_async_function_results_are_cached_per_arguments() -> None:
    calls: list[int] = []

    @cached()
    async def square(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0)
        return x * x

    async def main() -> None:
        assert await square(3) == 9
        assert await square(3) == 9
        assert await square(4) == 16
        assert await square(3) == 9

    asyncio.run(main())
    assert calls == [3, 4]
    assert inspect.iscoroutinefunction(square)


def test_bare_decorator_on_sync_and_async_functions() -> None:
    calls: list[str] = []

    @cached
    def f(x: str) -> str:
        calls.append("f")
        return x.upper()

    @cached
    async def g(x: str) -> str:
        calls.append("g")
        return x * 2

    assert f("a") == "A" and f("a") == "A"
    assert asyncio.run(g("a")) == "aa" and asyncio.run(g("a")) == "aa"
    assert calls == ["f", "g"]
    assert isinstance(f.cache, Cache) and isinstance(g.cache, Cache)  # type: ignore[attr-defined]
    assert f.cache is not g.cache  # type: ignore[attr-defined]


def test_private_cache_stores_any_picklable_result() -> None:
    results: dict[str, Any] = {
        "dict": {"a": [1, 2, {"b": (3, 4)}], 5: None},
        "set": {1, 2, 3},
        "list of tuples": [(1, "two"), (3.0,)],
        "dataclass": Point(1, 2),
        "bytes": b"\x00\xff",
        "big int": 1 << 100,
    }
    calls: list[str] = []

    @cached
    def load(name: str) -> Any:
        calls.append(name)
        return results[name]

    for name, value in results.items():
        assert load(name) == value
        got = load(name)  # from the cache
        assert got == value and type(got) is type(value)
    assert calls == list(results)


def test_private_cache_returns_tuple_results_intact() -> None:
    # Tuples are the most common multi-value return; they must come back as
    # they were, whatever their length.
    results: dict[int, tuple[Any, ...]] = {0: (), 1: ("one",), 2: (1, 2), 3: (1, "two", 3.0)}
    calls: list[int] = []

    @cached
    def load(n: int) -> tuple[Any, ...]:
        calls.append(n)
        return results[n]

    for _ in range(2):
        for n, value in results.items():
            got = load(n)
            assert type(got) is tuple and got == value, (value, got)
    assert calls == list(results)


def test_none_results_are_cached() -> None:
    calls: list[int] = []

    @cached
    def nothing(x: int) -> None:
        calls.append(x)

    @cached
    async def nothing_async(x: int) -> None:
        calls.append(-x)

    assert nothing(1) is None and nothing(1) is None
    assert asyncio.run(nothing_async(1)) is None and asyncio.run(nothing_async(1)) is None
    assert calls == [1, -1]


def test_exceptions_are_not_cached() -> None:
    calls: list[int] = []

    @cached
    def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return x

    with pytest.raises(RuntimeError, match="first call fails"):
        flaky(1)
    assert flaky(1) == 1
    assert flaky(1) == 1
    assert calls == [1, 1]


def test_async_exceptions_are_not_cached() -> None:
    calls: list[int] = []

    @cached
    async def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return x

    async def main() -> None:
        with pytest.raises(RuntimeError, match="first call fails"):
            await flaky(1)
        assert await flaky(1) == 1
        assert await flaky(1) == 1

    asyncio.run(main())
    assert calls == [1, 1]


# --- single-flight ---------------------------------------------------------------


def test_sync_single_flight_across_16_threads() -> None:
    calls: list[int] = []

    @cached
    def slow(x: int) -> int:
        calls.append(x)
        # Return only once every other caller waits for this very call.
        assert wait_until(lambda: blocked_in(crowd.others(), "get_or_set"))
        return x * 10

    crowd = Crowd(16, lambda i: slow(7))
    crowd.run()
    assert crowd.errors == [None] * 16
    assert crowd.results == [70] * 16
    assert calls == [7]
    info = slow.cache_info()  # type: ignore[attr-defined]
    assert (info.hits, info.misses) == (15, 1)


def test_sync_error_reaches_every_concurrent_caller() -> None:
    calls: list[int] = []

    @cached
    def failing(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            assert wait_until(lambda: blocked_in(crowd.others(), "get_or_set"))
        raise LookupError("not there")

    crowd = Crowd(16, lambda i: failing(1))
    crowd.run()
    assert len(calls) == 1
    for e in crowd.errors:
        assert isinstance(e, LookupError) and str(e) == "not there", repr(e)
    with pytest.raises(LookupError):
        failing(1)
    assert len(calls) == 2  # nothing was cached


def test_async_single_flight_across_100_tasks() -> None:
    calls: list[int] = []
    loading, release = asyncio.Event(), asyncio.Event()

    @cached
    async def slow(x: int) -> int:
        calls.append(x)
        loading.set()
        await release.wait()
        return x * 10

    async def main() -> None:
        tasks = [asyncio.create_task(slow(7)) for _ in range(100)]
        await asyncio.wait_for(loading.wait(), WAIT)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not any(t.done() for t in tasks)
        release.set()
        assert await asyncio.wait_for(asyncio.gather(*tasks), WAIT) == [70] * 100

    asyncio.run(main())
    assert calls == [7]
    info = slow.cache_info()  # type: ignore[attr-defined]
    assert (info.hits, info.misses) == (99, 1)


def test_async_error_reaches_every_concurrent_caller() -> None:
    calls: list[int] = []

    @cached
    async def failing(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0.01)
        raise LookupError("not there")

    async def main() -> None:
        results = await asyncio.gather(*(failing(1) for _ in range(100)), return_exceptions=True)
        assert all(isinstance(r, LookupError) for r in results), results
        assert len(calls) == 1
        with pytest.raises(LookupError):
            await failing(1)
        assert len(calls) == 2

    asyncio.run(main())


def test_different_arguments_load_concurrently() -> None:
    both_running = threading.Barrier(2, timeout=WAIT)

    @cached
    def f(x: int) -> int:
        both_running.wait()  # serialized calls would break the barrier
        return x + 100

    crowd = Crowd(2, f).run()
    assert crowd.errors == [None, None]
    assert crowd.results == [100, 101]


# --- ttl --------------------------------------------------------------------------


def test_ttl_is_honoured() -> None:
    calls: list[int] = []
    clock = FakeClock()

    @cached(cache=Cache(max_entries=100, _clock=clock), ttl=0.3)
    def f(x: int) -> int:
        calls.append(x)
        return len(calls)

    assert f(1) == 1
    clock.advance(0.299)
    assert f(1) == 1
    clock.advance(0.001)
    assert f(1) == 2
    assert f(1) == 2


def test_ttl_is_honoured_for_async_functions() -> None:
    calls: list[int] = []
    clock = FakeClock()

    @cached(cache=Cache(max_entries=100, _clock=clock), ttl=0.3)
    async def f(x: int) -> int:
        calls.append(x)
        return len(calls)

    async def main() -> None:
        assert await f(1) == 1
        clock.advance(0.299)
        assert await f(1) == 1
        clock.advance(0.001)
        assert await f(1) == 2
        assert await f(1) == 2

    asyncio.run(main())


def test_ttl_none_uses_the_shared_caches_default_ttl() -> None:
    clock = FakeClock()
    shared = Cache(max_entries=100, default_ttl=0.2, _clock=clock)
    calls: list[int] = []

    @cached(cache=shared)
    def f(x: int) -> int:
        calls.append(x)
        return len(calls)

    assert f(1) == 1 and f(1) == 1
    clock.advance(0.199)
    assert f(1) == 1
    clock.advance(0.001)
    assert f(1) == 2


# --- cache_info and cache_clear -----------------------------------------------------


def test_cache_info_counts_this_functions_hits_and_misses() -> None:
    shared = Cache(max_entries=100)

    @cached(cache=shared)
    def f(x: int) -> int:
        return x

    @cached(cache=shared)
    def g(x: int) -> int:
        return -x

    f(1), f(1), f(2), f(1)
    g(1), g(1), g(1)
    info = f.cache_info()  # type: ignore[attr-defined]
    assert isinstance(info, CacheInfo)
    assert (info.hits, info.misses) == (2, 2)
    ginfo = g.cache_info()  # type: ignore[attr-defined]
    assert (ginfo.hits, ginfo.misses) == (2, 1)


def test_cache_info_of_the_private_cache() -> None:
    @cached
    def f(x: int) -> int:
        return x

    assert f.cache_info() == (0, 0, f.cache_info().maxsize, 0)  # type: ignore[attr-defined]
    f(1), f(2), f(1)
    info = f.cache_info()  # type: ignore[attr-defined]
    assert (info.hits, info.misses, info.currsize) == (1, 2, 2)


def test_cache_clear_with_the_private_cache() -> None:
    calls: list[int] = []

    @cached
    def f(x: int) -> int:
        calls.append(x)
        return x

    f(1), f(2)
    f.cache_clear()  # type: ignore[attr-defined]
    assert f.cache_info().currsize == 0  # type: ignore[attr-defined]
    assert f(1) == 1
    assert calls == [1, 2, 1]
    assert f(1) == 1
    assert calls == [1, 2, 1]


def test_cache_clear_with_a_shared_cache_forgets_only_this_function() -> None:
    shared = Cache(max_entries=100)
    shared["unrelated"] = "keep me"
    calls: list[str] = []

    @cached(cache=shared)
    def f(x: int) -> int:
        calls.append("f")
        return x

    @cached(cache=shared)
    def g(x: int) -> int:
        calls.append("g")
        return -x

    f(1), g(1)
    f.cache_clear()  # type: ignore[attr-defined]
    assert shared["unrelated"] == "keep me"
    assert g(1) == -1  # g keeps its result
    assert f(1) == 1  # f computes again
    assert calls == ["f", "g", "f"]
    assert f(1) == 1
    assert calls == ["f", "g", "f"]


def test_cache_clear_of_an_async_function() -> None:
    calls: list[int] = []

    @cached
    async def f(x: int) -> int:
        calls.append(x)
        return x

    async def main() -> None:
        await f(1)
        f.cache_clear()  # type: ignore[attr-defined]
        await f(1)
        await f(1)

    asyncio.run(main())
    assert calls == [1, 1]


# --- keys ----------------------------------------------------------------------------


def test_custom_key_function() -> None:
    calls: list[tuple[int, bool]] = []

    @cached(key=lambda user_id, verbose=False: f"user:{user_id}")
    def load_user(user_id: int, verbose: bool = False) -> str:
        calls.append((user_id, verbose))
        return f"user {user_id}"

    assert load_user(1) == "user 1"
    assert load_user(1, verbose=True) == "user 1"  # same key: served from the cache
    assert load_user(2) == "user 2"
    assert calls == [(1, False), (2, False)]


def test_custom_key_function_may_return_bytes_and_allows_unpicklable_arguments() -> None:
    lock = threading.Lock()  # cannot be pickled
    calls: list[int] = []

    @cached(key=lambda lock, n: b"n=%d" % n)
    def f(lock: Any, n: int) -> int:
        calls.append(n)
        return n * 2

    assert f(lock, 1) == 2 and f(lock, 1) == 2 and f(lock, 2) == 4
    assert calls == [1, 2]


def test_custom_key_function_must_return_str_or_bytes() -> None:
    @cached(key=lambda x: x)
    def f(x: Any) -> Any:
        return x

    with pytest.raises(TypeError):
        f(1)


@pytest.mark.parametrize(
    "arg",
    [threading.Lock(), lambda: None, (i for i in range(3))],
    ids=["lock", "lambda", "generator"],
)
def test_unpicklable_arguments_without_key_raise_a_helpful_type_error(arg: Any) -> None:
    calls: list[Any] = []

    @cached
    def f(x: Any) -> int:
        calls.append(x)
        return 1

    with pytest.raises(TypeError, match="key="):
        f(arg)
    assert calls == []


def test_positional_and_keyword_arguments_are_not_confused() -> None:
    @cached
    def echo(*args: Any, **kwargs: Any) -> list[Any]:
        return [list(args), kwargs]

    calls = [
        ((1, 2), {}),
        ((), {"a": 1, "b": 2}),
        ((1,), {"b": 2}),
        ((1,), {"b": 3}),
        ((2,), {"b": 1}),
        ((), {"b": 2, "a": 1}),
        ((("b", 2),), {}),
        ((), {"a": 2}),
    ]
    for _ in range(2):  # the second round comes from the cache
        for args, kwargs in calls:
            assert echo(*args, **kwargs) == [list(args), kwargs]


def test_named_parameters_passed_by_position_or_keyword_give_the_same_result() -> None:
    @cached
    def sub(a: int, b: int = 10) -> int:
        return a - b

    for _ in range(2):
        assert sub(5, 2) == 3
        assert sub(5, b=2) == 3
        assert sub(a=5, b=2) == 3
        assert sub(b=2, a=5) == 3
        assert sub(2, 5) == -3
        assert sub(b=5, a=2) == -3
        assert sub(5) == -5


def test_arguments_of_different_types_do_not_collide() -> None:
    @cached(typed=True)
    def ident(x: Any) -> Any:
        return x

    args: list[Any] = [1, 1.0, True, "1", b"1", [1], {1}, None, 0, False, "", b""]
    for _ in range(2):
        for a in args:
            got = ident(a)
            assert type(got) is type(a) and got == a, (a, got)


def test_long_arguments_do_not_collide() -> None:
    @cached
    def ident(x: str) -> str:
        return x

    a, b = "x" * 5000, "x" * 4999 + "y"
    for _ in range(2):
        assert ident(a) == a
        assert ident(b) == b


def test_any_picklable_str_argument_works_without_key() -> None:
    # A str with a lone surrogate cannot be UTF-8 encoded but pickles fine,
    # so the default key must handle it (or at worst raise TypeError).
    @cached
    def length(s: str) -> int:
        return len(s)

    assert length("\ud800") == 1
    assert length("\ud800x") == 2


# --- shared caches ----------------------------------------------------------------------


def test_two_functions_sharing_a_cache_do_not_collide() -> None:
    shared = Cache(max_entries=100)

    @cached(cache=shared)
    def plus_one(x: int) -> int:
        return x + 1

    @cached(cache=shared)
    def times_ten(x: int) -> int:
        return x * 10

    for _ in range(2):
        assert plus_one(3) == 4
        assert times_ten(3) == 30
        assert plus_one(4) == 5 and times_ten(4) == 40


def test_functions_with_the_same_qualified_name_sharing_a_cache_do_not_collide() -> None:
    # Closures made by one factory, and lambdas, share __module__ and
    # __qualname__; they are still different functions.
    shared = Cache(max_entries=100)

    def make_adder(n: int) -> Callable[[int], int]:
        @cached(cache=shared)
        def add(x: int) -> int:
            return x + n

        return add

    add1, add2 = make_adder(1), make_adder(2)
    assert add1(10) == 11
    assert add2(10) == 12

    double = cached(cache=shared)(lambda x: x * 2)
    square = cached(cache=shared)(lambda x: x * x)
    assert double(5) == 10
    assert square(5) == 25


def test_shared_cache_without_codec_refuses_a_dict_result() -> None:
    shared = Cache(max_entries=100)  # no codec

    @cached(cache=shared)
    def as_dict(x: int) -> dict[str, int]:
        return {"x": x}

    with pytest.raises(UnsupportedValue) as info:
        as_dict(1)
    assert isinstance(info.value, TypeError)
    assert len(shared) == 0

    @cached(cache=shared)
    def as_str(x: int) -> str:
        return str(x)

    assert as_str(1) == "1" and as_str(1) == "1"


def test_shared_cache_with_codec_stores_a_dict_result() -> None:
    shared = Cache(max_entries=100, codec="json")
    calls: list[int] = []

    @cached(cache=shared)
    def as_dict(x: int) -> dict[str, Any]:
        calls.append(x)
        return {"x": x, "list": [1, 2]}

    assert as_dict(1) == {"x": 1, "list": [1, 2]}
    assert as_dict(1) == {"x": 1, "list": [1, 2]}
    assert calls == [1]
    assert as_dict.cache is shared  # type: ignore[attr-defined]


def test_cache_argument_must_be_a_cache() -> None:
    with pytest.raises(TypeError):
        cached(cache=42)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        cached(cache="not a cache")  # type: ignore[call-overload]

# --- in classes, generators -----------------------------------------------------------


def test_classmethod_in_either_order_is_cached_per_class() -> None:
    CALLS.clear()
    for _ in range(2):
        assert Shapes.over_classmethod(2) == "Shapes:8"
        assert Triangles.over_classmethod(2) == "Triangles:6"
        assert Shapes().under_classmethod(2) == "Shapes:8"
        assert Triangles.under_classmethod(2) == "Triangles:6"
    assert CALLS == ["over Shapes 2", "over Triangles 2", "under Shapes 2", "under Triangles 2"]
    assert isinstance(Shapes.__dict__["over_classmethod"], classmethod)
    assert Shapes.over_classmethod.cache_info().hits == 2  # type: ignore[attr-defined]
    assert Shapes.under_classmethod.cache_info().misses == 2  # type: ignore[attr-defined]


def test_staticmethod_in_either_order_is_cached() -> None:
    CALLS.clear()
    for _ in range(2):
        assert Shapes.over_staticmethod(1) == 10
        assert Shapes().over_staticmethod(1) == 10
        assert Shapes.under_staticmethod(1) == 100
    assert CALLS == ["static over 1", "static under 1"]
    assert isinstance(Shapes.__dict__["over_staticmethod"], staticmethod)


def test_async_classmethod_is_cached() -> None:
    CALLS.clear()

    async def main() -> None:
        for _ in range(2):
            assert await Shapes.async_classmethod(5) == "Shapes:5"
            assert await Triangles.async_classmethod(5) == "Triangles:5"

    asyncio.run(main())
    assert CALLS == ["async Shapes 5", "async Triangles 5"]


def test_method_without_key_is_refused_at_decoration_time() -> None:
    with pytest.raises(TypeError, match=r"method .*report would put self, pickled, into every key.*Pass key="):

        class Account:
            @cached
            def report(self, day: str) -> str:
                return day

    with pytest.raises(TypeError, match="Pass key="):
        cached(cache=Cache(max_entries=10))(lambda self: self)


def test_method_with_key_hits_although_the_object_changes() -> None:
    class Account:
        def __init__(self, ident: int) -> None:
            self.ident = ident
            self.reports = 0  # changes on every miss: a key of the pickled self never repeats

        @cached(key=lambda self, day: f"{self.ident}:{day}")
        def report(self, day: str) -> str:
            self.reports += 1
            return f"{self.ident}/{day}"

    a, b = Account(1), Account(2)
    assert [a.report("mon"), a.report("mon"), b.report("mon"), a.report("tue")] == ["1/mon", "1/mon", "2/mon", "1/tue"]
    assert (a.reports, b.reports) == (2, 1)
    assert Account.report.cache_info().hits == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("order", ["over", "under"])
def test_generator_functions_are_refused_at_decoration_time(order: str) -> None:
    def gen(n: int) -> Any:
        yield from range(n)

    async def agen(n: int) -> Any:
        yield n

    with pytest.raises(TypeError, match=r"cannot cache the generator function .*gen.*return list"):
        cached(gen)
    with pytest.raises(TypeError, match=r"cannot cache the async generator function .*agen.*returns a list"):
        cached(ttl=5)(agen)
    with pytest.raises(TypeError, match="generator function"):
        if order == "over":
            cached(staticmethod(gen))
        else:
            staticmethod(cached(gen))
    with pytest.raises(TypeError, match="async generator function"):
        cached(classmethod(agen))


def test_property_is_refused_with_a_pointer_to_cached_property() -> None:
    with pytest.raises(TypeError, match="cached_property"):

        class Thing:
            @cached  # type: ignore[type-var]
            @property
            def value(self) -> int:
                return 1


# --- re-entry and values too large ------------------------------------------------------


def test_recursion_with_other_arguments_works() -> None:
    @cached
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(60) == 1548008755920
    assert fib.cache_info().misses == 61  # type: ignore[attr-defined]


def test_calling_itself_with_the_same_arguments_raises_reentrant_load() -> None:
    @cached
    def loop(n: int) -> int:
        return loop(n)

    @cached
    async def aloop(n: int) -> int:
        return await aloop(n)

    with pytest.raises(ReentrantLoad, match="re-entered get_or_set for its own key"):
        call_with_deadline(lambda: loop(1))

    async def main() -> None:
        with pytest.raises(ReentrantLoad, match="re-entered get_or_set_async for its own key"):
            await asyncio.wait_for(aloop(1), WAIT)

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_result_too_large_to_cache_is_returned_and_counted(kind: str) -> None:
    shared = Cache(max_bytes=1 << 20, shards=1)
    big = b"x" * (2 << 20)
    calls: list[int] = []

    @cached(cache=shared)
    def load(n: int) -> bytes:
        calls.append(n)
        return big

    @cached(cache=shared)
    async def aload(n: int) -> bytes:
        calls.append(n)
        return big

    def call(n: int) -> bytes:
        return load(n) if kind == "sync" else asyncio.run(aload(n))

    assert call(1) is big
    assert call(1) is big  # not stored: loaded again
    assert calls == [1, 1]
    assert shared.stats().not_cached == 2
    assert len(shared) == 0


# --- metadata -------------------------------------------------------------------------


def test_wrapper_keeps_the_functions_metadata() -> None:
    def original(a: int, b: str = "x", *, c: float = 1.0) -> str:
        """The docstring."""
        return f"{a}{b}{c}"

    async def original_async(a: int) -> int:
        """Async docstring."""
        return a

    fns: list[Any] = [original, original_async]
    for fn in fns:
        wrapper: Any = cached(fn)
        assert wrapper.__name__ == fn.__name__
        assert wrapper.__qualname__ == fn.__qualname__
        assert wrapper.__doc__ == fn.__doc__
        assert wrapper.__module__ == fn.__module__
        assert wrapper.__annotations__ == fn.__annotations__
        assert wrapper.__wrapped__ is fn
        assert inspect.signature(wrapper) == inspect.signature(fn)
        assert inspect.iscoroutinefunction(wrapper) == inspect.iscoroutinefunction(fn)
        assert callable(wrapper.cache_clear) and callable(wrapper.cache_info)
