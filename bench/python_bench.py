#!/usr/bin/env python3
"""ns/op of libcache.Cache from Python against the caches Python programs use.

Engines, all in this process and this run: dict, functools.lru_cache,
cachetools (LRUCache, TTLCache), cachebox (LRUCache, TTLCache), theine and
libcache (with and without a default TTL). Operations:

  get-hit        a get of a resident key (10,000 resident, walked in a
                 shuffled order); for lru_cache, a call with a cached argument
  get-miss       a get of a key that is not there
  set-update     a set of a resident key (the cache holds every key)
  set-new-evict  a set of a key never seen before into a full cache of 1,000
                 entries, so every set evicts; for lru_cache, a call with a new
                 argument

Keys are 16-character ASCII str, values 100-byte bytes. Every engine walks
the same precomputed key lists; every timed loop is

    for k in keys:
        <statement>            # e.g. c.get(k), c[k], c.set(k, v), f(k)

and ns/op is (loop time - empty-loop time over the same list) / len(keys). The
empty loop (`for k in keys: pass`) is timed in the same repetitions. Each
repetition runs every (engine, op) once, in a shuffled order, so that noise on
the VM spreads over all engines; the table shows medians over the repetitions.
The garbage collector is off inside the timed loops (as in timeit).

Decorators, in a second table, same run: a hit of a memoised function of one
argument returning a dict ({"key": k, "value": <100 bytes>}), called with one
of 10,000 resident int arguments (call-hit-int) or str arguments (the same
16-character keys; call-hit-str): libcache.cached, functools.lru_cache,
cachetools.cached (LRUCache) and cachebox.cached (LRUCache), each in its
default configuration; the timed statement is c(k), and lru_cache's hit of
the same op is the reference.

Peers are measured in two forms where they have both: the method form (get;
set or insert where the class has one, else c[k] = v) and the subscript form
(c[k], c[k] = v; its get-miss would be a KeyError, so it is not measured).

Usage:
  python bench/python_bench.py [--quick] [--json PATH]

Needs cachetools, cachebox and theine (pip install cachetools cachebox theine);
an engine that is not installed is skipped with a note.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.metadata
import inspect
import json
import os
import platform
import random
import statistics
import string
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

try:
    import libcache
except ImportError:
    sys.exit("libcache is not installed in this Python: run scripts/setup.sh, then .venv/bin/python " + sys.argv[0])

RESIDENT_KEYS = 10_000  # keys resident for get-hit and set-update
EVICT_CAPACITY = 1_000  # entries of every engine in set-new-evict
KEY_CHARS = 16
VALUE_BYTES = 100
BIG_TTL = 3600  # seconds: the TTL caches expire nothing during a run

OPS = ("get-hit", "get-miss", "set-update", "set-new-evict")
REFERENCE = ("lru_cache", "get-hit")  # what the ratio columns divide by
DECORATOR_OPS = ("call-hit-int", "call-hit-str")  # the decorators' table
DECORATOR_REFERENCE = "@functools.lru_cache"  # its hit of the same op is the decorators' reference


# ---- Workload ------------------------------------------------------------------


@dataclass
class Workload:
    resident: list[str]  # RESIDENT_KEYS distinct keys, inserted before get-hit/set-update
    walk: list[str]  # the resident keys in shuffled passes: what get-hit and set-update walk
    absent: list[str]  # keys never inserted anywhere: get-miss and set-new-evict walk these
    warm: list[str]  # EVICT_CAPACITY keys that fill the set-new-evict caches first
    value: bytes
    resident_ints: list[int]  # int arguments of call-hit-int: 0 .. RESIDENT_KEYS - 1
    walk_ints: list[int]  # walk, each key replaced by its index in resident


def make_workload(ops: int, seed: int = 20240601) -> Workload:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    needed = RESIDENT_KEYS + EVICT_CAPACITY + ops
    keys: dict[str, None] = {}  # insertion-ordered set
    while len(keys) < needed:
        keys["".join(rng.choices(alphabet, k=KEY_CHARS))] = None
    distinct = list(keys)
    resident = distinct[:RESIDENT_KEYS]
    warm = distinct[RESIDENT_KEYS : RESIDENT_KEYS + EVICT_CAPACITY]
    absent = distinct[RESIDENT_KEYS + EVICT_CAPACITY :]
    walk: list[str] = []
    while len(walk) < ops:
        one_pass = resident[:]
        rng.shuffle(one_pass)
        walk.extend(one_pass)
    del walk[ops:]
    value = bytes(rng.getrandbits(8) for _ in range(VALUE_BYTES))
    index = {k: i for i, k in enumerate(resident)}
    return Workload(resident, walk, absent, warm, value, list(range(RESIDENT_KEYS)), [index[k] for k in walk])


# ---- Timed loops ---------------------------------------------------------------

_LOOP = """\
def loop(keys, c, v, perf_counter_ns):
    t0 = perf_counter_ns()
    for k in keys:
        {stmt}
    return perf_counter_ns() - t0
"""


@functools.lru_cache(maxsize=None)
def compile_loop(stmt: str) -> Callable[..., int]:
    """A function timing `stmt` for every k in keys, with c and v as locals."""
    namespace: dict[str, Any] = {}
    exec(_LOOP.format(stmt=stmt), namespace)
    return namespace["loop"]  # type: ignore[no-any-return]


def timed(stmt: str, keys: list[Any], c: Any, v: bytes) -> int:
    loop = compile_loop(stmt)
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return loop(keys, c, v, time.perf_counter_ns)
    finally:
        if gc_was_on:
            gc.enable()


# ---- Engines -------------------------------------------------------------------


@dataclass
class Engine:
    """One cache, used one way (method calls or subscripts).

    make(capacity) returns a fresh, empty cache holding at least `capacity`
    entries; read(c, k) returns the value or None (for the checks, untimed).
    stmts maps an op to the statement timed for it; ops without one are "-".
    """

    name: str
    make: Callable[[int], Any]
    read: Callable[[Any, str], Any]
    stmts: dict[str, str]
    fill: Optional[Callable[[Any, list[str], bytes], None]] = None
    close: Callable[[Any], None] = lambda c: None
    note: str = ""

    def prefill(self, c: Any, keys: list[str], value: bytes) -> None:
        if self.fill is not None:
            self.fill(c, keys, value)
        else:
            for k in keys:
                c[k] = value


GET = {"get-hit": "c.get(k)", "get-miss": "c.get(k)"}
SUBSCRIPT = {"get-hit": "c[k]", "set-update": "c[k] = v", "set-new-evict": "c[k] = v"}


def _mapping_read(c: Any, k: str) -> Any:
    return c.get(k)


def _lru_cache_engine(value: bytes, bounded: bool) -> Engine:
    def make(capacity: int) -> Any:
        @functools.lru_cache(maxsize=capacity if bounded else None)
        def load(k: str) -> bytes:
            return value

        return load

    def fill(f: Any, keys: list[str], _value: bytes) -> None:
        for k in keys:
            f(k)

    def read(f: Any, k: str) -> Any:
        hits = f.cache_info().hits
        result = f(k)
        return result if f.cache_info().hits == hits + 1 else None  # a hit, not a load

    stmts = {"get-hit": "c(k)"}
    if bounded:
        stmts["set-new-evict"] = "c(k)"  # a miss that loads, inserts and evicts
    return Engine(
        "lru_cache" if bounded else "lru_cache(maxsize=None)",
        make,
        read,
        stmts,
        fill=fill,
        note="" if bounded else "lru_cache(maxsize=None) is unbounded: a dict lookup that keeps no LRU order",
    )


def _libcache_engines() -> list[Engine]:
    def make(ttl: Optional[float], values: str = "bytes") -> Callable[[int], Any]:
        def build(capacity: int) -> Any:
            if capacity <= EVICT_CAPACITY:
                return libcache.Cache(max_bytes=None, max_entries=capacity, default_ttl=ttl, values=values)
            return libcache.Cache(max_bytes=64 << 20, default_ttl=ttl, values=values)  # holds every key

        return build

    def close(c: Any) -> None:
        c.close()

    methods = {**GET, "set-update": "c.set(k, v)", "set-new-evict": "c.set(k, v)"}
    return [
        Engine("libcache get/set", make(None), _mapping_read, methods, close=close),
        Engine("libcache c[k]", make(None), _mapping_read, SUBSCRIPT, close=close),
        Engine(f"libcache ttl={BIG_TTL} get/set", make(BIG_TTL), _mapping_read, methods, close=close),
        Engine(f"libcache ttl={BIG_TTL} c[k]", make(BIG_TTL), _mapping_read, SUBSCRIPT, close=close),
        Engine(
            "libcache object get/set",
            make(None, "object"),
            _mapping_read,
            methods,
            close=close,
            note='libcache object: Cache(values="object"), which holds the value object by reference '
            "(a hit returns it, as the peers do)",
        ),
        Engine("libcache object c[k]", make(None, "object"), _mapping_read, SUBSCRIPT, close=close),
        Engine(
            "libcache k in c",
            make(None),
            _mapping_read,
            {"get-hit": "k in c", "get-miss": "k in c"},
            close=close,
            note="libcache k in c: the same lookup as c[k] without building the value; "
            "the difference is the cost of creating (and freeing) the 100-byte bytes result",
        ),
    ]


def _cachetools_engines() -> list[Engine]:
    import cachetools

    methods = {**GET, "set-update": "c[k] = v", "set-new-evict": "c[k] = v"}  # no set method

    def lru(n: int) -> Any:
        return cachetools.LRUCache(maxsize=n)

    def ttl(n: int) -> Any:
        return cachetools.TTLCache(maxsize=n, ttl=BIG_TTL)

    return [
        Engine("cachetools.LRUCache get", lru, _mapping_read, methods),
        Engine("cachetools.LRUCache c[k]", lru, _mapping_read, SUBSCRIPT),
        Engine("cachetools.TTLCache get", ttl, _mapping_read, methods),
        Engine("cachetools.TTLCache c[k]", ttl, _mapping_read, SUBSCRIPT),
    ]


def _cachebox_engines() -> list[Engine]:
    import cachebox

    methods = {**GET, "set-update": "c.insert(k, v)", "set-new-evict": "c.insert(k, v)"}

    def lru(n: int) -> Any:
        return cachebox.LRUCache(n)

    def ttl(n: int) -> Any:
        return cachebox.TTLCache(n, BIG_TTL)

    return [
        Engine("cachebox.LRUCache get/insert", lru, _mapping_read, methods),
        Engine("cachebox.LRUCache c[k]", lru, _mapping_read, SUBSCRIPT),
        Engine("cachebox.TTLCache get/insert", ttl, _mapping_read, methods),
        Engine("cachebox.TTLCache c[k]", ttl, _mapping_read, SUBSCRIPT),
    ]


def _theine_engines() -> list[Engine]:
    import theine

    def fill(c: Any, keys: list[str], value: bytes) -> None:
        for k in keys:
            c.set(k, value)

    def read(c: Any, k: str) -> Any:
        value, found = c.get(k)
        return value if found else None

    def close(c: Any) -> None:
        c.clear()
        c.close()  # ends its maintenance task

    stmts = {**GET, "set-update": "c.set(k, v)", "set-new-evict": "c.set(k, v)"}
    return [
        Engine(
            "theine get/set",
            lambda n: theine.Cache(n),
            read,
            stmts,
            fill=fill,
            close=close,
            note="theine 2: get returns (value, found); measured in its default thread-safe mode (locks on)",
        )
    ]


def _dict_engines() -> list[Engine]:
    return [
        Engine("dict get", lambda n: {}, _mapping_read, {**GET, "set-update": "c[k] = v"}),
        Engine("dict d[k]", lambda n: {}, _mapping_read, {"get-hit": "c[k]", "set-update": "c[k] = v"}),
    ]


def _decorator_engines(value: bytes, notes: list[str]) -> list[Engine]:
    """Memoised functions: make() wraps a fresh load(k) -> dict; read() is its result on a hit, else None."""

    def engine(name: str, wrap: Callable[[Callable[[Any], Any], int], Any], note: str = "") -> Engine:
        calls = [0]

        def load(k: Any) -> dict[str, Any]:
            calls[0] += 1
            return {"key": k, "value": value}

        def fill(f: Any, keys: list[Any], _value: bytes) -> None:
            for k in keys:
                f(k)

        def read(f: Any, k: Any) -> Any:
            before = calls[0]
            result = f(k)
            return result if calls[0] == before else None  # a hit, not a load

        stmts = {op: "c(k)" for op in DECORATOR_OPS}
        return Engine(name, lambda n: wrap(load, n), read, stmts, fill=fill, note=note)

    engines = [
        engine("@libcache.cached", lambda fn, n: libcache.cached(fn)),
        engine("@functools.lru_cache", lambda fn, n: functools.lru_cache(maxsize=n)(fn)),
    ]
    try:
        import cachetools

        engines.append(
            engine("@cachetools.cached(LRUCache)", lambda fn, n: cachetools.cached(cachetools.LRUCache(n))(fn))
        )
    except ImportError:
        pass  # make_engines has said so
    try:
        import cachebox

        engines.append(
            engine(
                "@cachebox.cached(LRUCache)",
                lambda fn, n: cachebox.cached(cachebox.LRUCache(n))(fn),
                note="@cachebox.cached returns a copy of a mutable result (a dict) on every hit, by default",
            )
        )
    except ImportError:
        pass
    obj = "values" in inspect.signature(libcache.Cache.__init__).parameters
    notes.append(
        "@libcache.cached: the private cache "
        + ("keeps the result object (values=\"object\"): a hit returns it" if obj else
           "stores the result pickled: a hit unpickles a new dict")
    )
    return engines


def make_engines(value: bytes, notes: list[str]) -> list[Engine]:
    engines = [_lru_cache_engine(value, True), _lru_cache_engine(value, False)]
    engines += _dict_engines()
    engines += _libcache_engines()
    for package, build in (
        ("cachetools", _cachetools_engines),
        ("cachebox", _cachebox_engines),
        ("theine", _theine_engines),
    ):
        try:
            engines += build()
        except ImportError:
            notes.append(f"{package} is not installed: skipped (pip install {package})")
    return engines + _decorator_engines(value, notes)


# ---- Cases: one (engine, op), with its cache and its check -----------------------


@dataclass
class Case:
    engine: Engine
    op: str
    samples: list[int] = field(default_factory=list)  # ns per loop, one per repetition

    @property
    def stmt(self) -> str:
        return self.engine.stmts[self.op]

    def keys(self, w: Workload) -> list[Any]:
        if self.op == "call-hit-int":
            return w.walk_ints
        return w.walk if self.op in ("get-hit", "set-update", "call-hit-str") else w.absent

    def prepare(self, w: Workload) -> Any:
        """The cache this op runs against (a fresh full one for set-new-evict)."""
        if self.op == "set-new-evict":
            c = self.engine.make(EVICT_CAPACITY)
            self.engine.prefill(c, w.warm, w.value)
        else:
            c = self.engine.make(2 * RESIDENT_KEYS)
            self.engine.prefill(c, w.resident_ints if self.op == "call-hit-int" else w.resident, w.value)
        return c

    def check(self, c: Any, w: Workload, ran: bool) -> None:
        """Asserts that the op does what its name says (before or after a run)."""
        read = self.engine.read

        def require(ok: bool, what: str) -> None:
            if not ok:
                raise RuntimeError(f"{self.engine.name} {self.op}: {what}")

        if self.op == "get-hit":
            require(all(read(c, k) == w.value for k in w.walk[:100]), "a get did not hit")
        elif self.op in DECORATOR_OPS:
            hit = all(read(c, k) == {"key": k, "value": w.value} for k in self.keys(w)[:100])
            require(hit, "a call did not hit")
        elif self.op == "get-miss":
            require(all(read(c, k) is None for k in w.absent[:100]), "a get did not miss")
        elif self.op == "set-update" and ran:
            require(all(read(c, k) == w.value for k in w.resident[:100]), "an update was lost")
        elif self.op == "set-new-evict" and ran:
            require(read(c, w.absent[-1]) == w.value, "the last new key is not there")
            require(read(c, w.warm[0]) is None, "nothing was evicted")
            if isinstance(c, libcache.Cache):
                s = c.stats()
                require(s.entries <= EVICT_CAPACITY and s.evictions > 0, f"bounds not kept: {s}")

    def run_once(self, w: Workload) -> int:
        c = self.prepare(w)
        try:
            return timed(self.stmt, self.keys(w), c, w.value)
        finally:
            self.engine.close(c)


class EmptyLoop:
    """The loop overhead: `for k in keys: pass` over one of the workload's lists."""

    def __init__(self, which: str) -> None:
        self.which = which
        self.samples: list[int] = []

    def run_once(self, w: Workload) -> int:
        return timed("pass", getattr(w, self.which), None, w.value)


def verify(cases: list[Case], w: Workload) -> None:
    """Runs every case once untimed (a warm-up too) and checks it before and after."""
    for case in cases:
        c = case.prepare(w)
        try:
            case.check(c, w, ran=False)
            timed(case.stmt, case.keys(w), c, w.value)
            case.check(c, w, ran=True)
        finally:
            case.engine.close(c)


# ---- Reporting -----------------------------------------------------------------


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def versions() -> str:
    out = [f"libcache {libcache.__version__} (engine {libcache.ENGINE_VERSION}, {libcache._core.ALLOCATOR})"]
    for package in ("cachetools", "cachebox", "theine"):
        try:
            out.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def fmt(ns: Optional[float]) -> str:
    return "-" if ns is None else f"{ns:.1f}"


def ratio(ns: Optional[float], ref: Optional[float]) -> str:
    return "-" if ns is None or not ref else f"{ns / ref:.2f}x"


def table(engines: list[Engine], medians: dict[tuple[str, str], float]) -> str:
    ref = medians.get(REFERENCE)
    lines = [
        "| engine | get-hit | vs lru_cache hit | get-miss | set-update | vs lru_cache hit "
        "| set-new-evict | vs lru_cache hit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in engines:
        if not any(op in e.stmts for op in OPS):
            continue
        m = {op: medians.get((e.name, op)) for op in OPS}
        cells = [
            fmt(m["get-hit"]),
            ratio(m["get-hit"], ref),
            fmt(m["get-miss"]),
            fmt(m["set-update"]),
            ratio(m["set-update"], ref),
            fmt(m["set-new-evict"]),
            ratio(m["set-new-evict"], ref),
        ]
        lines.append(f"| {e.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def decorator_table(engines: list[Engine], medians: dict[tuple[str, str], float]) -> str:
    lines = [
        "| decorator | call-hit-int | vs lru_cache | call-hit-str | vs lru_cache |",
        "|---|---:|---:|---:|---:|",
    ]
    for e in engines:
        if not any(op in e.stmts for op in DECORATOR_OPS):
            continue
        cells = []
        for op in DECORATOR_OPS:
            ns = medians.get((e.name, op))
            cells += [fmt(ns), ratio(ns, medians.get((DECORATOR_REFERENCE, op)))]
        lines.append(f"| {e.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_lines(medians: dict[tuple[str, str], float]) -> list[str]:
    """PERFORMANCE.md's Python targets against this run's medians."""
    ref = medians.get(REFERENCE)
    out = []

    def fastest(op: str, form: str, kinds: tuple[str, ...]) -> Optional[tuple[str, float]]:
        """The fastest peer of one form ("c[k]" or methods) among the named kinds."""
        found = [
            (name, ns)
            for (name, o), ns in medians.items()
            if o == op
            and name.startswith(("cachetools", "cachebox", "theine"))
            and any(kind in name for kind in kinds)
            and name.endswith("c[k]") == (form == "c[k]")
        ]
        return min(found, key=lambda x: x[1]) if found else None

    for lib, form, kinds in (
        ("libcache get/set", "get/set", ("LRUCache", "theine")),
        ("libcache c[k]", "c[k]", ("LRUCache",)),
        (f"libcache ttl={BIG_TTL} get/set", "get/set", ("TTLCache",)),
        (f"libcache ttl={BIG_TTL} c[k]", "c[k]", ("TTLCache",)),
        ("libcache object get/set", "get/set", ("LRUCache", "theine")),
        ("libcache object c[k]", "c[k]", ("LRUCache",)),
    ):
        hit = medians.get((lib, "get-hit"))
        if hit is not None and ref:
            verdict = "met" if hit <= 1.2 * ref else "NOT met"
            out.append(f"{lib} get-hit {hit:.1f} ns = {hit / ref:.2f}x lru_cache hit (target <= 1.2x): {verdict}")
        for op in OPS:
            mine, best = medians.get((lib, op)), fastest(op, form, kinds)
            if mine is None or best is None:
                continue
            verdict = "faster" if mine < best[1] else "NOT faster"
            out.append(f"{lib} {op} {mine:.1f} ns vs fastest peer {best[0]} {best[1]:.1f} ns: {verdict}")
        for op in ("set-update", "set-new-evict"):
            mine = medians.get((lib, op))
            if mine is not None and ref:
                verdict = "met" if mine <= 2.5 * ref else "NOT met"
                out.append(f"{lib} {op} = {mine / ref:.2f}x lru_cache hit (target <= 2.5x): {verdict}")
    for op in DECORATOR_OPS:
        mine, lru = medians.get(("@libcache.cached", op)), medians.get((DECORATOR_REFERENCE, op))
        if mine is not None and lru:
            verdict = "met" if mine <= 1.5 * lru else "NOT met"
            out.append(
                f"@libcache.cached {op} {mine:.1f} ns = {mine / lru:.2f}x an lru_cache hit (target <= 1.5x): {verdict}"
            )
    return out


# ---- Main ----------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and shorter loops (< 30 s)")
    parser.add_argument("--json", metavar="PATH", help="also write the medians as JSON")
    parser.add_argument("--reps", type=int, help="repetitions (default 15, --quick 5)")
    parser.add_argument("--ops", type=int, help="operations per timed loop (default 100000, --quick 30000)")
    args = parser.parse_args()
    reps = args.reps or (5 if args.quick else 15)
    ops = args.ops or (30_000 if args.quick else 100_000)
    if reps < 1 or ops < 1000:
        parser.error("--reps must be >= 1 and --ops >= 1000")

    started = time.perf_counter()
    notes: list[str] = []
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        notes.append(f"load average when the run began: {load} (other load on the machine shows up in the numbers)")
    w = make_workload(ops)
    engines = make_engines(w.value, notes)
    cases = [Case(e, op) for e in engines for op in (*OPS, *DECORATOR_OPS) if op in e.stmts]
    verify(cases, w)
    empties = {"walk": EmptyLoop("walk"), "absent": EmptyLoop("absent"), "walk_ints": EmptyLoop("walk_ints")}

    rng = random.Random(1)
    runnables: list[Any] = [*cases, *empties.values()]
    for rep in range(reps):
        rng.shuffle(runnables)
        for r in runnables:
            r.samples.append(r.run_once(w))
        if sys.stderr.isatty():
            print(f"\rrepetition {rep + 1}/{reps}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)

    overhead = {which: statistics.median(e.samples) / ops for which, e in empties.items()}
    medians: dict[tuple[str, str], float] = {}
    spreads: list[tuple[float, str]] = []
    for case in cases:
        if case.op == "call-hit-int":
            base = overhead["walk_ints"]
        else:
            base = overhead["walk" if case.op in ("get-hit", "set-update", "call-hit-str") else "absent"]
        per_op = [s / ops - base for s in case.samples]
        med = statistics.median(per_op)
        medians[(case.engine.name, case.op)] = med
        if len(per_op) >= 4 and med > 0:
            q = statistics.quantiles(per_op, n=4)
            spreads.append(((q[2] - q[0]) / med, f"{case.engine.name} {case.op}"))

    python = f"{platform.python_implementation()} {platform.python_version()}"
    notes += [e.note for e in engines if e.note]
    notes.append(
        f"{reps} repetitions of {ops} ops per (engine, op), interleaved; medians of "
        f"(loop - empty loop) / ops; empty loop {overhead['walk']:.1f} ns/iteration"
    )
    notes.append(
        f"{RESIDENT_KEYS} resident {KEY_CHARS}-char str keys, {VALUE_BYTES}-byte bytes values; "
        f"set-new-evict: capacity {EVICT_CAPACITY} for every engine, keys never seen before"
    )
    notes.append(
        "lru_cache get-hit is the reference (bounded, maxsize=20000); its get-miss and set-update do not exist"
    )
    notes.append(
        "every peer hashes keys with Python's hash(), which a str computes once and caches, and "
        "stores a reference to the value object; libcache hashes the key's bytes (XXH3) on every "
        "call, copies the value into the entry on a set and into a new bytes object on a get"
    )
    if spreads:
        worst = max(spreads)
        notes.append(f"largest interquartile spread / median: {worst[0]:.0%} ({worst[1]})")

    print("# Python cache benchmark: median ns/op\n")
    print(f"machine: {machine()}")
    print(f"python: {python}")
    print(f"packages: {versions()}\n")
    print(table(engines, medians))
    print()
    print(decorator_table(engines, medians))
    print()
    targets = target_lines(medians)
    for line in targets:
        print(f"- {line}")
    notes += [f"target: {line}" for line in targets]
    print()
    for note in notes:
        if not note.startswith("target: "):
            print(f"note: {note}")
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")

    if args.json:
        doc = {
            "machine": machine(),
            "python": python,
            # Grouped by op in OPS order, engines in table order within each.
            "rows": [
                {"engine": e.name, "op": op, "ns": round(medians[(e.name, op)], 2)}
                for op in (*OPS, *DECORATOR_OPS)
                for e in engines
                if (e.name, op) in medians
            ],
            "notes": notes,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
