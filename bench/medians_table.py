#!/usr/bin/env python3
"""Prints a markdown table of the medians in cache_bench's JSON output.

Usage: medians_table.py build-bench/cache_bench.json

ns/op is 1e9 / items_per_second: at 2 threads that is aggregate wall time per
operation (both threads together), not the latency one thread sees.
"""
import json
import re
import sys

NAME = re.compile(r"^(BM_\w+)<(\w+)>/(\d+)(?:/.*)?/threads:(\d+)$")
WORKLOADS = {
    ("BM_Get_Hit", "32768"): "get-hit, 32k keys",
    ("BM_Get_Hit", "1048576"): "get-hit, 1M keys",
    ("BM_Get_Miss", "32768"): "get-miss, 32k resident",
    ("BM_Set_Evict", "1048576"): "set-evict, 1M keys, cap 100k",
}
ENGINES = ("Libcache", "MutexLru")
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(path):
    with open(path) as f:
        data = json.load(f)
    rows = {}  # (family, arg, threads) -> engine -> {"ns": , "cv": , "evict": }
    for b in data["benchmarks"]:
        if b.get("run_type") != "aggregate":
            continue
        m = NAME.match(b["run_name"])
        if not m:
            continue
        family, engine, arg, threads = m.groups()
        key = (family, arg, int(threads))
        cell = rows.setdefault(key, {}).setdefault(engine, {})
        agg = b["aggregate_name"]
        if b.get("error_occurred"):
            cell["error"] = b.get("error_message", "error")
        elif agg == "median":
            cell["ns"] = 1e9 / b["items_per_second"]
            # Thread CPU time over wall time: below 100% the threads were off the
            # CPU, blocked in a lock or descheduled by other load on the VM.
            cell["busy"] = b["cpu_time"] / (int(threads) * b["real_time"])
            if "evictions/op" in b:
                cell["evict"] = b["evictions/op"]
        elif agg == "min":
            # Real time per iteration of the fastest repetition (for items_per_second
            # this statistic would be the slowest).
            cell["best"] = b["real_time"] * UNIT_NS[b.get("time_unit", "ns")]
        elif agg == "cv":
            # The cv of items_per_second (the time cv is of per-iteration time).
            cell["cv"] = b.get("items_per_second", b.get("real_time"))
    return data, rows


def fmt_ns(cell):
    if "error" in cell:
        return "ERROR: " + cell["error"]
    if "ns" not in cell:
        return "-"
    s = "%.1f" % cell["ns"]
    extra = []
    if "best" in cell:
        extra.append("best %.1f" % cell["best"])
    if "cv" in cell:
        extra.append("cv %.0f%%" % (100 * cell["cv"]))
    return s + (" (%s)" % ", ".join(extra) if extra else "")


def main():
    data, rows = load(sys.argv[1] if len(sys.argv) > 1 else "build-bench/cache_bench.json")
    ctx = data.get("context", {})
    print("%s, %s CPUs, libcache %s (%s, sources %s), shards: %s; load average at start %s" % (
        ctx.get("host_name", "?"), ctx.get("num_cpus", "?"), ctx.get("libcache_version", "?"),
        ctx.get("libcache_allocator", "?"), ctx.get("libcache_source", "?"),
        ctx.get("libcache_shards", "?"),
        " ".join("%.2f" % x for x in ctx.get("load_avg", []))))
    print()
    print("| workload | threads | libcache ns/op | mutex-LRU ns/op | ratio (LRU/libcache) "
          "| evictions/op (libcache / LRU) | CPU busy (libcache / LRU) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    order = sorted(rows, key=lambda k: (list(WORKLOADS).index(k[:2]) if k[:2] in WORKLOADS
                                        else 99, k))
    for key in order:
        family, arg, threads = key
        lib = rows[key].get("Libcache", {})
        lru = rows[key].get("MutexLru", {})
        ratio = "%.2fx" % (lru["ns"] / lib["ns"]) if "ns" in lib and "ns" in lru else "-"
        evict = "-"
        if "evict" in lib or "evict" in lru:
            evict = "%.3f / %.3f" % (lib.get("evict", float("nan")), lru.get("evict", float("nan")))
        busy = " / ".join("%.0f%%" % (100 * c["busy"]) if "busy" in c else "-" for c in (lib, lru))
        name = WORKLOADS.get((family, arg), "%s/%s" % (family, arg))
        print("| %s | %d | %s | %s | %s | %s | %s |" % (name, threads, fmt_ns(lib), fmt_ns(lru),
                                                      ratio, evict, busy))
    print()
    print("Medians of the repetitions. ns/op = 1e9 / items_per_second, i.e. aggregate wall time "
          "per operation: at 2 threads, both threads' operations share the wall time. "
          "best = the fastest repetition; cv = coefficient of variation of "
          "items_per_second across repetitions. "
          "CPU busy = thread CPU time / (threads x wall time): below 100% the threads were "
          "off the CPU, either blocked in a lock (expected for the mutex-LRU at 2 threads) "
          "or descheduled by other load on the VM (then the row is suspect).")
    for family, arg in WORKLOADS:
        t1 = rows.get((family, arg, 1), {}).get("Libcache", {})
        t2 = rows.get((family, arg, 2), {}).get("Libcache", {})
        if "ns" in t1 and "ns" in t2:
            print("- libcache %s: 2-thread throughput = %.2fx 1-thread"
                  % (WORKLOADS[(family, arg)], t1["ns"] / t2["ns"]))


if __name__ == "__main__":
    main()
