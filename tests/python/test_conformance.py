"""The language-neutral conformance suite (tests/conformance/cases.json) against libcache.Cache.

One test per case, named after it. Each case opens a cache with the case's
options and replays its steps, mapping each op to the Python idiom: get()
returning None is "missing", add()/replace() returning False are the C ABI's
exists / not_found, ttl() raising KeyError is "missing", a libcache exception
(or the ValueError the binding raises for a bad argument before reaching the
engine) is {"error": NAME}. TTLs in the cases are milliseconds; the binding
takes seconds. tests/conformance/README.md documents the format.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Dict, List, Optional, Tuple, Union

import pytest

import libcache
from libcache._core import FakeClock

CASES_FILE = pathlib.Path(__file__).resolve().parents[1] / "conformance" / "cases.json"
CASES: List[Dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]

MANUAL_CLOCK_START_MS = 1_000_000
DEFAULT_MAX_BYTES = 64 << 20


def _bytes(spec: Any) -> bytes:
    """BYTES of the format: a string (its UTF-8), {"hex": ...} or {"repeat": s, "times": n}."""
    if isinstance(spec, str):
        return spec.encode("utf-8")
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if "repeat" in spec:
        return spec["repeat"].encode("utf-8") * int(spec["times"])
    raise ValueError(f"not a BYTES value: {spec!r}")


def _seconds(ms: int) -> float:
    """ms as the seconds the binding takes (it keeps whole milliseconds of the
    nearest microsecond, so ms / 1000 means exactly ms)."""
    return ms / 1000


def _error_name(e: BaseException) -> str:
    """The C ABI's error name (CACHE_E_* without the prefix, lower case) for a raised exception."""
    if isinstance(e, (libcache.KeyTooLarge, libcache.ValueTooLarge)):
        return "too_large"
    if isinstance(e, libcache.OutOfMemory):
        return "no_mem"
    if isinstance(e, libcache.CacheClosed):
        return "closed"
    if isinstance(e, libcache.InternalError):
        return "internal"
    if isinstance(e, libcache.Timeout):
        return "timeout"
    if isinstance(e, libcache.QueueFull):
        return "full"
    if isinstance(e, libcache.BackendError):
        return "io"
    # InvalidArgument is a ValueError; the binding also raises plain
    # ValueError for arguments it checks itself (negative TTLs, bounds, shards,
    # policy names) before the engine sees them.
    if isinstance(e, ValueError):
        return "invalid"
    raise e


def _open(options: Dict[str, Any]) -> Tuple[libcache.Cache, Optional[FakeClock]]:
    max_bytes: Optional[int] = options.get("max_bytes", DEFAULT_MAX_BYTES)
    max_entries: Optional[int] = options.get("max_entries")
    default_ttl_ms: Optional[int] = options.get("default_ttl_ms")
    clock = FakeClock(MANUAL_CLOCK_START_MS / 1000) if options.get("clock") == "manual" else None
    cache = libcache.Cache(
        max_bytes=max_bytes or None,  # 0 = no byte bound
        max_entries=max_entries or None,
        default_ttl=_seconds(default_ttl_ms) if default_ttl_ms else None,
        shards=options.get("shards"),
        policy=options.get("policy", "clock"),
        _clock=clock,
    )
    return cache, clock


def _ttl_arg(step: Dict[str, Any]) -> Optional[float]:
    if "ttl_ms" not in step:
        return None  # the cache's default TTL
    ms = int(step["ttl_ms"])
    return _seconds(ms) if ms >= 0 else ms / 1000  # a negative TTL goes through, to be refused


def _run(cache: libcache.Cache, clock: Optional[FakeClock], step: Dict[str, Any]) -> Any:
    """Performs one step; returns its outcome in the format's EXPECT form."""
    op = step["op"]
    key = _bytes(step["key"]) if "key" in step else b""
    if op in ("set", "add", "replace"):
        value = _bytes(step["value"])
        ttl = _ttl_arg(step)
        if op == "set":
            cache.set(key, value, ttl)
            return "ok"
        if op == "add":
            return "ok" if cache.add(key, value, ttl) else {"error": "exists"}
        return "ok" if cache.replace(key, value, ttl) else {"error": "not_found"}
    if op == "get":
        got = cache.get(key)
        return "missing" if got is None else {"value": got}
    if op == "has":
        return key in cache
    if op == "delete":
        return cache.delete(key)
    if op == "take":
        taken = cache.pop(key, None)
        return "missing" if taken is None else {"value": taken}
    if op == "touch":
        return cache.touch(key, _ttl_arg(step))
    if op == "ttl":
        try:
            remaining = cache.ttl(key)
        except KeyError:
            return "missing"
        return "none" if remaining is None else {"ms": round(remaining * 1000)}
    if op == "clear":
        cache.clear()
        return "ok"
    if op == "purge_expired":
        return {"count": cache.purge_expired()}
    if op == "advance":
        assert clock is not None, "advance needs a case with the manual clock"
        clock.advance(int(step["ms"]) / 1000)
        return None
    if op == "stats":
        s = cache.stats()
        want: Dict[str, int] = step["expect"]
        got_stats: Dict[str, int] = {}
        for name in want:
            if name == "bytes_at_most":
                got_stats[name] = want[name] if s.bytes <= want[name] else s.bytes
            else:
                got_stats[name] = getattr(s, name)
        return got_stats
    raise AssertionError(f"unknown op {op!r}")


def _expected(step: Dict[str, Any]) -> Any:
    expect = step.get("expect")
    if isinstance(expect, dict) and "value" in expect:
        return {"value": _bytes(expect["value"])}
    return expect


def _describe(value: Union[Any, bytes]) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + f"... ({len(text)} characters)"


# Cases this binding fails today, each a known binding bug (not a wrong case:
# the C ABI and the C++ runner pass them). Strict: fixing the bug makes the
# xfail fail, so that the entry is removed with the fix.
KNOWN_BINDING_BUGS: Dict[str, str] = {}


def _param(case: Dict[str, Any]) -> Any:
    bug = KNOWN_BINDING_BUGS.get(case["name"])
    marks = [pytest.mark.xfail(reason=bug, strict=True, raises=AssertionError)] if bug else []
    return pytest.param(case, id=case["name"], marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_conformance(case: Dict[str, Any]) -> None:
    name = case["name"]
    options = case.get("open", {})
    if "open_error" in case:
        with pytest.raises(Exception) as info:
            _open(options)[0].close()
        assert _error_name(info.value) == case["open_error"], f"{name}: open raised {info.value!r}"
        return
    cache, clock = _open(options)
    try:
        for i, step in enumerate(case["steps"]):
            try:
                got = _run(cache, clock, step)
            except Exception as e:  # noqa: BLE001 - a libcache error is an outcome to compare
                got = {"error": _error_name(e)}
            if step["op"] == "advance":
                continue
            want = _expected(step)
            assert got == want, (
                f"case {name}, step {i} ({step['op']} {_describe({k: v for k, v in step.items() if k != 'expect'})}): "
                f"expected {_describe(want)}, got {_describe(got)}"
            )
    finally:
        cache.close()
