"""Shared fixtures for libcache's Python tests.

Kept minimal on purpose: test modules import libcache themselves and build
their own caches. The one fixture here runs a function in a forked child, so
that a test can check that a call raises instead of crashing the interpreter
(a segfault in the child fails that test, not the whole run).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
from typing import Any, Callable, Dict

import pytest

from helpers import run_forked


def _run_in_child(fn: Callable[[], Any], timeout: float = 10.0) -> Dict[str, Any]:
    """Runs fn() in a forked child and returns what happened.

    {"ok": repr(result)} or {"raised": [names of the exception's classes, most
    derived first], "message": str(exception)}. Fails the test if the child
    dies from a signal (a crash) or does not finish within timeout seconds.
    """

    def report() -> Dict[str, Any]:
        faulthandler.disable()  # a crash is reported by the parent, not dumped on the terminal
        try:
            return {"ok": repr(fn())}
        except BaseException as e:  # noqa: BLE001 - we report every outcome
            return {"raised": [c.__name__ for c in type(e).__mro__], "message": str(e)}

    data, status = run_forked(report, timeout, f"the call did not finish within {timeout} s (hang)")
    if os.WIFSIGNALED(status):
        pytest.fail(f"the call crashed the interpreter (signal {signal.Signals(os.WTERMSIG(status)).name})")
    assert data, "the child reported nothing"
    result: Dict[str, Any] = json.loads(data)
    return result


@pytest.fixture
def run_in_child() -> Callable[..., Dict[str, Any]]:
    """_run_in_child, as a fixture."""
    return _run_in_child
