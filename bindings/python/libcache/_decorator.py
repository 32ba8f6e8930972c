"""@cached: memoise a function (sync or async) in a libcache.Cache, single-flight.

A plain function without key= is wrapped in _core.CachedFunction
(bindings/python/src/cached.cc): a call encodes its arguments in C and a hit
is one engine lookup, with no Python code run. A miss, or arguments the C
encoding does not take, come back here (_miss below): single-flight load
through Cache.get_or_set, with the pickle key of _default_key for those
arguments. Async functions and key= functions are wrapped in Python.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import pickle
import threading
from typing import Any, Callable, NamedTuple, Optional, Protocol, TypeVar, Union, overload

from . import _core
from ._cache import Cache

F = TypeVar("F", bound=Callable[..., Any])
# @cached above @classmethod / @staticmethod returns the same kind of object.
D = TypeVar("D", bound=Union["classmethod[Any, Any, Any]", "staticmethod[Any, Any]"])

# Keys longer than this are replaced by a 128-bit digest (the engine limit is
# 65535 bytes; long keys also cost memory in every entry).
_MAX_PLAIN_KEY = 256

_decorations = itertools.count()  # next() is atomic under the GIL

# Cache(values="object") keeps the result objects themselves (a hit returns
# the very object, with no decoding); older Cache classes store them pickled.
_OBJECT_VALUES = "values" in inspect.signature(Cache.__init__).parameters


class CacheInfo(NamedTuple):
    """As functools.lru_cache's: this function's hits and misses, the cache's bounds and size."""

    hits: int
    misses: int
    maxsize: Optional[int]
    currsize: int


def _default_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    if not kwargs and len(args) == 1 and type(args[0]) is str:
        try:
            return b"s" + args[0].encode()  # the common case, without pickle
        except UnicodeEncodeError:
            pass  # a lone surrogate: pickle handles it
    try:
        return b"p" + pickle.dumps((args, sorted(kwargs.items())), protocol=5)
    except Exception as e:
        raise TypeError(
            f"@cached cannot build a key from these arguments ({e}); pass key=... , a function "
            "of the same arguments returning a str or bytes key"
        ) from e


def _private_cache() -> Cache:
    """The cache of a @cached function given no cache."""
    options: dict[str, Any] = {"codec": "pickle"}
    if _OBJECT_VALUES:
        options["values"] = "object"
    return Cache(**options)


def _arguments_key(args: tuple[Any, ...], kwargs: dict[str, Any], typed: bool) -> bytes:
    """The key of the arguments (without the name@generation: prefix), for key=None.

    The compiled encoding where it applies (the one CachedFunction uses, so
    that sync and async functions follow the same typed rules), else the
    pickle key; neither starts with b"u" (key= functions) or b"h" (digests),
    and the compiled one never with b"p" or b"s", so none collide.
    """
    k = _core._cached_key(args, kwargs, typed)
    return k if k is not None else _default_key(args, kwargs)


def _full_key(name: bytes, generation: int, k: bytes) -> bytes:
    if len(k) > _MAX_PLAIN_KEY:
        k = b"h" + hashlib.blake2b(k, digest_size=16).digest()
    # The generation makes cache_clear() O(1) on a shared cache: old keys are
    # never asked for again and age out.
    return b"%s@%d:%s" % (name, generation, k)


def _compiled_wrapper(fn: Any, store: Cache, name: bytes, typed: bool, ttl: Optional[float], private: bool) -> Any:
    """fn wrapped in a CachedFunction: hits in C, the rest in miss()."""
    lock = threading.Lock()  # cache_clear's read-modify-write of the generation
    # A private cache holds this function's results alone: its keys need no
    # name (a shorter key is hashed and compared faster on every hit).
    name = b"" if private else name

    def miss(k: Optional[bytes], args: tuple[Any, ...], kwargs: Optional[dict[str, Any]]) -> Any:
        # k: the compiled key, absent from the cache a moment ago; None for
        # arguments the compiled encoding does not take (the pickle key then).
        kw = {} if kwargs is None else kwargs
        fallback = k is None
        if k is None:
            k = _full_key(name, wrapper.generation, _default_key(args, kw))
        loaded = False

        def load() -> Any:
            nonlocal loaded
            loaded = True
            return fn(*args, **kw)

        # The compiled lookup missed already: straight to the single-flight
        # load (when k was None, the pickle key was not asked for yet).
        value = store.get_or_set(k, load, ttl) if fallback else store._load_missed(k, load, ttl)
        wrapper._count(loaded)  # a hit too if another thread's load served it
        return value

    wrapper: Any = _core.CachedFunction(fn, store, name, typed, miss)
    functools.update_wrapper(wrapper, fn)

    def cache_clear() -> None:
        with lock:
            wrapper.generation += 1
        wrapper.hits = wrapper.misses = 0
        if private:
            store.clear()  # the private cache holds only this function's results

    def cache_info() -> CacheInfo:
        return CacheInfo(wrapper.hits, wrapper.misses, store.max_entries, len(store))

    wrapper.cache_clear = cache_clear
    wrapper.cache_info = cache_info
    wrapper.cache = store
    return wrapper


def _refuse(fn: Any, key_given: bool) -> None:
    """Raises TypeError, at decoration time, for what @cached cannot cache right."""
    if isinstance(fn, property):
        raise TypeError(
            "@cached cannot wrap a property: use functools.cached_property for a value computed once "
            "per object, or put @property above @cached(key=...)"
        )
    if not callable(fn):
        raise TypeError(f"@cached needs a function, not {type(fn).__name__}")
    name = getattr(fn, "__qualname__", repr(fn))
    if inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"@cached cannot cache the async generator function {name}: its result is an async "
            "generator, which runs once and cannot be stored; cache an async function that returns "
            "a list instead (e.g. return [x async for x in ...])"
        )
    if inspect.isgeneratorfunction(fn):
        raise TypeError(
            f"@cached cannot cache the generator function {name}: its result is a generator, which "
            "runs once and cannot be stored; cache a function that returns a list instead "
            "(e.g. return list(...))"
        )
    if key_given:
        return
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature (some builtins): nothing to refuse
        return
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if params and params[0].name == "self" and params[0].kind in positional:
        raise TypeError(
            f"@cached on the method {name} would put self, pickled, into every key: a method of an "
            "object that changes would never hit, and objects that cannot be pickled would fail. "
            "Pass key=, a function of the same arguments (self included) that returns the key from "
            "what the result depends on, e.g. @cached(key=lambda self, day: f\"{self.id}:{day}\"); "
            "or use functools.cached_property for a value of the object alone"
        )


class _Decorator(Protocol):
    @overload
    def __call__(self, fn: D) -> D: ...  # type: ignore[overload-overlap]  # D first: staticmethod is callable
    @overload
    def __call__(self, fn: F) -> F: ...


@overload
def cached(cache: D) -> D: ...  # type: ignore[overload-overlap]


@overload
def cached(cache: F) -> F: ...


@overload
def cached(
    cache: Optional[Cache] = None,
    ttl: Optional[float] = None,
    key: Optional[Callable[..., Union[str, bytes]]] = None,
    typed: bool = False,
) -> _Decorator: ...


def cached(
    cache: Any = None,
    ttl: Optional[float] = None,
    key: Optional[Callable[..., Union[str, bytes]]] = None,
    typed: bool = False,
) -> Any:
    """Caches a function's results in a libcache.Cache.

    Works on plain and async functions. Concurrent calls with the same
    arguments run the function once (single-flight: threads for plain
    functions, tasks for async ones); if it raises, every waiting caller gets
    the exception and nothing is cached. A result too large for the cache is
    returned without being stored (counted in .cache.stats().not_cached). A
    function that calls itself with the same arguments raises ReentrantLoad
    (it would wait for its own result forever); with other arguments it works.

    In a class: over or under @classmethod and @staticmethod, in either order
    (a classmethod's key includes the class, pickled by reference). A method
    (first parameter self) needs key=: by default self would be pickled into
    the key, so the decorator refuses it. Generator and async generator
    functions are refused (a generator runs once and cannot be stored), and
    so are properties. Each refusal is a TypeError at decoration time.

    Args:
        cache: the Cache to use. Without one, the function gets a private cache
            (64 MiB, pickle codec, values="object"): it keeps the result objects
            themselves, so a hit returns the very object the function returned,
            as lru_cache does (a caller that mutates it changes what later
            calls get). With a shared cache, results must be storable by that
            cache's codec (or it has values="object").
        ttl: seconds a result lives (None: the cache's default_ttl; 0: forever).
        key: a function of the same arguments returning a str or bytes key. By
            default the key is built from the arguments: str, bytes, int,
            float, bool, None and tuples of them directly (fast: a hit of a
            plain function runs no Python code), anything else pickled, so it
            must be picklable. Keys are prefixed with the function's qualified
            name.
        typed: as lru_cache's (without key=). False: f(1), f(1.0) and f(True)
            are one call, cached once; True: arguments of different types are
            cached separately. As with lru_cache, f(1) and f(x=1) are cached
            separately; the order of keyword arguments does not matter.

    The wrapper has cache_clear() (forgets this function's results), cache_info()
    and .cache (the Cache it uses).
    """
    if isinstance(cache, (classmethod, staticmethod, property)) or (callable(cache) and not isinstance(cache, Cache)):
        return cached()(cache)  # type: ignore[type-var]  # used as @cached, without parentheses
    if cache is not None and not isinstance(cache, Cache):
        raise TypeError(f"cache must be a libcache.Cache or None, not {type(cache).__name__}")
    _core._ttl_ms(ttl)  # the TTL rule of every write: a bad ttl fails here, not at the first call

    def decorate(fn: Any) -> Any:
        if isinstance(fn, (classmethod, staticmethod)):
            # @cached above @classmethod/@staticmethod: cache the function, wrap it again.
            return type(fn)(decorate(fn.__func__))
        _refuse(fn, key is not None)
        store = cache if cache is not None else _private_cache()
        name = f"{fn.__module__}.{fn.__qualname__}"
        if "<" in name:
            # Closures and lambdas share a qualified name ("f.<locals>.g",
            # "<lambda>"): number each decoration so they never share results.
            name += f"#{next(_decorations)}"
        name_bytes = name.encode("utf-8", "surrogatepass")
        if key is None and not inspect.iscoroutinefunction(fn):
            return _compiled_wrapper(fn, store, name_bytes, bool(typed), ttl, cache is None)
        lock = threading.Lock()
        counts = {"hits": 0, "misses": 0, "generation": 0}

        def make_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
            if key is None:
                k = _arguments_key(args, kwargs, typed)
            else:
                user = key(*args, **kwargs)
                if isinstance(user, str):
                    k = b"u" + user.encode()
                elif isinstance(user, bytes):
                    k = b"u" + user
                else:
                    raise TypeError(f"@cached key= function returned {type(user).__name__}; it must return str or bytes")
            return _full_key(name_bytes, counts["generation"], k)

        def count(loaded: bool) -> None:
            with lock:
                counts["misses" if loaded else "hits"] += 1

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                loaded = False

                async def load() -> Any:
                    nonlocal loaded
                    loaded = True
                    return await fn(*args, **kwargs)

                value = await store.get_or_set_async(make_key(args, kwargs), load, ttl)
                count(loaded)
                return value

            wrapper: Any = async_wrapper
        else:

            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                loaded = False

                def load() -> Any:
                    nonlocal loaded
                    loaded = True
                    return fn(*args, **kwargs)

                value = store.get_or_set(make_key(args, kwargs), load, ttl)
                count(loaded)
                return value

            wrapper = sync_wrapper

        def cache_clear() -> None:
            with lock:
                counts["generation"] += 1
                counts["hits"] = counts["misses"] = 0
            if cache is None:
                store.clear()  # the private cache holds only this function's results

        def cache_info() -> CacheInfo:
            with lock:
                return CacheInfo(counts["hits"], counts["misses"], store.max_entries, len(store))

        wrapper.cache_clear = cache_clear
        wrapper.cache_info = cache_info
        wrapper.cache = store
        return wrapper

    return decorate
