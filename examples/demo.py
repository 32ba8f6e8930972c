#!/usr/bin/env python3
"""libcache's two use cases, end to end, on the embedded cache (no Redis).

1. Cache-aside in front of a database. A real SQLite file holds a product
   catalogue; a product page is the JSON body a web handler returns, built
   from a query that joins a product with its reviews (count, average,
   latest two). A skewed read load, Zipf-distributed over the product ids as
   real traffic is, is replayed twice: straight against the database, then
   through a libcache.Cache that holds only part of the catalogue (so it
   evicts) and stores the finished body, so a hit is one cache read. The
   demo prints the hit ratio, p50/p99 latency with and without the cache,
   the database reads issued, evictions and the memory the cache charges,
   and checks that what the cache holds matches the database.

2. Sessions. A SessionStore over a Cache: login creates a session, cart
   updates go through it, a privilege change rotates its id (the old id stops
   working), a forged id is refused, and the idle and absolute timeouts end
   sessions.

Usage (scripts/demo.sh runs it with the project's virtualenv):
  python examples/demo.py [--requests N] [--products N] [--quick]

--quick is for smoke tests: a small catalogue, few requests, short timeouts
(under ten seconds). A progress bar is shown when tqdm is installed and
stderr is a terminal. scripts/demo.sh runs this demo when no redis-server
can be started; with one it runs the three-tier demo (examples/three_tier.py).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

try:
    import libcache
except ImportError:
    sys.exit("libcache is not installed in this Python: run scripts/setup.sh, then .venv/bin/python " + sys.argv[0])

ZIPF_S = 1.0  # skew of the read load: rank k is asked for in proportion to 1/k**s
SEED = 42


# ---- Small helpers -------------------------------------------------------------


def progress(items: Iterable[Any], total: int, label: str) -> Iterable[Any]:
    """items, with a progress bar on stderr when tqdm is installed and stderr is a terminal."""
    if not sys.stderr.isatty():
        return items  # no bar frames in a CI log
    try:
        from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return items
    sys.stdout.flush()  # the bar goes to stderr: keep the two in order
    bar: Iterable[Any] = tqdm(items, total=total, desc=f"  {label:<12}", unit="req", mininterval=0.25, file=sys.stderr)
    return bar


def percentile(sorted_values: list[int], p: float) -> int:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def us(ns: float) -> str:
    return f"{ns / 1000:.1f} µs"


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        print("  " + "   ".join(cells))


class Zipf:
    """Draws ranks 0..n-1, rank k with probability proportional to 1/(k+1)**s.

    Inverse-CDF sampling: a uniform draw scaled to the total weight, found in
    the precomputed cumulative weights by bisection.
    """

    def __init__(self, n: int, s: float, rng: random.Random) -> None:
        self._cdf = list(itertools.accumulate(1.0 / (k + 1) ** s for k in range(n)))
        self._rng = rng

    def sample(self) -> int:
        u = self._rng.random() * self._cdf[-1]
        return min(bisect.bisect_left(self._cdf, u), len(self._cdf) - 1)


# ---- 1. Cache-aside in front of SQLite ---------------------------------------------

WORDS = (
    "steel oak linen cotton walnut copper matte glossy compact foldable wireless "
    "waterproof ergonomic vintage modern classic solar quiet rapid sturdy light "
    "lamp chair kettle backpack speaker blender jacket desk mug charger pillow "
    "scarf drill tent bottle clock fan rug shelf keyboard with for and the a of "
    "handmade durable everyday travel kitchen office outdoor premium soft warm"
).split()

PRODUCT_QUERY = """
    SELECT p.id, p.name, p.price_cents, p.description,
           COUNT(r.id) AS reviews, AVG(r.stars) AS avg_stars
    FROM products AS p LEFT JOIN reviews AS r ON r.product_id = p.id
    WHERE p.id = ?
    GROUP BY p.id
"""
LATEST_REVIEWS_QUERY = """
    SELECT stars, body FROM reviews WHERE product_id = ? ORDER BY id DESC LIMIT 2
"""


def build_catalogue(path: str, products: int, rng: random.Random) -> None:
    """Writes products (name, price, a 100-200 byte description) and 0-6 reviews each."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA journal_mode = OFF;
        PRAGMA synchronous = OFF;
        CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                               price_cents INTEGER NOT NULL, description TEXT NOT NULL);
        CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL,
                              stars INTEGER NOT NULL, body TEXT NOT NULL);
        """
    )

    def description() -> str:
        text = " ".join(rng.choices(WORDS, k=rng.randint(18, 30)))
        return text[:200]

    rows = (
        (pid, " ".join(rng.choices(WORDS[:30], k=3)).title(), rng.randint(199, 99_999), description())
        for pid in range(1, products + 1)
    )
    db.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", rows)
    reviews = (
        (pid, rng.randint(1, 5), " ".join(rng.choices(WORDS, k=8)))
        for pid in range(1, products + 1)
        for _ in range(rng.randint(0, 6))
    )
    db.executemany("INSERT INTO reviews (product_id, stars, body) VALUES (?, ?, ?)", reviews)
    db.execute("CREATE INDEX reviews_by_product ON reviews (product_id)")
    db.commit()
    db.close()


class Catalogue:
    """The source of truth: one SQLite connection, counting the product pages it reads."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path)
        # Read the file through a memory map rather than read() calls: less
        # kernel time per query, and steadier timings.
        self._db.execute("PRAGMA mmap_size = 1073741824")
        self.queries = 0

    def product(self, pid: int) -> Optional[dict[str, Any]]:
        """A product page: the product, its review count and average, its latest reviews."""
        self.queries += 1
        row = self._db.execute(PRODUCT_QUERY, (pid,)).fetchone()
        if row is None:
            return None
        pid, name, price, text, reviews, avg = row
        latest = self._db.execute(LATEST_REVIEWS_QUERY, (pid,)).fetchall()
        return {
            "id": pid,
            "name": name,
            "price_cents": price,
            "description": text,
            "reviews": reviews,
            "avg_stars": None if avg is None else round(avg, 2),
            "latest_reviews": [{"stars": stars, "text": body} for stars, body in latest],
        }

    def page(self, pid: int) -> Optional[str]:
        """The product page as the handler sends it: the product as JSON text."""
        product = self.product(pid)
        return None if product is None else json.dumps(product, separators=(",", ":"))

    def close(self) -> None:
        self._db.close()


@dataclass
class Replay:
    """One replay of the requests: each one's latency (ns) and whether it read the database."""

    latencies: list[int]
    queried: list[bool]
    wall: float  # seconds

    def where(self, flags: list[bool], want: bool) -> list[int]:
        """Latencies of the requests whose flag (one per request) is `want`."""
        return [t for t, flag in zip(self.latencies, flags) if flag == want]


def replay(requests: list[int], serve: Callable[[int], Any], db: Catalogue, label: str) -> Replay:
    """Serves every request through serve(), timing each one."""
    latencies, queried = [], []
    clock = time.perf_counter_ns
    started = clock()
    for pid in progress(requests, len(requests), label):
        before = db.queries
        t0 = clock()
        serve(pid)
        latencies.append(clock() - t0)
        queried.append(db.queries != before)
    return Replay(latencies, queried, (clock() - started) / 1e9)


def p50_p99(values: list[int]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{percentile(ordered, 50) / 1000:.1f} / {percentile(ordered, 99) / 1000:.1f} µs"


def mean_us(values: list[int]) -> str:
    return us(sum(values) / len(values))


def cache_aside_demo(products: int, n_requests: int, cache_bytes: int) -> bool:
    print("1. Cache-aside in front of a SQLite database")
    print("-" * 44)
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="libcache-demo-") as tmp:
        path = os.path.join(tmp, "catalogue.db")
        t0 = time.perf_counter()
        build_catalogue(path, products, rng)
        size_mib = os.path.getsize(path) / 2**20
        print(f"  database    {path}: {products:,} products with reviews, {size_mib:.1f} MiB "
              f"(built in {time.perf_counter() - t0:.1f} s)")
        print("  read        a product page: the product joined with its reviews (COUNT, AVG), "
              "and its 2 latest reviews")

        # Hot products are scattered over the id space, as they are in real data.
        ids = list(range(1, products + 1))
        rng.shuffle(ids)
        zipf = Zipf(products, ZIPF_S, rng)
        requests = [ids[zipf.sample()] for _ in range(n_requests)]
        print(f"  workload    {n_requests:,} reads, Zipf s={ZIPF_S} over the product ids, "
              f"{len(set(requests)):,} distinct products asked for")
        print(f"  cache       libcache.Cache(max_bytes={cache_bytes / 2**20:.0f} MiB) holding the "
              "finished JSON body of each page (a str)\n")

        # a) Every read goes to the database.
        db = Catalogue(path)
        plain = replay(requests, db.page, db, "no cache")
        plain_queries = db.queries

        # b) Cache-aside: the cache answers, and on a miss the loader reads the
        #    database and the page is stored (get_or_set; single-flight if threaded).
        #    What is cached is what the handler returns, so a hit does no work
        #    at all beyond the read: no query, no JSON encoding or decoding.
        db.queries = 0
        cache = libcache.Cache(max_bytes=cache_bytes)

        def serve(pid: int) -> Any:
            return cache.get_or_set(f"product:{pid}", lambda: db.page(pid))

        cached = replay(requests, serve, db, "cache-aside")
        cached_queries = db.queries
        stats = cache.stats()

        # Every page still in the cache must be what the database says.
        distinct = sorted(set(requests))
        checked = wrong = 0
        for pid in rng.sample(distinct, min(2000, len(distinct))):
            held = cache.get(f"product:{pid}")
            if held is not None:
                checked += 1
                wrong += held != db.page(pid)
        db.close()

    # "of the hits" / "of the misses": the requests the cache answered / did
    # not, timed in both runs, so that each row compares the same requests.
    missed = cached.queried
    print()
    print_table(
        [
            ("", "no cache", "with libcache"),
            ("requests", f"{n_requests:,}", f"{n_requests:,}"),
            ("database reads", f"{plain_queries:,}", f"{cached_queries:,}"),
            ("hit ratio", "-", f"{stats.hit_ratio:.1%}"),
            ("p50 / p99 latency", p50_p99(plain.latencies), p50_p99(cached.latencies)),
            ("  of the hits", p50_p99(plain.where(missed, False)), p50_p99(cached.where(missed, False))),
            ("  of the misses", p50_p99(plain.where(missed, True)), p50_p99(cached.where(missed, True))),
            ("mean latency", mean_us(plain.latencies), mean_us(cached.latencies)),
            ("wall time", f"{plain.wall:.2f} s", f"{cached.wall:.2f} s"),
        ]
    )
    per_entry = stats.bytes / stats.entries if stats.entries else 0.0
    print()
    p50 = [percentile(sorted(r.latencies), 50) for r in (plain, cached)]
    print(f"  speed-up    {p50[0] / p50[1]:.1f}x at p50, {sum(plain.latencies) / sum(cached.latencies):.1f}x "
          "in total time; a hit is one cache read, a miss the database read plus storing the page")
    print(f"  cache       {stats.entries:,} entries, {stats.evictions:,} evictions, "
          f"{stats.bytes / 2**20:.2f} of {cache_bytes / 2**20:.0f} MiB charged, {per_entry:.0f} bytes "
          "per entry (key, JSON page, header, allocator rounding, table)")
    print(f"  check       {checked:,} cached pages compared with the database: {wrong} differ")
    print()
    # Each miss is exactly one database read: nothing is loaded twice.
    return wrong == 0 and cached_queries == stats.misses


# ---- 2. Sessions -----------------------------------------------------------------


def short(sid: str) -> str:
    return sid[:10] + "…"


def wait_until(start: float, offset: float) -> None:
    time.sleep(max(0.0, start + offset - time.monotonic()))


def session_demo(idle: float, absolute: float) -> bool:
    print("2. Sessions: SessionStore over a Cache")
    print("-" * 38)
    cache = libcache.Cache(max_bytes=4 << 20)
    store = libcache.SessionStore(cache, idle_ttl=idle, absolute_ttl=absolute)
    print(f"  store       idle timeout {idle:g} s, absolute timeout {absolute:g} s\n")
    ok = True

    def step(title: str, passed: bool, detail: str = "") -> None:
        nonlocal ok
        ok = ok and passed
        print(f"  [{'ok' if passed else 'FAILED'}] {title}{': ' + detail if detail else ''}")

    # Login creates a session; the id is the only thing the client gets (a cookie).
    sid = store.create({"user": "ada", "role": "customer", "cart": []})
    detail = f"id {short(sid)} ({len(sid)} chars, 256 random bits)"
    step("login creates a session", store.get(sid) is not None, detail)

    # Cart updates: read the session, change it, save it back.
    for sku, qty in (("lamp-oak", 1), ("mug-copper", 2), ("scarf-linen", 1)):
        session = store.get(sid)
        session["cart"].append({"sku": sku, "qty": qty})
        store.save(sid, session)
    cart = store.get(sid)["cart"]
    contents = ", ".join(f"{item['qty']} x {item['sku']}" for item in cart)
    step("cart updates go through the session", len(cart) == 3, contents)

    # A privilege change (here: signing in as an admin) moves the session to a new id.
    session = store.get(sid)
    session["role"] = "admin"
    store.save(sid, session)
    new_sid = store.rotate(sid)
    rotated = store.get(new_sid)["role"] == "admin"
    step("privilege change rotates the id", rotated, f"{short(sid)} -> {short(new_sid)}")
    step("the old id is rejected", store.get(sid) is None, "get() returns None")
    try:
        store.save(sid, {"user": "mallory"})
        step("saving under the old id is refused", False)
    except KeyError:
        step("saving under the old id is refused", True, "KeyError")

    # Ids the store never issued are never looked up or created (no session fixation).
    forged = secrets.token_urlsafe(32)
    step("a forged id is rejected", store.get(forged) is None and store.get("../admin") is None, short(forged))
    try:
        store.save(forged, {"user": "mallory", "role": "admin"})
        step("save() never creates a session for an unknown id", False)
    except KeyError:
        step("save() never creates a session for an unknown id", True, "KeyError")

    # Logout.
    step("logout destroys the session", store.destroy(new_sid) and store.get(new_sid) is None)

    # Idle expiry: a session nobody uses for idle_ttl is gone.
    print(f"\n  idle timeout: a session left alone for {idle * 1.2:g} s")
    sid = store.create({"user": "bob", "cart": []})
    time.sleep(idle * 1.2)
    step(f"idle for more than {idle:g} s: expired", store.get(sid) is None)

    # Absolute expiry: a session used every half idle period never idles out,
    # but still ends at its absolute deadline.
    every = idle / 2
    print(f"\n  absolute timeout: a session used every {every:g} s")
    sid = store.create({"user": "carol", "cart": []})
    start = time.monotonic()
    offset = every
    while offset < absolute:
        wait_until(start, offset)
        alive = store.get(sid) is not None
        older = " (older than the idle timeout)" if offset > idle else ""
        step(f"t = {offset:.2f} s", alive, ("alive" + older) if alive else "gone")
        last_use = offset
        offset += every
    check_at = absolute + idle / 4  # before the idle timeout would end it (last use + idle)
    wait_until(start, check_at)
    gone = store.get(sid) is None
    step(
        f"t = {check_at:.2f} s, past the {absolute:g} s absolute deadline",
        gone,
        f"gone (idle alone would keep it to {last_use + idle:g} s)" if gone else "still alive",
    )
    cache.close()
    print()
    return ok


# ---- Main --------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="libcache demo: cache-aside over SQLite, and sessions")
    parser.add_argument("--requests", type=int, help="reads to replay (default 200,000; --quick 20,000)")
    parser.add_argument("--products", type=int, help="products in the database (default 100,000; --quick 10,000)")
    parser.add_argument("--quick", action="store_true", help="small and fast, for smoke tests (< 10 s)")
    args = parser.parse_args()
    products = args.products if args.products is not None else 10_000 if args.quick else 100_000
    n_requests = args.requests if args.requests is not None else 20_000 if args.quick else 200_000
    if products < 100 or n_requests < 100:
        parser.error("--products and --requests must be at least 100")
    # About a sixth of the catalogue fits: the hot set stays, the tail is evicted.
    cache_bytes = max(1 << 20, (8 << 20) * products // 100_000)
    idle, absolute = (0.4, 0.8) if args.quick else (1.0, 2.0)

    started = time.perf_counter()
    print(f"libcache {libcache.__version__} (engine {libcache.ENGINE_VERSION}), embedded, no Redis\n")
    ok = cache_aside_demo(products, n_requests, cache_bytes)
    ok = session_demo(idle, absolute) and ok
    print(f"done in {time.perf_counter() - started:.1f} s{'' if ok else ' -- SOME CHECKS FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
