"""Helpers shared by libcache's Python tests.

pytest puts this folder on sys.path (pythonpath in pyproject.toml's
[tool.pytest.ini_options]), so test modules use `from helpers import ...`.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

WAIT = 5.0  # seconds: generous bound on anything that should happen "at once"


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Polls predicate() until it is true (True) or timeout seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def _waiting(frame: Any) -> bool:
    name = os.path.basename(frame.f_code.co_filename)
    return name == "threading.py" or (name == "_cache.py" and frame.f_code.co_name == "wait")


def blocked_in(idents: List[int], func_name: str) -> bool:
    """True if every thread in idents waits on a lock inside func_name.

    The innermost Python frame is then either in threading.py or libcache's
    _Flight.wait, which blocks in a C lock acquire.
    """
    # A garbage collection inside sys._current_frames() can deadlock CPython
    # before 3.11.9 / 3.12.3 (gh-106883: the GC frees a threading.local, which
    # takes the lock _current_frames holds), so it runs with the collector off.
    enabled = gc.isenabled()
    gc.disable()
    try:
        frames = sys._current_frames()
    finally:
        if enabled:
            gc.enable()
    for ident in idents:
        frame = frames.get(ident)
        if frame is None or not _waiting(frame):
            return False
        names = set()
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back
        # @cached's miss path enters get_or_set's single-flight after the
        # lookup: at Cache._load_missed.
        if func_name not in names and not (func_name == "get_or_set" and "_load_missed" in names):
            return False
    return True


class Crowd:
    """n threads that meet at a barrier, then each call fn(); results and errors kept by index."""

    def __init__(self, n: int, fn: Callable[[int], Any]) -> None:
        self.n = n
        self.results: List[Any] = [None] * n
        self.errors: List[Optional[BaseException]] = [None] * n
        self.idents: List[int] = []
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(n)
        self._threads = [threading.Thread(target=self._body, args=(i, fn), daemon=True) for i in range(n)]

    def _body(self, i: int, fn: Callable[[int], Any]) -> None:
        with self._lock:
            self.idents.append(threading.get_ident())
        try:
            self._barrier.wait(WAIT)
            self.results[i] = fn(i)
        except BaseException as e:  # reported by the test, not as a thread warning
            self.errors[i] = e

    def others(self) -> List[int]:
        """The threads other than the calling one (from inside fn)."""
        me = threading.get_ident()
        with self._lock:
            return [i for i in self.idents if i != me]

    def idents_except(self, index: int) -> List[int]:
        """The threads other than the one that runs fn(index) (call once all started)."""
        return [t.ident for i, t in enumerate(self._threads) if i != index and t.ident is not None]

    def start(self) -> "Crowd":
        for t in self._threads:
            t.start()
        return self

    def join(self) -> "Crowd":
        for t in self._threads:
            t.join(30)
        assert not any(t.is_alive() for t in self._threads), "threads still running"
        return self

    def run(self) -> "Crowd":
        return self.start().join()


def run_forked(report: Callable[[], Dict[str, Any]], timeout: float, hang_message: str) -> Tuple[bytes, int]:
    """Runs report() in a forked child and returns (what it wrote, its wait status).

    The child writes report()'s dict as JSON to a pipe and leaves with
    os._exit(0), without running any pytest teardown; report() catches its own
    exceptions (one that escapes leaves the report empty). The parent reads the
    pipe until the child closes it; if that takes more than timeout seconds it
    kills the child and fails the test with hang_message.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.write(w, json.dumps(report()).encode())
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
                pytest.fail(hang_message)
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks), status


def call_with_deadline(fn: Callable[[], Any], timeout: float = WAIT) -> Any:
    """fn()'s result (or its exception, raised here), run in a daemon thread.

    Fails the test if fn() has not returned within timeout seconds (a hang),
    instead of hanging the run; the stuck thread is left behind.
    """
    result: List[Any] = []
    error: List[BaseException] = []

    def body() -> None:
        try:
            result.append(fn())
        except BaseException as e:  # raised in the caller's thread
            error.append(e)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"the call did not return within {timeout} s (it hangs)")
    if error:
        raise error[0]
    return result[0]
