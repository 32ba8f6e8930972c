"""One server of the three-tier demo (examples/three_tier.py): a worker process.

Each worker is what one load-balanced application server would be: its own
libcache near cache (a Cache with a Redis store attached, coherence on), the
shared Redis behind it, and the SQLite database behind that. The dispatcher
sends it requests over a pipe (multiprocessing, spawn) and it answers each one
in order; at the end it sends back what it measured.

Product pages (read path, in tier order)
  1. the local near cache: cache.get(key) finds the page in this process;
  2. Redis: the local miss reads through (GET + PTTL) and keeps the page
     locally; the cache's hit counter tells the two apart;
  3. the database: Redis does not have it either. The worker takes the
     product's lock, looks in Redis once more (another worker may have filled
     it while this one waited), reads the page from SQLite and writes it
     through (set_sync: Redis has it, then the local cache).

Price updates (write path): write-through, not invalidate-on-write. Under the
product's lock the worker updates the row (a new version), builds the new page
from the database and set_syncs it: Redis holds the new page when the call
returns, Redis's invalidation reaches the other workers, and their next read is
a Redis hit. Invalidate-on-write (delete_sync) would be as correct with the
lock, but every update of a hot product would then send every worker to the
database for the page this worker has just built: a Zipf load updates exactly
the pages that are read most.

The product lock is a byte-range lock (fcntl) on a file that every worker
opens: every change of a product's page in Redis (a fill or an update) happens
under it, so Redis receives a product's versions in the database's order. That
is what keeps a fill that read version 5 from landing after an update's
version 6 (the classic cache-aside race), and what makes a product that several
workers miss at once be read from the database once.

Checks: before each product read the worker reads the row's version from the
database (its own connection; not counted as a database read, and not in the
timings: it is the demo's check, not the application's work) and reports reads
whose page is older than that version, and any read older than a page this
worker has already returned (a regression, which coherence forbids).
"""

from __future__ import annotations

import array
import dataclasses
import fcntl
import json
import os
import sqlite3
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any, Dict, List, Optional, Tuple

import libcache

PREFIX = "demo:"  # the shared prefix in Redis (plus a run id): every worker's keys live under it
SYNC_TIMEOUT = 5.0  # seconds a write-through waits for Redis
LOCK_STRIPES = 4096  # product locks: byte (id % LOCK_STRIPES) of the lock file

PAGE_QUERY = """
    SELECT p.id, p.name, p.price_cents, p.version, p.description,
           COUNT(r.id) AS reviews, AVG(r.stars) AS avg_stars
    FROM products AS p LEFT JOIN reviews AS r ON r.product_id = p.id
    WHERE p.id = ?
    GROUP BY p.id
"""
LATEST_REVIEWS_QUERY = "SELECT stars, body FROM reviews WHERE product_id = ? ORDER BY id DESC LIMIT 2"
VERSION_QUERY = "SELECT version FROM products WHERE id = ?"


def attach(cache: libcache.Cache, url: str, prefix: str) -> Tuple[libcache.RedisStore, bool]:
    """The cache's Redis store with coherence on; (store, whether this libcache has coherence)."""
    try:
        # health_interval: how often the invalidation connection is checked (PING).
        return cache.attach_redis(url, prefix=prefix, coherence=True, health_interval=0.1), True  # type: ignore[call-arg]
    except TypeError:  # a libcache before 1.4: no coherence option (and no coherence)
        return cache.attach_redis(url, prefix=prefix), False


class Worker:
    def __init__(self, index: int, url: str, prefix: str, db_path: str, lock_path: str, cache_bytes: int,
                 page_ttl: float, idle_ttl: float, absolute_ttl: float) -> None:
        self.index = index
        self.cache = libcache.Cache(max_bytes=cache_bytes, default_ttl=page_ttl)
        self.store, self.coherence = attach(self.cache, url, prefix)
        self.sessions = libcache.SessionStore(self.cache, idle_ttl=idle_ttl, absolute_ttl=absolute_ttl)
        self.db = sqlite3.connect(db_path, isolation_level=None, timeout=30)  # autocommit
        self.db.execute("PRAGMA mmap_size = 1073741824")
        self.lock_fd = os.open(lock_path, os.O_RDWR)
        # Latencies (ns) of the requests each tier answered; updates apart.
        self.latency: Dict[str, array.array] = {t: array.array("q") for t in ("local", "redis", "db", "update")}
        self.filled_by_other = 0  # misses that found the page in Redis after waiting for the product's lock
        self.db_pages = 0  # product pages read from the database (fills and updates)
        self.older_than_db: List[Tuple[int, int, int, int]] = []  # (id, served, database, t_start ns)
        self.newer_than_db = 0  # pages a write had put in Redis before its commit was visible here
        self.regressions: List[Tuple[int, int, int]] = []  # (id, served, served before)
        self.returned: Dict[int, int] = {}  # id -> newest version this worker returned
        self.writes: List[Tuple[int, int, int]] = []  # (id, version, t_ack ns): our updates, acknowledged
        self.write_errors = 0
        self.held: Dict[str, Any] = {}  # sid -> session data read by "hold", saved by "save_held"
        self.hits = self.cache.stats().hits  # the local hits so far: which tier answered a read

    # ---- product pages ------------------------------------------------------------

    def lock(self, pid: int, op: int) -> None:
        fcntl.lockf(self.lock_fd, op, 1, pid % LOCK_STRIPES)

    def page_from_db(self, pid: int) -> Tuple[str, int]:
        """The product page (JSON text, as the handler sends it) and its version, in one snapshot."""
        self.db_pages += 1
        self.db.execute("BEGIN")
        try:
            row = self.db.execute(PAGE_QUERY, (pid,)).fetchone()
            latest = self.db.execute(LATEST_REVIEWS_QUERY, (pid,)).fetchall()
        finally:
            self.db.execute("COMMIT")
        pid_, name, price, version, text, reviews, avg = row
        page = {
            "id": pid_, "name": name, "price_cents": price, "version": version, "description": text,
            "reviews": reviews, "avg_stars": None if avg is None else round(avg, 2),
            "latest_reviews": [{"stars": s, "text": b} for s, b in latest],
        }  # fmt: skip
        return json.dumps(page, separators=(",", ":")), version

    def fill(self, pid: int, key: str) -> Tuple[str, str]:
        """(page, tier) after a miss in both caches."""
        self.lock(pid, fcntl.LOCK_EX)
        try:
            page = self.cache.get(key)  # another worker may have filled it meanwhile
            if page is not None:
                self.filled_by_other += 1
                return page, "redis"
            page, _ = self.page_from_db(pid)
            # A bounded wait: Redis gone makes this raise (the demo stops)
            # rather than wait for it while holding the product's lock.
            self.store.set_sync(key, page, timeout=SYNC_TIMEOUT)
            return page, "db"
        finally:
            self.lock(pid, fcntl.LOCK_UN)

    def read(self, pid: int) -> None:
        key = f"product:{pid}"
        clock = time.perf_counter_ns
        t_start = time.monotonic_ns()  # one clock for every process (CLOCK_MONOTONIC)
        in_db = self.db.execute(VERSION_QUERY, (pid,)).fetchone()[0]  # the check, untimed
        t0 = clock()
        page = self.cache.get(key)
        tier = "local"
        if page is None:
            page, tier = self.fill(pid, key)
        t1 = clock()
        # A local hit counts a hit; a read-through (Redis had it) a local miss.
        # (Cache.stats costs a few µs, RedisStore.stats tens: untimed, once a read.)
        hits = self.cache.stats().hits
        if tier == "local" and hits == self.hits:
            tier = "redis"
        self.hits = hits
        self.latency[tier].append(t1 - t0)
        served = json.loads(page)["version"]
        if served < in_db:
            self.older_than_db.append((pid, served, in_db, t_start))
        elif served > in_db:
            self.newer_than_db += 1
        before = self.returned.get(pid, 0)
        if served < before:
            self.regressions.append((pid, served, before))
        else:
            self.returned[pid] = served

    def update(self, pid: int, price: int) -> None:
        key = f"product:{pid}"
        t0 = time.perf_counter_ns()
        self.lock(pid, fcntl.LOCK_EX)
        try:
            self.db.execute("UPDATE products SET price_cents = ?, version = version + 1 WHERE id = ?", (price, pid))
            page, version = self.page_from_db(pid)
            try:
                self.store.set_sync(key, page, timeout=SYNC_TIMEOUT)
            except libcache.Error:
                # Redis did not take it (down, or no answer in time; a timed-out
                # write may still land). Queue a delete: ordered after that
                # write, retried by the flusher until Redis takes it, so Redis
                # does not keep the old page for its whole TTL.
                self.write_errors += 1
                self.cache.delete(key)
                return
            t_ack = time.monotonic_ns()
        finally:
            self.lock(pid, fcntl.LOCK_UN)
        self.latency["update"].append(time.perf_counter_ns() - t0)
        self.writes.append((pid, version, t_ack))
        self.hits = self.cache.stats().hits

    # ---- sessions -------------------------------------------------------------------

    def session(self, op: str, args: Tuple[Any, ...]) -> Any:
        """One step of a session flow; what it returns goes back to the dispatcher."""
        s = self.sessions
        try:
            if op == "login":
                return {"sid": s.create({"user": args[0], "cart": []})}
            if op == "add":
                sid, sku = args
                return self.add_to_cart(sid, sku, None)
            if op == "hold":  # a slow request: reads the session now, saves it later ("save_held")
                data = s.get(args[0])
                if data is None:
                    return {"error": "session not found"}
                self.held[args[0]] = data
                return {"cart": len(data["cart"])}
            if op == "save_held":
                sid, sku = args
                return self.add_to_cart(sid, sku, self.held.pop(sid))
            if op == "view":
                data = s.get(args[0])
                return {"error": "session not found"} if data is None else {"cart": len(data["cart"])}
            if op == "rotate":
                return {"sid": s.rotate(args[0])}
            if op == "logout":
                return {"destroyed": s.destroy(args[0])}
            if op == "refused":
                # An id that another worker ended (rotate, logout): refused here
                # once that worker's write has reached Redis and its
                # invalidation has reached this process. How long that took
                # after the request arrived here (0: the first get refused
                # it), within 1 s.
                t0 = time.monotonic()
                if s.get(args[0]) is None:
                    return {"refused_after": 0.0}
                while s.get(args[0]) is not None:
                    if time.monotonic() - t0 > 1.0:
                        return {"error": "still accepted after 1 s"}
                    time.sleep(0.0002)
                return {"refused_after": time.monotonic() - t0}
            return {"error": f"unknown step {op}"}
        except Exception as e:  # the dispatcher reports it as a failed step
            return {"error": f"{type(e).__name__}: {e}"}
        finally:
            self.hits = self.cache.stats().hits

    def add_to_cart(self, sid: str, sku: str, data: Any) -> Dict[str, Any]:
        """A cart update: get, change, save; on SessionConflict get again and redo it.

        SessionConflict: the session was saved elsewhere since this worker read
        it (Redis checks the version), and nothing was written. A handler
        reloads and reapplies its change, as here. It also covers a read that
        was served from this worker's copy just before another worker's save
        invalidated it: the version check turns that race into a retry
        instead of a lost cart item.
        """
        conflicts = 0
        while True:
            if data is None:
                data = self.sessions.get(sid)
                if data is None:
                    return {"error": "session not found"}
            data["cart"].append(sku)
            try:
                self.sessions.save(sid, data)
                return {"cart": len(data["cart"]), "conflicts": conflicts}
            except libcache.SessionConflict:
                conflicts += 1
                if conflicts > 5:
                    return {"error": f"{conflicts} conflicts in a row"}
                data = None

    # ---- end of the run -------------------------------------------------------------

    def results(self) -> Dict[str, Any]:
        self.store.flush(timeout=10)
        rs = dataclasses.asdict(self.store.stats())
        cs = self.cache.stats()
        return {
            "index": self.index,
            "pid": os.getpid(),
            "coherence": self.coherence,
            "latency": {t: a.tobytes() for t, a in self.latency.items()},
            "filled_by_other": self.filled_by_other,
            "db_pages": self.db_pages,
            "older_than_db": self.older_than_db,
            "newer_than_db": self.newer_than_db,
            "regressions": self.regressions,
            "writes": self.writes,
            "write_errors": self.write_errors,
            "redis": rs,
            "cache": {"entries": cs.entries, "bytes": cs.bytes, "evictions": cs.evictions, "hits": cs.hits,
                      "misses": cs.misses},
        }  # fmt: skip

    def close(self) -> None:
        self.store.close(timeout=5)
        self.cache.close()
        self.db.close()
        os.close(self.lock_fd)


def main(conn: Connection, index: int, url: str, prefix: str, db_path: str, lock_path: str, cache_bytes: int,
         page_ttl: float, idle_ttl: float, absolute_ttl: float) -> None:
    """The worker process: serves the dispatcher's requests until "end"."""
    worker: Optional[Worker] = None
    try:
        worker = Worker(index, url, prefix, db_path, lock_path, cache_bytes, page_ttl, idle_ttl, absolute_ttl)
        conn.send(("ready", worker.coherence))
        while True:
            msg = conn.recv()
            kind = msg[0]
            if kind == "r":
                worker.read(msg[1])
                conn.send(None)
            elif kind == "w":
                worker.update(msg[1], msg[2])
                conn.send(None)
            elif kind == "s":
                conn.send(worker.session(msg[1], msg[2]))
            elif kind == "end":
                conn.send(("results", worker.results()))
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches every process of the demo: the dispatcher reports it
    except (EOFError, BrokenPipeError):
        pass  # the dispatcher is gone
    except Exception:
        try:
            conn.send(("failed", traceback.format_exc()))
        except OSError:
            traceback.print_exc(file=sys.stderr)
    finally:
        if worker is not None:
            worker.close()
