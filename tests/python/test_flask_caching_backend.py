"""libcache.contrib.flask_caching.LibcacheCache, the Flask-Caching backend.

Three parts:
- Flask-Caching's own generic backend tests (GenericCacheTests in the sdist's
  tests/test_backend_cache.py), run against LibcacheCache when the sdist's
  tests are present (scripts/setup.sh unpacks them into
  .venv/flask-caching-tests; LIBCACHE_FLASK_CACHING_TESTS overrides the path);
  skipped otherwise.
- An equivalent set of our own over the whole API, SimpleCache's semantics
  (timeouts, copies, return values), the factory's config keys, and a Flask
  app with @cache.cached and @cache.memoize views.
- The Redis tier: write-behind, write-through, read-through from another
  instance, clear (a real redis-server per test, as in test_redis.py).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

pytest.importorskip("flask_caching")

import flask  # noqa: E402
from flask_caching import Cache as FlaskCache  # noqa: E402
from flask_caching.backends import SimpleCache  # noqa: E402

import libcache  # noqa: E402
from libcache import Cache  # noqa: E402
from libcache._core import FakeClock  # noqa: E402
from libcache.contrib.flask_caching import LibcacheCache  # noqa: E402

BACKEND = "libcache.contrib.flask_caching.LibcacheCache"


def make(clock: FakeClock, **kwargs: Any) -> LibcacheCache:
    """A backend over a cache that reads the fake clock (TTLs expire when the test advances it)."""
    cache = Cache(max_bytes=8 << 20, codec="pickle", values="object", _clock=clock)
    return LibcacheCache(cache=cache, **kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def c(clock: FakeClock) -> Iterator[LibcacheCache]:
    backend = make(clock, default_timeout=300)
    yield backend
    backend.cache.close()


# ---- Flask-Caching's own generic backend tests -----------------------------------

_FC_TESTS = Path(
    os.environ.get("LIBCACHE_FLASK_CACHING_TESTS", Path(__file__).resolve().parents[2] / ".venv" / "flask-caching-tests")
)


def _load_generic_tests() -> Any:
    path = _FC_TESTS / "test_backend_cache.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("flask_caching_upstream_test_backend_cache", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.GenericCacheTests


_Generic = _load_generic_tests()

if _Generic is not None:

    class TestFlaskCachingGenericTests(_Generic):  # type: ignore[misc,valid-type]
        """Flask-Caching's GenericCacheTests (upstream code) against LibcacheCache."""

        @pytest.fixture
        def clock(self) -> FakeClock:  # the upstream sleep fixture advances it
            return FakeClock()

        @pytest.fixture
        def make_cache(self, clock: FakeClock) -> Iterator[Callable[[], LibcacheCache]]:
            made: List[LibcacheCache] = []

            def factory() -> LibcacheCache:
                made.append(make(clock))
                return made[-1]

            yield factory
            for backend in made:
                backend.cache.close()

else:

    def test_flask_caching_generic_tests() -> None:
        pytest.skip(f"Flask-Caching's sdist tests are not at {_FC_TESTS} (scripts/setup.sh unpacks them)")


# ---- the API, as SimpleCache behaves ----------------------------------------------


def test_get_set_and_missing(c: LibcacheCache) -> None:
    assert c.get("nope") is None
    assert c.set("a", "x") is True
    assert c.get("a") == "x"
    assert c.set("a", {"k": [1, 2]}) is True  # overwrites
    assert c.get("a") == {"k": [1, 2]}
    assert c.set("none", None) is True
    assert c.get("none") is None and c.has("none")


def test_add(c: LibcacheCache) -> None:
    assert c.add("k", 1) is True
    assert c.add("k", 2) is False
    assert c.get("k") == 1
    c.delete("k")
    assert c.add("k", 3) is True and c.get("k") == 3


def test_add_after_expiry(c: LibcacheCache, clock: FakeClock) -> None:
    assert c.add("k", 1, timeout=1)
    clock.advance(1.5)
    assert c.add("k", 2) is True and c.get("k") == 2


def test_delete_and_has(c: LibcacheCache) -> None:
    assert c.delete("k") is False
    c.set("k", b"v")
    assert c.has("k") is True
    assert c.delete("k") is True
    assert c.has("k") is False and c.get("k") is None


def test_many(c: LibcacheCache) -> None:
    assert c.set_many({"a": 1, "b": [2], "c": "3"}) == ["a", "b", "c"]
    assert c.get_many("a", "b", "c", "zz") == [1, [2], "3", None]
    assert c.get_dict("a", "zz") == {"a": 1, "zz": None}
    assert c.delete_many("a", "b", "zz") == ["a", "b", "zz"]  # absent keys count as deleted
    assert c.get_many("a", "b", "c") == [None, None, "3"]


def test_set_many_is_all_or_nothing_for_unpicklable_values(c: LibcacheCache) -> None:
    with pytest.raises(TypeError):
        c.set_many({"a": 1, "lock": threading.Lock()})
    assert c.get("a") is None


def test_clear(c: LibcacheCache) -> None:
    c.set_many({"a": 1, "b": 2})
    assert c.clear() is True
    assert c.get_many("a", "b") == [None, None]
    assert len(c.cache) == 0


def test_inc_dec(c: LibcacheCache) -> None:
    assert c.inc("n") == 1  # a missing key starts at 0
    assert c.inc("n", 5) == 6
    assert c.dec("n", 2) == 4 and c.get("n") == 4
    assert c.dec("m") == -1
    c.set("f", 1.5)
    assert c.inc("f") == 2.5


def test_inc_is_atomic_across_threads(c: LibcacheCache) -> None:
    def work() -> None:
        for _ in range(200):
            c.inc("n")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.get("n") == 800


def test_delete_many_errors_flag() -> None:
    assert LibcacheCache().ignore_delete_many_errors is False
    assert LibcacheCache(ignore_delete_many_errors=True).ignore_delete_many_errors is True


# ---- timeouts ---------------------------------------------------------------------


def test_default_timeout(clock: FakeClock) -> None:
    c = make(clock, default_timeout=10)
    c.set("a", 1)  # timeout=None: the default
    clock.advance(9.5)
    assert c.get("a") == 1
    clock.advance(1)
    assert c.get("a") is None and not c.has("a")


def test_timeout_zero_never_expires(clock: FakeClock) -> None:
    c = make(clock, default_timeout=10)
    c.set("a", 1, timeout=0)
    c.add("b", 2, timeout=0)
    c.set_many({"c": 3}, timeout=0)
    clock.advance(10**6)
    assert c.get_many("a", "b", "c") == [1, 2, 3]


def test_default_timeout_zero_never_expires(clock: FakeClock) -> None:
    c = make(clock, default_timeout=0)
    c.set("a", [1])
    clock.advance(10**6)
    assert c.get("a") == [1]


def test_explicit_timeout_and_timedelta(c: LibcacheCache, clock: FakeClock) -> None:
    c.set("a", 1, timeout=2)
    c.set("b", 1, timeout=dt.timedelta(milliseconds=200))  # rounded up to 1 s, as cachelib does
    clock.advance(0.5)
    assert c.get_many("a", "b") == [1, 1]
    clock.advance(0.6)
    assert c.get_many("a", "b") == [1, None]
    clock.advance(1)
    assert c.get("a") is None


def test_negative_timeout_stores_nothing(c: LibcacheCache) -> None:
    c.set("a", 1)
    assert c.set("a", 2, timeout=-1) is True  # expired at once: gone, as with SimpleCache
    assert c.get("a") is None and not c.has("a")
    assert c.add("b", 1, timeout=-1) is True and c.get("b") is None
    c.set("b", 1)
    assert c.add("b", 2, timeout=-1) is False and c.get("b") == 1


def test_float_timeout_is_deprecated_by_cachelib(c: LibcacheCache, clock: FakeClock) -> None:
    with pytest.warns(DeprecationWarning, match="Float timeouts"):
        c.set("a", 1, timeout=0.5)  # rounded up to 1 s
    clock.advance(0.8)
    assert c.get("a") == 1
    clock.advance(0.3)
    assert c.get("a") is None


def test_bad_timeout_type(c: LibcacheCache) -> None:
    with pytest.raises(TypeError):
        c.set("a", 1, timeout="10")  # type: ignore[arg-type]
    assert c.get("a") is None


# ---- key prefix -------------------------------------------------------------------


def test_key_prefix(clock: FakeClock) -> None:
    shared = Cache(max_bytes=1 << 20, codec="pickle", values="object", _clock=clock)
    a = LibcacheCache(cache=shared, key_prefix="a:")
    b = LibcacheCache(cache=shared, key_prefix="b:")
    a.set("k", 1)
    b.set("k", 2)
    assert a.get("k") == 1 and b.get("k") == 2
    assert shared.get("a:k") == 1 and shared.get("k") is None
    a.delete("k")
    assert a.get("k") is None and b.get("k") == 2
    assert a.has("k") is False and b.has("k") is True
    shared.close()


def test_key_prefix_must_be_str() -> None:
    with pytest.raises(TypeError):
        LibcacheCache(key_prefix=b"x")  # type: ignore[arg-type]


# ---- values: copies and objects ----------------------------------------------------


def test_mutable_values_are_copies(c: LibcacheCache) -> None:
    value = {"items": [1, 2]}
    c.set("d", value)
    value["items"].append(3)  # mutating what was passed to set
    got = c.get("d")
    assert got == {"items": [1, 2]}
    got["items"].append(4)  # mutating what get returned
    assert c.get("d") == {"items": [1, 2]}
    assert c.get("d") is not c.get("d")


def test_immutable_values_are_kept_as_objects(c: LibcacheCache) -> None:
    s = "x" * 1000
    t = (1, "a", (b"b", None), frozenset({2.5}))
    c.set("s", s)
    c.set("t", t)
    assert c.get("s") is s and c.get("t") is t  # no pickle, no copy: they cannot change


def test_tuple_holding_a_list_is_copied(c: LibcacheCache) -> None:
    t = (1, [2])
    c.set("t", t)
    t[1].append(3)
    assert c.get("t") == (1, [2])


class Tag(str):
    pass


def test_types_round_trip(c: LibcacheCache) -> None:
    values: List[Any] = [True, False, 0, -(2**100), 1.5, 1j, "é", b"\x00", bytearray(b"ab"), {1, 2}, Tag("t"), None]
    for i, v in enumerate(values):
        c.set(str(i), v)
    for i, v in enumerate(values):
        got = c.get(str(i))
        assert got == v and type(got) is type(v), (v, got)


def test_unpicklable_value_raises_and_stores_nothing(c: LibcacheCache) -> None:
    c.set("k", 1)
    with pytest.raises(TypeError, match="pickle"):
        c.set("k", threading.Lock())
    with pytest.raises((pickle.PicklingError, AttributeError)):
        c.set("k", lambda: 1)
    assert c.get("k") == 1
    with pytest.raises(TypeError):
        c.add("new", threading.Lock())
    assert not c.has("new")


def test_custom_serializer(clock: FakeClock) -> None:
    from cachelib.serializers import BaseSerializer

    class Counting(BaseSerializer):
        calls = 0

        def dumps(self, value: Any, protocol: int = pickle.HIGHEST_PROTOCOL) -> bytes:
            Counting.calls += 1
            return pickle.dumps(value, protocol)

    c = make(clock)
    c.serializer = Counting()
    c.set("l", [1])
    c.set("s", "immutable")
    assert Counting.calls == 1 and c.get("l") == [1]


def test_max_bytes_charges_pickled_size(clock: FakeClock) -> None:
    c = LibcacheCache(max_bytes=1 << 20)
    c.set("big", [b"x" * 100_000])
    assert c.cache.stats().bytes >= 100_000
    c.close()


def test_bounds_evict() -> None:
    c = LibcacheCache(max_bytes=None, max_entries=10)
    for i in range(100):
        c.set(str(i), [i])
    assert len(c.cache) <= 10
    c.close()


def test_cache_must_hold_objects() -> None:
    with pytest.raises(ValueError, match="object"):
        LibcacheCache(cache=Cache(max_bytes=1 << 20))


def test_write_through_needs_redis() -> None:
    with pytest.raises(ValueError, match="redis_url"):
        LibcacheCache(write_mode="through")
    with pytest.raises(ValueError, match="write_mode"):
        LibcacheCache(write_mode="sideways")


def test_behaves_like_simplecache() -> None:
    """The same calls on SimpleCache and LibcacheCache return the same results."""
    ops: List[Callable[[Any], Any]] = [
        lambda x: x.get("a"),
        lambda x: x.set("a", [1]),
        lambda x: x.get("a"),
        lambda x: x.add("a", 2),
        lambda x: x.add("b", 2),
        lambda x: x.has("b"),
        lambda x: x.inc("b", 3),
        lambda x: x.dec("c"),
        lambda x: x.get_many("a", "b", "c", "d"),
        lambda x: x.set_many({"e": (1, 2), "f": None}),
        lambda x: x.get_dict("e", "f"),
        lambda x: x.delete("a"),
        lambda x: x.delete("a"),
        lambda x: x.delete_many("b", "zz"),
        lambda x: x.set("g", 1, timeout=0),
        lambda x: x.get("g"),
        lambda x: x.clear(),
        lambda x: x.get("g"),
    ]
    simple, ours = SimpleCache(), LibcacheCache()
    assert [op(simple) for op in ops] == [op(ours) for op in ops]
    ours.close()


# ---- factory and Flask ---------------------------------------------------------------


def _app(**config: Any) -> "tuple[flask.Flask, FlaskCache]":
    app = flask.Flask(__name__)
    app.testing = True
    cache = FlaskCache(app, config={"CACHE_TYPE": BACKEND, **config})
    return app, cache


def _backend(app: flask.Flask, cache: FlaskCache) -> LibcacheCache:
    backend = app.extensions["cache"][cache]
    assert isinstance(backend, LibcacheCache)
    return backend


def test_factory_reads_config() -> None:
    app, cache = _app(
        CACHE_DEFAULT_TIMEOUT=42,
        CACHE_KEY_PREFIX="app:",
        CACHE_LIBCACHE_MAX_BYTES=1 << 20,
        CACHE_LIBCACHE_MAX_ENTRIES=1000,
        CACHE_LIBCACHE_POLICY="adaptive",
        CACHE_IGNORE_ERRORS=True,
    )
    b = _backend(app, cache)
    assert b.default_timeout == 42 and b.key_prefix == "app:" and b.ignore_delete_many_errors is True
    assert b.cache.max_bytes == 1 << 20 and b.cache.max_entries == 1000 and b.cache.values == "object"
    assert b.cache.policy == "adaptive"
    assert b.redis_store is None
    with app.app_context():
        cache.set("k", [1])
        assert cache.get("k") == [1]
    assert b.cache.get("app:k") is not None
    b.close()


def test_factory_defaults() -> None:
    app, cache = _app()
    b = _backend(app, cache)
    assert b.default_timeout == 300 and b.key_prefix == "flask_cache_"
    assert b.cache.max_entries == 500  # CACHE_THRESHOLD, as for SimpleCache
    assert b.cache.max_bytes == 64 << 20
    assert b.cache.policy == "clock"
    b.close()
    app, cache = _app(CACHE_THRESHOLD=0)  # 0: no entry bound (the byte bound stays)
    b = _backend(app, cache)
    assert b.cache.max_entries is None and b.cache.max_bytes == 64 << 20
    b.close()


def test_factory_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="bound"):
        _app(CACHE_LIBCACHE_MAX_BYTES=None, CACHE_LIBCACHE_MAX_ENTRIES=None)


def test_factory_cache_options_win() -> None:
    app, cache = _app(CACHE_OPTIONS={"max_entries": 7, "key_prefix": "o:"}, CACHE_DEFAULT_TIMEOUT=dt.timedelta(minutes=1))
    b = _backend(app, cache)
    assert b.cache.max_entries == 7 and b.key_prefix == "o:" and b.default_timeout == 60
    b.close()


def test_flask_serializer_setting() -> None:
    from cachelib.serializers import BaseSerializer

    class Marking(BaseSerializer):
        pass

    app, cache = _app(CACHE_SERIALIZER=Marking)
    assert isinstance(_backend(app, cache).serializer, Marking)


def test_cached_and_memoized_views() -> None:
    app, cache = _app(CACHE_DEFAULT_TIMEOUT=0)
    calls = {"index": 0, "square": 0}

    @app.route("/")
    @cache.cached()
    def index() -> str:
        calls["index"] += 1
        return f"hello {calls['index']}"

    @cache.memoize()
    def square(n: int) -> List[int]:
        calls["square"] += 1
        return [n * n]

    @app.route("/square/<int:n>")
    def square_view(n: int) -> str:
        return str(square(n)[0])

    client = app.test_client()
    assert client.get("/").get_data(as_text=True) == "hello 1"
    assert client.get("/").get_data(as_text=True) == "hello 1"  # cached
    assert calls["index"] == 1
    assert client.get("/square/3").get_data(as_text=True) == "9"
    assert client.get("/square/3").get_data(as_text=True) == "9"
    assert client.get("/square/4").get_data(as_text=True) == "16"
    assert calls["square"] == 2
    with app.app_context():
        cache.delete_memoized(square, 3)
    assert client.get("/square/3").get_data(as_text=True) == "9"
    assert calls["square"] == 3
    with app.app_context():
        cache.clear()
    assert client.get("/").get_data(as_text=True) == "hello 2"
    _backend(app, cache).close()


def test_cached_view_expires() -> None:
    clock = FakeClock()
    app = flask.Flask(__name__)
    backend = make(clock, default_timeout=5, key_prefix="v:")
    cache = FlaskCache(app, config={"CACHE_TYPE": BACKEND, "CACHE_OPTIONS": {"cache": backend.cache}})
    hits = []

    @app.route("/t")
    @cache.cached(timeout=5)
    def t() -> str:
        hits.append(1)
        return str(len(hits))

    client = app.test_client()
    assert client.get("/t").get_data(as_text=True) == "1"
    clock.advance(4)
    assert client.get("/t").get_data(as_text=True) == "1"
    clock.advance(2)
    assert client.get("/t").get_data(as_text=True) == "2"
    backend.cache.close()


def test_core_package_does_not_import_flask() -> None:
    code = "import sys, libcache, libcache.contrib; assert not any(m.split('.')[0] in ('flask', 'flask_caching', 'cachelib') for m in sys.modules), sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONWARNINGS": "error"})


# ---- the Redis tier ------------------------------------------------------------------

try:
    from redis_server import REDIS_SERVER, RedisServer
except ImportError:  # redis-py missing
    REDIS_SERVER = None

redis_only = pytest.mark.skipif(
    REDIS_SERVER is None or not libcache._core.HAS_REDIS, reason="needs redis-server, redis-py and a _core with hiredis"
)
FAST = dict(connect_timeout=0.5, command_timeout=0.5, retry_backoff=(0.005, 0.05))


@pytest.fixture
def server(tmp_path: Path) -> Iterator["RedisServer"]:
    s = RedisServer(tmp_path)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _redis_backend(server: "RedisServer", **kwargs: Any) -> LibcacheCache:
    options = {"prefix": "t:", **FAST, **kwargs.pop("redis_options", {})}
    return LibcacheCache(max_bytes=1 << 20, redis_url=server.url, redis_options=options, **kwargs)


@redis_only
def test_redis_write_behind_then_read_through(server: "RedisServer") -> None:
    a = _redis_backend(server, key_prefix="app:")
    b = _redis_backend(server, key_prefix="app:")
    try:
        assert a.set("user", {"name": "Ada"}, timeout=60)
        assert a.set("n", 42, timeout=0)
        assert a.set("t", (1, "x"))
        assert a.redis_store is not None
        a.redis_store.flush(timeout=5)
        r = server.client()
        assert r.exists("t:app:user", "t:app:n", "t:app:t") == 3
        assert 0 < r.ttl("t:app:user") <= 60 and r.ttl("t:app:n") == -1
        assert b.get("user") == {"name": "Ada"}  # read through, unpickled
        assert b.get("n") == 42 and b.get("t") == (1, "x")
        assert b.has("user") and b.get("missing") is None
        assert a.delete("user")
        a.redis_store.flush(timeout=5)
        assert r.exists("t:app:user") == 0
    finally:
        a.close()
        b.close()


@redis_only
def test_redis_write_through(server: "RedisServer") -> None:
    a = _redis_backend(server, write_mode="through")
    b = _redis_backend(server, redis_options={"coherence": False})
    r = server.client()
    try:
        assert a.set("k", [1, 2])
        assert r.exists("t:k") == 1  # in Redis when set returns
        assert b.get("k") == [1, 2]
        assert a.add("k", 3) is False
        assert a.add("k2", 3) is True and r.exists("t:k2") == 1
        assert a.delete("k") is True
        assert r.exists("t:k") == 0
        assert a.set_many({"x": 1, "y": "2"}) == ["x", "y"] and r.exists("t:x", "t:y") == 2
        assert a.inc("x") == 2
    finally:
        a.close()
        b.close()


@redis_only
def test_redis_clear_deletes_prefixed_keys_only(server: "RedisServer") -> None:
    a = _redis_backend(server, key_prefix="app:")
    r = server.client()
    r.set("t:other:k", b"keep")
    r.set("unrelated", b"keep")
    try:
        a.set_many({"a": 1, "b": [2]})
        assert a.clear() is True
        assert r.exists("t:app:a", "t:app:b") == 0
        assert r.get("t:other:k") == b"keep" and r.get("unrelated") == b"keep"
        assert a.get("a") is None
    finally:
        a.close()


@redis_only
def test_redis_flask_app_shares_memoized_results(server: "RedisServer") -> None:
    config = {
        "CACHE_LIBCACHE_REDIS_URL": server.url,
        "CACHE_LIBCACHE_WRITE_MODE": "through",
        "CACHE_LIBCACHE_REDIS_OPTIONS": {"prefix": "f:", **FAST},
    }
    calls: List[int] = []
    apps = []
    for _ in range(2):
        app, cache = _app(**config)

        def compute(n: int) -> int:
            calls.append(n)
            return n * 2

        compute.__qualname__ = "compute"  # the same function name in both "processes"
        apps.append((app, cache, cache.memoize(timeout=60)(compute)))
    try:
        for app, _cache, fn in apps:
            with app.app_context():
                assert fn(21) == 42
        assert calls == [21]  # the second app read the first one's result from Redis
    finally:
        for app, cache, _fn in apps:
            _backend(app, cache).close()
