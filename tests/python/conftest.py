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
import select
import signal
import time
from typing import Any, Callable, Dict

import pytest


def _run_in_child(fn: Callable[[], Any], timeout: float = 10.0) -> Dict[str, Any]:
    """Runs fn() in a forked child and returns what happened.

    {"ok": repr(result)} or {"raised": [names of the exception's classes, most
    derived first], "message": str(exception)}. Fails the test if the child
    dies from a signal (a crash) or does not finish within timeout seconds.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report, then leave without running any pytest teardown
        try:
            os.close(r)
            faulthandler.disable()  # a crash is reported by the parent, not dumped on the terminal
            try:
                out: Dict[str, Any] = {"ok": repr(fn())}
            except BaseException as e:  # noqa: BLE001 - we report every outcome
                out = {"raised": [c.__name__ for c in type(e).__mro__], "message": str(e)}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"the call did not finish within {timeout} s (hang)")
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        pytest.fail(f"the call crashed the interpreter (signal {signal.Signals(os.WTERMSIG(status)).name})")
    assert chunks, "the child reported nothing"
    result: Dict[str, Any] = json.loads(b"".join(chunks))
    return result


@pytest.fixture
def run_in_child() -> Callable[..., Dict[str, Any]]:
    """_run_in_child, as a fixture."""
    return _run_in_child
