"""A real redis-server for the Python tests of the Redis tier (tests/python/test_redis.py).

Like the C++ harness (tests/redis/redis_server.cc): started on a free
loopback port in a temporary directory, with no persistence (--save ''
--appendonly no) and the DEBUG command allowed locally; it can be paused
(SIGSTOP) and resumed; stop() always resumes it first, and the server gets
SIGKILL if the test process dies (PR_SET_PDEATHSIG), so a failing test leaves
no server behind.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, List, Optional

import redis

REDIS_SERVER = shutil.which("redis-server")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process; start() picks a free port (retrying if it was taken)."""

    def __init__(self, directory: Path) -> None:
        assert REDIS_SERVER is not None
        self.dir = directory
        self.port = 0
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for(self, user: str, password: str) -> str:
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        for _attempt in range(5):
            self.port = free_port()
            args: List[str] = [
                str(REDIS_SERVER),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--save", "",
                "--appendonly", "no",
                "--enable-debug-command", "local",
                "--daemonize", "no",
                "--logfile", str(self.dir / "redis.log"),
            ]  # fmt: skip
            # Not the sanitizer runtimes that tests/python/run_sanitized.sh preloads into python.
            env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
            self.proc = subprocess.Popen(args, preexec_fn=_die_with_parent, stdin=subprocess.DEVNULL, env=env)
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"redis-server did not start (see {self.dir / 'redis.log'})")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False  # exited: the port was taken?
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return True
            except redis.ConnectionError:
                pass
            time.sleep(0.005)  # polling for a process to listen: no hook to wait on
        return False

    def client(self, **kwargs: Any) -> "redis.Redis[bytes]":
        """A redis-py client (bytes replies) for checking what the server holds."""
        return redis.Redis(port=self.port, socket_timeout=10, **kwargs)

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.proc is not None and self.paused:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """kill -9: the server dies at once, with no goodbye to its clients."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.paused = False

    def stop(self) -> None:
        if self.proc is None:
            return
        self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
