#!/usr/bin/env python3
"""The three tiers live: load-balanced servers, each with a libcache near cache, one Redis, one database.

What runs (scripts/demo.sh starts the Redis and stops it at the end):

  dispatcher (this process) --round-robin--> worker 1, 2, 3 (examples/tier_worker.py)
  each worker: libcache.Cache (its near cache) -> the shared Redis -> the SQLite database

The dispatcher plays the load balancer: it sends every request to the next
worker in turn (no sticky sessions), at most a few in flight per worker. The
requests:

  - product-page reads, Zipf-distributed over the catalogue (the hot products
    scattered over the ids), answered by the first tier that has the page;
  - price updates mixed in (the same skew: hot products change most), written
    to the database and then through to Redis by the worker that got the
    request; Redis's invalidations make the other workers drop their copies;
  - session flows of several users, each step on the next worker in turn:
    login, cart updates, a slow request whose save comes after another
    worker's (SessionConflict, then read again and redone), a privilege
    change that rotates the id, logout, and after each of the last two a check
    on the other workers that the old id is refused.

Printed: the share of reads each tier answered and its p50/p99 latency, the
database reads saved, the coherence counters, the stale reads observed (each
worker checks every page it serves against the database: see "Stale reads"
in the output for what is counted), and every step of the first user's session
with the worker that served it. Exit status 1 if a check failed.

Usage: python examples/three_tier.py --redis-url redis://127.0.0.1:PORT/0
           [--quick] [--requests N] [--products N] [--workers N]
"""

from __future__ import annotations

import argparse
import array
import collections
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from typing import Any, Callable, Deque, Dict, Generator, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo  # noqa: E402  (the single-process demo: its catalogue, Zipf sampler, table printer)
import tier_worker  # noqa: E402

import libcache  # noqa: E402

WINDOW = 4  # requests in flight per worker (a load balancer's queue per server)
UPDATE_EVERY = 50  # one request in 50 is a price update
GRACE_MS = 100.0  # stale read: older than a page Redis acknowledged this long before the read
SESSION_STEPS = 14
ANSWER_TIMEOUT = 60.0  # seconds: a worker that takes longer is reported as hung  # steps of one session flow (see session_flow)

Step = Tuple[str, Tuple[Any, ...], int]
Flow = Generator[Step, Dict[str, Any], None]


# ---- Progress on stderr --------------------------------------------------------------


class Progress:
    """A progress bar on stderr when it is a terminal; otherwise one plain line."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self.tty = sys.stderr.isatty()
        self.started = self.last = time.monotonic()
        if not self.tty:
            print(f"{label}: {total:,} requests ...", file=sys.stderr, flush=True)

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.tty or (now - self.last < 0.1 and done < self.total):
            return
        self.last = now
        width = 30
        filled = width * done // self.total
        rate = done / max(now - self.started, 1e-9)
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r  {self.label} [{bar}] {done:,}/{self.total:,} requests, {rate:,.0f}/s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            self.update(self.total)
            sys.stderr.write("\n")
            sys.stderr.flush()


# ---- The dispatcher ---------------------------------------------------------------------


class WorkerFailed(RuntimeError):
    pass


class Dispatcher:
    """Sends requests to the workers' pipes; answers come back in order per worker."""

    def __init__(self, conns: List[Connection]) -> None:
        self.conns = conns
        self.pending: List[Deque[Optional[Callable[[Any], None]]]] = [collections.deque() for _ in conns]

    def send(self, w: int, msg: Tuple[Any, ...], done: Optional[Callable[[Any], None]] = None) -> None:
        while len(self.pending[w]) >= WINDOW:
            self.receive(w)
        self.conns[w].send(msg)
        self.pending[w].append(done)

    def receive(self, w: int) -> None:
        try:
            if not self.conns[w].poll(ANSWER_TIMEOUT):
                raise WorkerFailed(f"worker {w + 1} did not answer within {ANSWER_TIMEOUT:.0f} s")
            reply = self.conns[w].recv()
        except EOFError:
            raise WorkerFailed(f"worker {w + 1} exited") from None
        if isinstance(reply, tuple) and reply[0] == "failed":
            raise WorkerFailed(f"worker {w + 1} failed:\n{reply[1]}")
        done = self.pending[w].popleft()
        if done is not None:
            done(reply)

    def drain(self) -> None:
        for w in range(len(self.conns)):
            while self.pending[w]:
                self.receive(w)

    def call(self, w: int, msg: Tuple[Any, ...]) -> Any:
        """Sends msg and waits for its answer."""
        box: List[Any] = []
        self.send(w, msg, box.append)
        while not box:
            self.receive(w)
        return box[0]


# ---- Session flows ------------------------------------------------------------------------


def session_flow(user: str) -> Flow:
    """One user's visit; each yield is a step (op, args, worker offset), given its result.

    The worker offset k sends the step to worker (flow number + k) mod N: the
    next worker in turn, except the save of the held read, which goes back to
    the worker that read it.
    """
    sid = (yield ("login", (user,), 0))["sid"]
    yield ("add", (sid, "lamp-oak"), 1)
    yield ("add", (sid, "mug-copper"), 2)
    yield ("hold", (sid,), 3)  # a slow request reads the cart (2 items) ...
    yield ("add", (sid, "scarf-linen"), 4)  # ... another worker saves meanwhile ...
    yield ("save_held", (sid, "kettle-steel"), 3)  # ... the slow one saves: SessionConflict, redone
    yield ("view", (sid,), 5)
    old, sid = sid, (yield ("rotate", (sid,), 6))["sid"]
    yield ("refused", (old,), 7)  # on the two workers after the one that rotated
    yield ("refused", (old,), 8)
    yield ("add", (sid, "rug-wool"), 9)
    yield ("logout", (sid,), 10)
    yield ("refused", (sid,), 11)
    yield ("refused", (sid,), 12)


STEP_LABELS = {
    "login": "login: create the session (written through to Redis)",
    "add": "cart update: get + save (version-checked in Redis)",
    "hold": "a slow request reads the session",
    "save_held": "... and saves it after another worker's save",
    "view": "view the cart: get",
    "rotate": "privilege change: rotate the id",
    "refused": "the ended id is refused",
    "logout": "logout: destroy",
}


class FlowState:
    def __init__(self, n: int, user: str, workers: int, record: bool) -> None:
        self.n = n
        self.user = user
        self.workers = workers
        self.gen = session_flow(user)
        self.next: Optional[Step] = next(self.gen)
        self.step = 0
        self.cart = 0
        self.failed: List[str] = []
        self.record: Optional[List[Tuple[str, int, str, bool]]] = [] if record else None
        self.served = [0] * workers

    def worker(self) -> int:
        assert self.next is not None
        return (self.n + self.next[2]) % self.workers

    def done(self, result: Dict[str, Any]) -> None:
        assert self.next is not None
        op = self.next[0]
        w = self.worker()
        ok, detail = self.check(op, result)
        self.served[w] += 1
        if not ok:
            self.failed.append(f"step {self.step + 1} ({op}) on worker {w + 1}: {detail}")
        if self.record is not None:
            self.record.append((op, w, detail, ok))
        self.step += 1
        try:
            self.next = self.gen.send(result) if ok else None
        except StopIteration:
            self.next = None

    def check(self, op: str, r: Dict[str, Any]) -> Tuple[bool, str]:
        if "error" in r:
            return False, r["error"]
        if op in ("login", "rotate"):
            return True, f"id {r['sid'][:10]}…"
        if op in ("add", "save_held"):
            self.cart += 1
            conflicts = r["conflicts"]
            if op == "save_held":
                # The held read is older than the other worker's save: a save
                # that went through without a conflict would have lost an item.
                ok = conflicts >= 1 and r["cart"] == self.cart
                return ok, (f"SessionConflict (nothing written), read again and saved: {r['cart']} items"
                            if conflicts else f"saved over the other worker's save: {r['cart']} items, an update lost")
            more = f", after {conflicts} SessionConflict(s) and a new read" if conflicts else ""
            return r["cart"] == self.cart, f"{r['cart']} item(s) in the cart{more}"
        if op == "hold":
            return r["cart"] == self.cart, f"{r['cart']} item(s), not saved yet"
        if op == "view":
            return r["cart"] == self.cart, f"{r['cart']} item(s), as saved on the other workers"
        if op == "logout":
            return bool(r["destroyed"]), "destroyed" if r["destroyed"] else "was not there"
        if op == "refused":
            after = r["refused_after"]
            return True, "refused at once" if after == 0 else f"refused {after * 1e3:.1f} ms after the request arrived"
        return False, f"unexpected step {op}"


# ---- The run --------------------------------------------------------------------------------


def build_database(path: str, products: int, rng: random.Random) -> None:
    demo.build_catalogue(path, products, rng)
    import sqlite3

    db = sqlite3.connect(path)
    # The version a page carries: every price update increments it, so that a
    # page can be compared with the database's row, and pages with one another.
    db.execute("ALTER TABLE products ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
    db.execute("PRAGMA journal_mode = WAL")  # readers in every worker, writers too
    db.commit()
    db.close()


def requests_of(args: argparse.Namespace, rng: random.Random) -> List[Tuple[Any, ...]]:
    ids = list(range(1, args.products + 1))
    rng.shuffle(ids)  # the hot products are scattered over the ids, as in real data
    zipf = demo.Zipf(args.products, demo.ZIPF_S, rng)
    out: List[Tuple[Any, ...]] = []
    for i in range(args.requests):
        pid = ids[zipf.sample()]
        if i % UPDATE_EVERY == UPDATE_EVERY - 1:
            out.append(("w", pid, rng.randint(199, 99_999)))
        else:
            out.append(("r", pid))
    return out


def percentile(values: List[int], p: float) -> float:
    return float(values[min(len(values) - 1, int(len(values) * p / 100))]) if values else float("nan")


def lat(values: List[int]) -> Tuple[str, str]:
    if not values:
        return "-", "-"
    return f"{percentile(values, 50) / 1000:.1f} µs", f"{percentile(values, 99) / 1000:.1f} µs"


def run(args: argparse.Namespace) -> bool:
    rng = random.Random(demo.SEED)
    n = args.workers
    print(f"libcache {libcache.__version__} (engine {libcache.ENGINE_VERSION}): three tiers, {n} load-balanced workers\n")
    tmp = tempfile.TemporaryDirectory(prefix="libcache-3tier-")
    db_path = os.path.join(tmp.name, "catalogue.db")
    lock_path = os.path.join(tmp.name, "products.lock")
    with open(lock_path, "wb") as f:
        f.truncate(tier_worker.LOCK_STRIPES)
    t0 = time.perf_counter()
    build_database(db_path, args.products, rng)
    size_mib = os.path.getsize(db_path) / 2**20
    requests = requests_of(args, rng)
    updates = sum(1 for r in requests if r[0] == "w")
    cache_bytes = max(1 << 20, (8 << 20) * args.products // 100_000)
    # A run's keys live under a prefix of their own: a Redis given with
    # --redis-url may hold an earlier run's pages (of another catalogue).
    prefix = f"{tier_worker.PREFIX}{uuid.uuid4().hex[:8]}:"
    print(f"  database    SQLite (WAL), {args.products:,} products with reviews, {size_mib:.1f} MiB "
          f"(built in {time.perf_counter() - t0:.1f} s)")
    print(f"  Redis       {redact(args.redis_url)}, keys under {prefix}")
    print(f"  workers     {n} processes (spawned), each a Cache(max_bytes={cache_bytes / 2**20:.0f} MiB) near cache "
          "with attach_redis(prefix, coherence=True)")
    print(f"  load        {args.requests:,} requests round-robin, at most {WINDOW} in flight per worker: "
          f"product-page reads (Zipf s={demo.ZIPF_S}), 1 in {UPDATE_EVERY} a price update ({updates:,}); "
          f"plus {args.flows} session flows of {SESSION_STEPS} steps")
    print()

    ctx = multiprocessing.get_context("spawn")
    conns: List[Connection] = []
    procs = []
    for i in range(n):
        parent, child = ctx.Pipe()
        p = ctx.Process(
            target=tier_worker.main,
            args=(child, i, args.redis_url, prefix, db_path, lock_path, cache_bytes, 3600.0, 1800.0, 7200.0),
            name=f"libcache-demo-worker-{i + 1}",
        )
        p.start()
        child.close()
        conns.append(parent)
        procs.append(p)
    try:
        return serve(args, conns, requests)
    finally:
        for c in conns:
            c.close()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join()
        tmp.cleanup()


def redact(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def serve(args: argparse.Namespace, conns: List[Connection], requests: List[Tuple[Any, ...]]) -> bool:
    n = len(conns)
    coherent = []
    for i, c in enumerate(conns):
        if not c.poll(60):
            raise WorkerFailed(f"worker {i + 1} did not start within 60 s")
        msg = c.recv()
        if msg[0] != "ready":
            raise WorkerFailed(f"worker {i + 1} failed to start:\n{msg[1]}")
        coherent.append(msg[1])
    if not all(coherent):
        print("  NOTE: this libcache has no near-cache coherence (before 1.4): workers keep stale copies\n")
    d = Dispatcher(conns)
    flows = [FlowState(i, f"user{i + 1}", n, record=i == 0) for i in range(args.flows)]
    ready: Deque[FlowState] = collections.deque(flows)

    def step_done(flow: FlowState) -> Callable[[Any], None]:
        def done(result: Any) -> None:
            flow.done(result)
            if flow.next is not None:
                ready.append(flow)

        return done

    def send_step() -> None:
        flow = ready.popleft()
        assert flow.next is not None
        op, sargs, _ = flow.next
        d.send(flow.worker(), ("s", op, sargs), step_done(flow))

    # Session steps are spread over the first 80% of the requests.
    slot = max(1, int(len(requests) * 0.8) // max(1, args.flows * SESSION_STEPS))
    progress = Progress(len(requests), "three tiers")
    started = time.perf_counter()
    rr = 0
    for i, req in enumerate(requests):
        d.send(rr, req)
        rr = (rr + 1) % n
        if i % slot == 0 and ready:
            send_step()
        if i % 256 == 0:
            progress.update(i)
    while ready or any(d.pending):  # the flows' last steps
        if ready:
            send_step()
        else:
            d.drain()
    wall = time.perf_counter() - started
    progress.close()
    results = []
    for w in range(n):
        reply = d.call(w, ("end",))
        results.append(reply[1])
    return report(args, results, flows, wall, len(requests))


# ---- The report -------------------------------------------------------------------------------


def report(args: argparse.Namespace, results: List[Dict[str, Any]], flows: List[FlowState], wall: float,
           n_requests: int) -> bool:
    ok = True
    lats: Dict[str, List[int]] = {}
    for t in ("local", "redis", "db", "update"):
        merged = array.array("q")
        for r in results:
            merged.frombytes(r["latency"][t])
        lats[t] = sorted(merged)
    reads = sum(len(lats[t]) for t in ("local", "redis", "db"))
    local, redis_, db = (len(lats[t]) for t in ("local", "redis", "db"))
    updates = len(lats["update"])

    print("Product pages: which tier answered, and how fast (time in the worker: cache, Redis, database)")
    rows = [("tier", "reads", "share", "p50", "p99")]
    rows.append(("local near cache", f"{local:,}", f"{local / reads:.1%}", *lat(lats["local"])))
    rows.append(("Redis (local miss)", f"{redis_:,}", f"{redis_ / reads:.1%}", *lat(lats["redis"])))
    rows.append(("database (both missed)", f"{db:,}", f"{db / reads:.1%}", *lat(lats["db"])))
    rows.append(("price update (write-through)", f"{updates:,}", "", *lat(lats["update"])))
    demo.print_table(rows)
    by_other = sum(r["filled_by_other"] for r in results)
    local_misses = reads - local
    print(f"\n  Redis answered {redis_ / local_misses if local_misses else 0:.1%} of the local misses"
          f" ({by_other:,} of them after waiting for another worker's fill of the same product)")
    print(f"  database reads saved: {reads - db:,} of {reads:,} product reads ({(reads - db) / reads:.1%}) never "
          f"reached the database; the Redis tier saved {redis_:,} of them: pages another worker had read or updated")
    print(f"  {n_requests / wall:,.0f} requests/s through the dispatcher ({wall:.1f} s)")

    # Coherence counters (RedisStats, summed over the workers).
    def total(field: str) -> Optional[int]:
        vals = [r["redis"].get(field) for r in results]
        return None if any(v is None for v in vals) else sum(vals)

    print("\nCoherence (RedisStats of the workers, summed)")
    if total("invalidations") is None:
        print("  not available: this libcache has no coherence counters (before 1.4)")
    else:
        per = ", ".join(f"{r['redis']['invalidations']:,}" for r in results)
        print(f"  invalidations received {total('invalidations'):,} ({per} per worker), local copies dropped "
              f"{total('invalidated'):,}, fills refused {total('fills_refused'):,}, conflicts {total('conflicts'):,}, "
              f"tracking resets {total('tracking_resets'):,}")
    write_errors = sum(r["write_errors"] for r in results)
    if write_errors:
        ok = False
        print(f"  FAILED: {write_errors} price updates were not acknowledged by Redis")

    ok = stale_report(results) and ok
    ok = session_report(flows, len(results)) and ok
    return ok


def stale_report(results: List[Dict[str, Any]]) -> bool:
    acks: Dict[Tuple[int, int], int] = {}
    for r in results:
        for pid, version, t_ack in r["writes"]:
            acks[(pid, version)] = t_ack
    before_ack = in_flight = stale = 0
    oldest_in_flight = 0.0
    examples = []
    for r in results:
        for pid, served, _in_db, t_start in r["older_than_db"]:
            t_ack = acks.get((pid, served + 1))  # the update that replaced the page served
            if t_ack is None or t_start < t_ack:
                before_ack += 1
                continue
            age_ms = (t_start - t_ack) / 1e6
            if age_ms <= GRACE_MS:
                in_flight += 1
                oldest_in_flight = max(oldest_in_flight, age_ms)
            else:
                stale += 1
                examples.append(f"worker {r['index'] + 1}: product {pid} version {served}, {age_ms:.0f} ms after "
                                "its update was acknowledged")
    regressions = sum(len(r["regressions"]) for r in results)
    checked = sum(sum(len(r["latency"][t]) // 8 for t in ("local", "redis", "db")) for r in results)
    newer = sum(r["newer_than_db"] for r in results)
    print("\nStale reads (every page served was checked against the database row's version, read just before)")
    print(f"  {checked:,} reads checked; a page older than the database's row:")
    print(f"    {before_ack:,} while its update was between the database commit and Redis's acknowledgement")
    print(f"    {in_flight:,} after the acknowledgement, within {GRACE_MS:.0f} ms: the invalidation on its way"
          + (f" (the latest {oldest_in_flight:.2f} ms after it)" if in_flight else ""))
    print(f"  stale reads: {stale} -- a page older than an update Redis had acknowledged over {GRACE_MS:.0f} ms "
          "before the read began (coherence's bound); must be 0")
    print(f"  regressions: {regressions} -- a worker returning an older version than it had returned before; must be 0")
    if newer:
        print(f"  ({newer:,} reads saw a page newer than the row: the update's commit not yet visible to the check)")
    for e in examples[:5]:
        print(f"    {e}")
    return stale == 0 and regressions == 0


def session_report(flows: List[FlowState], workers: int) -> bool:
    first = flows[0]
    print(f"\nSessions: {first.user}'s visit, each step on the next worker in turn (no sticky sessions; "
          "the slow request's save on the worker that read)")
    assert first.record is not None
    for op, w, detail, ok in first.record:
        print(f"  [{'ok' if ok else 'FAILED'}] worker {w + 1}  {STEP_LABELS[op]}: {detail}")
    steps = sum(f.step for f in flows)
    failed = [msg for f in flows for msg in (f"{f.user}: {m}" for m in f.failed)]
    unfinished = [f.user for f in flows if f.next is not None or f.step < SESSION_STEPS]
    served = [sum(f.served[w] for f in flows) for w in range(workers)]
    print(f"  all {len(flows)} flows: {steps:,} of {len(flows) * SESSION_STEPS:,} steps served "
          f"(by worker {', '.join(f'{w + 1}: {s:,}' for w, s in enumerate(served))}), {len(failed)} failed")
    for msg in failed[:5]:
        print(f"    FAILED {msg}")
    return not failed and not unfinished


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--redis-url", required=True, help="the shared Redis (scripts/demo.sh starts one)")
    ap.add_argument("--requests", type=int, help="requests (default 100,000; --quick 8,000)")
    ap.add_argument("--products", type=int, help="products in the database (default 50,000; --quick 5,000)")
    ap.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    ap.add_argument("--flows", type=int, help="session flows (default 60; --quick 6)")
    ap.add_argument("--quick", action="store_true", help="small and fast, for CI (a few seconds)")
    args = ap.parse_args()
    # The default takes about 40 s on a loaded 2-core machine (five busy
    # processes share the cores): under the minute the demo promises.
    args.requests = args.requests if args.requests is not None else 8_000 if args.quick else 100_000
    args.products = args.products if args.products is not None else 5_000 if args.quick else 50_000
    args.flows = args.flows if args.flows is not None else 6 if args.quick else 60
    if args.products < 100 or args.requests < 100 or not 2 <= args.workers <= 16 or args.flows < 1:
        ap.error("--products and --requests must be at least 100, --workers 2 to 16, --flows at least 1")
    started = time.perf_counter()
    try:
        ok = run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except WorkerFailed as e:
        print(f"\nFAILED: {e}", file=sys.stderr)
        return 1
    except libcache.BackendError as e:
        print(f"\nFAILED: Redis at {redact(args.redis_url)}: {e}", file=sys.stderr)
        return 1
    print(f"\ndone in {time.perf_counter() - started:.1f} s{'' if ok else ' -- SOME CHECKS FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
