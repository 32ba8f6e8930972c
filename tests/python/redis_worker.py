"""A server process for the multi-process Redis tests: its own Cache + attach_redis + SessionStore.

The test starts a few (multiprocessing, "spawn": a fresh interpreter, no
state inherited from the test process) on the same Redis and prefix, the way
load-balanced servers share one, and drives them step by step over a pipe:
Worker.call("session.get", sid) runs sessions.get(sid) in that process and
returns the result, or raises Remote with the exception's class names.

Besides the objects' own methods, a worker can hammer its cache from
background threads (load_start / load_stop: the "under load" of the
measurements) and poll a session until it is refused (poll_gone), reporting
time.monotonic() (one clock for every process on Linux).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import random
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

WAIT = 10.0  # seconds: bound on anything a worker waits for


class Remote(Exception):
    """An exception raised in a worker: .names are its class names, most derived first."""

    def __init__(self, names: List[str], message: str) -> None:
        super().__init__(f"{names[0]}: {message}")
        self.names = names
        self.message = message


def _serve(conn: Any, url: str, prefix: str, attach: Dict[str, Any], session: Dict[str, Any]) -> None:
    import libcache

    cache = libcache.Cache(max_bytes=32 << 20, codec="json")
    store = cache.attach_redis(url, prefix=prefix, **attach)
    sessions = libcache.SessionStore(cache, **session)
    loaders: List[threading.Thread] = []
    stop_load = threading.Event()
    load_ops = [0]

    def hammer(seed: int) -> None:
        rng = random.Random(seed)
        n = 0
        while not stop_load.is_set():
            k = f"load:{rng.randrange(500)}"
            if rng.random() < 0.2:
                cache.set(k, rng.random(), ttl=30)
            else:
                cache.get(k)
            n += 1
        load_ops[0] += n

    def poll_gone(sid: str) -> Tuple[float, int]:
        """Acks once the session is served here, then polls until it is refused: (monotonic time, polls)."""
        deadline = time.monotonic() + WAIT
        while sessions.get(sid) is None:
            if time.monotonic() > deadline:
                raise AssertionError("the session was never served here")
        conn.send(("ack", None))
        polls = 0
        while True:
            polls += 1
            if sessions.get(sid) is None:
                return time.monotonic(), polls
            if time.monotonic() > deadline:
                raise AssertionError(f"the session was still served {WAIT} s later")

    def timed(method: str, *args: Any) -> Tuple[Any, float, float]:
        t0 = time.monotonic()
        result = getattr(sessions, method)(*args)
        return result, t0, time.monotonic()

    def counter_loop(sid: str, n: int) -> Dict[str, int]:
        """n increments of data["n"], each get/save retried on SessionConflict."""
        conflicts = 0
        for _ in range(n):
            while True:
                data = sessions.get(sid)
                data["n"] += 1
                data.setdefault("by", {}).setdefault(str(os.getpid()), 0)
                data["by"][str(os.getpid())] += 1
                try:
                    sessions.save(sid, data)
                    break
                except libcache.SessionConflict:
                    conflicts += 1
        return {"conflicts": conflicts}

    def load_start(threads: int) -> None:
        stop_load.clear()
        for i in range(threads):
            t = threading.Thread(target=hammer, args=(i,), daemon=True)
            t.start()
            loaders.append(t)

    def load_stop() -> int:
        stop_load.set()
        for t in loaders:
            t.join(WAIT)
        loaders.clear()
        return load_ops[0]

    special = {
        "poll_gone": poll_gone,
        "timed": timed,
        "counter_loop": counter_loop,
        "load_start": load_start,
        "load_stop": load_stop,
        "store.stats": lambda: dataclasses.asdict(store.stats()),
        "pid": os.getpid,
    }
    objects = {"cache": cache, "store": store, "session": sessions}
    conn.send(("ready", os.getpid()))
    while True:
        msg = conn.recv()
        if msg is None:
            break
        name, args = msg
        try:
            if name in special:
                result = special[name](*args)
            else:
                obj, method = name.split(".", 1)
                result = getattr(objects[obj], method)(*args)
            conn.send(("ok", result))
        except BaseException as e:  # noqa: BLE001 - reported to the test
            conn.send(("error", [c.__name__ for c in type(e).__mro__], str(e)))
    stop_load.set()
    store.close(1.0)
    cache.close()
    conn.close()


class Worker:
    """One server process; close() (or the context manager) stops it."""

    def __init__(
        self,
        url: str,
        prefix: str = "app:",
        attach: Optional[Dict[str, Any]] = None,
        session: Optional[Dict[str, Any]] = None,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, url, prefix, attach or {}, session or {}), daemon=True)
        self.proc.start()
        child.close()
        self.pid = 0

    def ready(self) -> "Worker":
        """Waits until the worker has attached to Redis."""
        if not self.pid:
            self.pid = self._reply("ready")
        return self

    def _reply(self, kind: str = "ok") -> Any:
        if not self.conn.poll(WAIT * 3):
            raise AssertionError("the worker did not answer in time")
        msg = self.conn.recv()
        if msg[0] == "error":
            raise Remote(msg[1], msg[2])
        assert msg[0] == kind, msg
        return msg[1]

    def send(self, name: str, *args: Any) -> None:
        """Starts a call; result() waits for it (and ack() for a poll_gone's first answer)."""
        self.conn.send((name, args))

    def ack(self) -> None:
        self._reply("ack")

    def result(self) -> Any:
        return self._reply()

    def call(self, name: str, *args: Any) -> Any:
        self.send(name, *args)
        return self.result()

    def close(self) -> None:
        if self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(WAIT)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def workers(n: int, url: str, **kwargs: Any) -> List[Worker]:
    """n workers started together (their interpreters start in parallel)."""
    out: List[Worker] = []
    try:
        for _ in range(n):
            out.append(Worker(url, **kwargs))
        for w in out:
            w.ready()
    except BaseException:
        for w in out:
            w.close()
        raise
    return out
