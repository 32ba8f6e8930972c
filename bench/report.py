#!/usr/bin/env python3
"""Writes docs/benchmarks.md and its plots from what scripts/benchmarks.sh collected.

Usage: report.py --results build-bench/results --traces ../shared/traces --out docs
                 [--python build-bench/python_bench.json]

Reads, from --results: throughput.json (peer_bench, Google Benchmark JSON with
median/min/cv aggregates), memory.jsonl (one peer_memory object per engine and
repetition), traces.json (trace_replay) and run.json (the script's settings
and timings); the reference hit ratios come from the traces' README.md table.
Every number on the page is a median of the repetitions. Plots are PNGs drawn
with matplotlib's Agg backend; each names its workload and the machine.
"""
import argparse
import datetime
import glob
import json
import math
import os
import platform
import re
import statistics
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)

ENGINES = ["libcache", "rocksdb-hcc", "rocksdb-lru", "leveldb-lru", "mutex-lru"]
LABELS = {
    "libcache": "libcache",
    "rocksdb-hcc": "RocksDB HyperClockCache",
    "rocksdb-lru": "RocksDB LRUCache",
    "leveldb-lru": "LevelDB LRU cache",
    "mutex-lru": "mutex + map + list LRU",
}
SHORT = {
    "libcache": "libcache",
    "rocksdb-hcc": "RocksDB HCC",
    "rocksdb-lru": "RocksDB LRU",
    "leveldb-lru": "LevelDB",
    "mutex-lru": "mutex LRU",
}
COLORS = {
    "libcache": "#d62728",
    "rocksdb-hcc": "#1f77b4",
    "rocksdb-lru": "#6baed6",
    "leveldb-lru": "#2ca02c",
    "mutex-lru": "#7f7f7f",
}
DISTS = ["zipf0.99", "zipf0.8", "uniform"]
DIST_LABELS = {"zipf0.99": "Zipf 0.99", "zipf0.8": "Zipf 0.8", "uniform": "uniform"}
MIXES = [0, 5, 25, 100]
MIX_LABELS = {0: "100/0", 5: "95/5", 25: "75/25", 100: "0/100 evict"}
MIX_WORDS = {
    0: "reads only",
    5: "95% reads, 5% writes",
    25: "75% reads, 25% writes",
    100: "writes only, with eviction",
}
KEYS_LABELS = {32768: "32k keys", 1048576: "1M keys"}
NAME = re.compile(r"^Mix/(?P<engine>[\w-]+)/(?P<dist>[\w.]+)/keys:(?P<keys>\d+)/"
                  r"write:(?P<write>\d+)/value:(?P<value>\d+)/real_time/threads:(?P<threads>\d+)$")
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
TOLERANCE = 0.5  # hit-ratio points libcache may trail exact LRU


# ---- Loading -----------------------------------------------------------------

def load_throughput(path):
    """{(engine, dist, keys, write, value, threads): cell}, context."""
    with open(path) as f:
        data = json.load(f)
    cells = {}
    for b in data["benchmarks"]:
        m = NAME.match(b["run_name"])
        if not m:
            continue
        g = m.groupdict()
        key = (g["engine"], g["dist"], int(g["keys"]), int(g["write"]), int(g["value"]),
               int(g["threads"]))
        cell = cells.setdefault(key, {})
        if b.get("run_type") != "aggregate":
            # A repetition that stopped with an error leaves no aggregate: the
            # workload has no median, and the page says why.
            if b.get("error_occurred"):
                cell["error"] = b.get("error_message") or "error"
                cell["failed_runs"] = cell.get("failed_runs", 0) + 1
            cell["runs"] = cell.get("runs", 0) + 1
            continue
        agg = b["aggregate_name"]
        if b.get("error_occurred"):
            cell["error"] = b.get("error_message", "error")
        elif agg == "median":
            cell["mops"] = b["items_per_second"] / 1e6
            for counter in ("gets", "get_misses", "entries", "capacity_bytes"):
                if counter in b:
                    cell[counter] = b[counter]
        elif agg == "min":
            cell["best_ns"] = b["real_time"] * UNIT_NS[b.get("time_unit", "ns")]
        elif agg == "cv":
            cell["cv"] = b.get("items_per_second", 0.0)
    return cells, data.get("context", {})


def load_memory(path):
    """engine -> medians of peer_memory's numbers over the repetitions."""
    runs = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                runs.setdefault(r["engine"], []).append(r)
    out = {}
    for engine, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs)
               for k in ("rss_per_entry", "rss_overhead", "charged_per_entry", "charged_overhead",
                         "capacity_bytes")}
        med["reps"] = len(rs)
        med["entries"] = rs[0]["entries"]
        med["value_bytes"] = rs[0]["value_bytes"]
        med["key_bytes"] = rs[0]["key_bytes"]
        med["capacity_fitted"] = rs[0].get("capacity_fitted", False)
        if "accounting_gap" in rs[0]:
            med["accounting_gap"] = statistics.median(r["accounting_gap"] for r in rs)
            med["accounting_agrees_all"] = all(r["accounting_agrees"] for r in rs)
        out[engine] = med
    return out


def load_reference(readme):
    """(trace, capacity) -> {policy: percent} from the traces' README table."""
    ref = {}
    header = None
    with open(readme) as f:
        for line in f:
            cols = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
            if len(cols) > 3 and cols[0] == "trace" and cols[1] == "capacity":
                header = cols
                continue
            if header and len(cols) == len(header) and cols[1].isdigit():
                ref[(cols[0], int(cols[1]))] = {h: float(v) for h, v in zip(header[2:], cols[2:])}
    return ref


def machine(context, build_dir):
    """What the page and every figure say about where it ran."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    osname = platform.system()
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            mem_gib = int(f.readline().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    compiler = "?"
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_CXX_COMPILER:"):
                    cxx = line.split("=", 1)[1].strip()
                    out = subprocess.run([cxx, "--version"], capture_output=True, text=True)
                    compiler = out.stdout.splitlines()[0] if out.stdout else cxx
    except (OSError, IndexError):
        pass
    date = context.get("date", datetime.datetime.now().isoformat())[:10]
    ncpu = context.get("num_cpus", os.cpu_count())
    return {
        "cpu": cpu,
        "ncpu": ncpu,
        "os": osname,
        "kernel": platform.release(),
        "mem_gib": mem_gib,
        "compiler": compiler,
        "date": date,
        "caches": ", ".join("L%d%s %d KiB" % (c["level"], "d" if c["type"] == "Data" else
                                               "i" if c["type"] == "Instruction" else "",
                                               c["size"] // 1024)
                            for c in context.get("caches", [])
                            if c.get("type") != "Instruction"),
        "short": "%s, %s vCPU, %s; %s" % (cpu, ncpu, osname, date),
    }


# ---- Helpers -----------------------------------------------------------------

def mops(cells, engine, dist, keys, write, value, threads):
    return cells.get((engine, dist, keys, write, value, threads), {}).get("mops")


def fmt(x, digits=1):
    return "-" if x is None else ("%.*f" % (digits, x))


def present_engines(cells):
    found = {k[0] for k in cells}
    return [e for e in ENGINES if e in found]


def workloads(cells, value):
    """The (dist, keys, write) measured with this value size, in page order."""
    found = {(k[1], k[2], k[3]) for k in cells if k[4] == value}
    return [(d, n, w) for n in (32768, 1048576) for d in DISTS for w in MIXES if (d, n, w) in found]


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


# ---- Plots -------------------------------------------------------------------

def bar_group(ax, groups, engines, values, ylabel, top=None):
    """Grouped bars: groups on x, one bar per engine; values[g][e] in Mops/s.
    top: the y-axis maximum to plan for (the panels of a row share it)."""
    width = 0.8 / len(engines)
    top = top or max([v for g in values for v in g.values() if v] + [1])
    for i, e in enumerate(engines):
        xs = [j + (i - (len(engines) - 1) / 2) * width for j in range(len(groups))]
        ys = [values[j].get(e) or 0 for j in range(len(groups))]
        bars = ax.bar(xs, ys, width, color=COLORS[e], label=LABELS[e],
                      edgecolor="black" if e == "libcache" else "none", linewidth=0.6)
        for b, y in zip(bars, ys):
            if y:
                ax.text(b.get_x() + b.get_width() / 2, y + top * 0.01, "%.1f" % y if y < 10
                        else "%.0f" % y, ha="center", va="bottom", fontsize=6.5, rotation=90)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_ylim(0, top * 1.18)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def plot_throughput(cells, engines, threads, value, mach, path):
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for r, keys in enumerate((32768, 1048576)):
        row = {dist: [{e: mops(cells, e, dist, keys, w, value, threads) for e in engines}
                      for w in MIXES] for dist in DISTS}
        top = max([v for vals in row.values() for g in vals for v in g.values() if v] + [1])
        for c, dist in enumerate(DISTS):
            ax = axes[r][c]
            bar_group(ax, ["%s\n%s" % (MIX_LABELS[w].split()[0], "evicting" if w == 100 else
                                       "resident") for w in MIXES],
                      engines, row[dist], "Mops/s (aggregate)" if c == 0 else "", top)
            ax.set_title("%s, %s" % (KEYS_LABELS[keys], DIST_LABELS[dist]), fontsize=10)
            if not any(v for g in row[dist] for v in g.values()):
                ax.text(1.5, top * 0.5, "not measured in this run", ha="center", fontsize=10)
    axes[0][0].legend(fontsize=8, loc="upper right")
    fig.suptitle("Throughput, %d thread%s, read/write mix (reads/writes %%): 16-byte keys, "
                 "%d-byte values, same capacity in bytes; median of 5 repetitions\n%s"
                 % (threads, "s" if threads > 1 else "", value, mach["short"]), fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_large_values(cells, engines, value, mach, path):
    groups, vals = [], []
    for (dist, keys, write) in workloads(cells, value):
        for threads in (1, 2):
            groups.append("%s %s\n%s, %dT" % (KEYS_LABELS[keys].split()[0], MIX_LABELS[write],
                                               DIST_LABELS[dist], threads))
            vals.append({e: mops(cells, e, dist, keys, write, value, threads) for e in engines})
    if not groups:
        return False
    fig, ax = plt.subplots(figsize=(12, 5))
    bar_group(ax, groups, engines, vals, "Mops/s (aggregate)")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Throughput with %d-byte values: 16-byte keys, same capacity in bytes; "
                 "median of 5 repetitions\n%s" % (value, mach["short"]), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_memory(mem, mach, path):
    engines = [e for e in ENGINES if e in mem]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    ys = range(len(engines))[::-1]
    rss = [mem[e]["rss_overhead"] for e in engines]
    charged = [mem[e]["charged_overhead"] for e in engines]
    ax.barh(list(ys), rss, color=[COLORS[e] for e in engines], height=0.6,
            label="measured (RSS delta / entries - 116)")
    ax.scatter(charged, list(ys), marker="|", s=400, color="black", zorder=3,
               label="what the engine charges against its capacity")
    for y, v in zip(ys, rss):
        ax.text(v + 2, y, "%.0f B" % v, va="center", fontsize=9)
    ax.axvline(32, color="#d62728", linestyle="--", linewidth=1)
    ax.text(33, -0.65, "target: 32 B (shared/PERFORMANCE.md)", color="#d62728", fontsize=8)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([LABELS[e] for e in engines])
    ax.set_ylim(-0.8, len(engines) - 0.4)
    ax.set_xlabel("bytes per entry beyond key and value (lower is better)")
    ax.set_xlim(0, max(rss + charged) * 1.2)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    n = mem[engines[0]]["entries"]
    ax.set_title("Memory per entry at %s entries of 16-byte keys and %d-byte values; median of %d "
                 "runs\n%s" % ("{:,}".format(n), mem[engines[0]]["value_bytes"],
                               mem[engines[0]]["reps"], mach["short"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_hit_ratio(rows, mach, path):
    labels = ["%s\n%d" % (r["trace"], r["capacity"]) for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 7.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    series = [("lru_sim", "exact LRU (simulator)", "#7f7f7f"),
              ("libcache_1shard", "libcache, 1 shard", "#d62728"),
              ("libcache_default", "libcache, default shards", "#ff9896")]
    width = 0.8 / len(series)
    for i, (k, label, color) in enumerate(series):
        xs = [j + (i - 1) * width for j in range(len(rows))]
        ys = [r[k] for r in rows]
        top.bar(xs, ys, width, label=label, color=color)
        for x, y in zip(xs, ys):
            top.text(x, y + 1, "%.1f" % y, ha="center", va="bottom", fontsize=6.5, rotation=90)
    top.set_ylabel("hit ratio (%)")
    top.set_ylim(0, max(r["lru_sim"] for r in rows) * 1.15 + 5)
    top.legend(fontsize=8, loc="upper left")
    top.grid(axis="y", alpha=0.3)
    top.set_axisbelow(True)
    for i, (k, label, color) in enumerate(series[1:]):
        xs = [j + (i - 0.5) * 0.35 for j in range(len(rows))]
        bottom.bar(xs, [r[k] - r["lru_sim"] for r in rows], 0.35, label=label, color=color)
    bottom.axhline(-TOLERANCE, color="black", linestyle="--", linewidth=1)
    bottom.axhline(0, color="black", linewidth=0.6)
    bottom.text(len(rows) - 0.5, -TOLERANCE - 0.08, "pass line: LRU - %.1f points" % TOLERANCE,
                ha="right", va="top", fontsize=8)
    bottom.set_ylabel("libcache - LRU (points)")
    bottom.set_xticks(range(len(rows)))
    bottom.set_xticklabels(labels, fontsize=9)
    bottom.grid(axis="y", alpha=0.3)
    bottom.set_axisbelow(True)
    lo = min([r["libcache_1shard"] - r["lru_sim"] for r in rows] +
             [r["libcache_default"] - r["lru_sim"] for r in rows] + [-TOLERANCE])
    hi = max([r["libcache_1shard"] - r["lru_sim"] for r in rows] + [TOLERANCE])
    bottom.set_ylim(lo - 0.4, hi + 0.3)
    fig.suptitle("Hit ratio on the shared traces (trace / capacity in entries), replayed "
                 "single-threaded through the C ABI\n%s" % mach["short"], fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---- The page ----------------------------------------------------------------

def throughput_table(cells, engines, threads, value):
    peers = [e for e in engines if e != "libcache"]
    lines = ["| working set | distribution | mix (reads/writes) | " +
             " | ".join(SHORT[e] for e in engines) + " | libcache / fastest peer |",
             "|---|---|---|" + "---:|" * (len(engines) + 1)]
    for (dist, keys, write) in workloads(cells, value):
        row = [mops(cells, e, dist, keys, write, value, threads) for e in engines]
        lib = row[0]
        best_peer = max((mops(cells, e, dist, keys, write, value, threads) or 0) for e in peers) \
            if peers else 0
        shown = []
        for e, v in zip(engines, row):
            cell = cells.get((e, dist, keys, write, value, threads), {})
            if "error" in cell:
                shown.append("failed (below)")
            else:
                s = fmt(v, 1 if v is not None and v < 100 else 0)
                shown.append("**%s**" % s if e == "libcache" else s)
        ratio = "%.2fx" % (lib / best_peer) if lib and best_peer else "-"
        lines.append("| %s | %s | %s | %s | %s |" % (KEYS_LABELS[keys], DIST_LABELS[dist],
                                                    MIX_LABELS[write], " | ".join(shown), ratio))
    return lines


def losses(cells, engines):
    """Every (workload, threads, peer) where the peer's median beats libcache's."""
    out = []
    for key, cell in sorted(cells.items()):
        engine, dist, keys, write, value, threads = key
        if engine == "libcache" or "mops" not in cell:
            continue
        lib = mops(cells, "libcache", dist, keys, write, value, threads)
        if lib and cell["mops"] > lib:
            out.append((key, lib, cell["mops"]))
    return out


def summary_lines(cells, engines, mem, traces):
    lines = []
    peers = [e for e in engines if e != "libcache"]
    for threads in (1, 2):
        parts = []
        for p in peers:
            ratios = [mops(cells, "libcache", d, n, w, v, threads) /
                      mops(cells, p, d, n, w, v, threads)
                      for (e, d, n, w, v, t) in cells
                      if e == p and t == threads and mops(cells, p, d, n, w, v, threads)
                      and mops(cells, "libcache", d, n, w, v, threads)]
            g = geomean(ratios)
            if g:
                wins = sum(1 for r in ratios if r > 1)
                parts.append("%.2fx %s (faster in %d of %d workloads)" % (g, SHORT[p], wins,
                                                                          len(ratios)))
        if parts:
            lines.append("- **%d thread%s**, libcache's throughput over each peer's (geometric "
                         "mean over all workloads): %s." % (threads, "s" if threads > 1 else "",
                                                            "; ".join(parts)))
    if mem and "libcache" in mem:
        others = ", ".join("%s %.0f" % (SHORT[e], mem[e]["rss_overhead"])
                           for e in ENGINES if e in mem and e != "libcache")
        lines.append("- **Memory** beyond key and value at %s entries: libcache %.0f bytes per "
                     "entry; %s." % ("{:,}".format(mem["libcache"]["entries"]),
                                     mem["libcache"]["rss_overhead"], others))
    if traces:
        rows = traces["rows"]
        margin = {(r["trace"], r["capacity"]):
                  min(r["libcache_1shard"], r["libcache_default"]) - r["lru_sim"] for r in rows}
        low = min(margin, key=margin.get)
        lines.append("- **Hit ratio**: libcache (CLOCK) is within %.1f points of exact LRU or "
                     "better on %d of %d trace rows, with one shard and with the default shards; "
                     "its lowest margin is %+.2f points (%s at %d entries), its highest %+.2f." %
                     (TOLERANCE, sum(1 for r in rows if r["pass"]), len(rows), margin[low],
                      low[0], low[1], max(margin.values())))
    return lines


def headline_table(cells, engines):
    """A few representative workloads, ns/op and Mops/s, 1 and 2 threads."""
    picks = [("zipf0.99", 32768, 0), ("zipf0.99", 1048576, 0), ("zipf0.99", 1048576, 5),
             ("uniform", 1048576, 25), ("zipf0.99", 1048576, 100)]
    lines = ["| workload (16-byte keys, 100-byte values) | threads | " +
             " | ".join(SHORT[e] for e in engines) + " |",
             "|---|---:|" + "---:|" * len(engines)]
    for d, n, w in picks:
        for t in (1, 2):
            vals = [mops(cells, e, d, n, w, 100, t) for e in engines]
            if vals[0] is None:
                continue
            shown = ["%s Mops/s (%s ns)" % (fmt(v), fmt(1e3 / v)) if v else "-" for v in vals]
            shown[0] = "**%s**" % shown[0]
            lines.append("| %s, %s, %s | %d | %s |" % (DIST_LABELS[d], KEYS_LABELS[n],
                                                       MIX_WORDS[w], t, " | ".join(shown)))
    return lines


def near_cache_section(results, run):
    """The "Near caches and sessions" section, from the two Python benchmarks' JSON."""
    inv_path = os.path.join(results, "invalidation_delay.json")
    nc_path = os.path.join(results, "near_cache.json")
    errors = run.get("near_cache_errors") or []
    if not (os.path.exists(inv_path) or os.path.exists(nc_path) or errors):
        return []
    L = ["", "## Near caches and sessions", ""]
    add = L.append
    for e in errors:
        add("**Not measured in this run**: %s" % e)
        add("")
    if os.path.exists(inv_path):
        with open(inv_path) as f:
            inv = json.load(f)
        add("### Invalidation delay")
        add("")
        add("`bench/invalidation_delay.py` (command: `.venv/bin/python bench/invalidation_delay.py`, run by "
            "`scripts/benchmarks.sh`): from a write's acknowledgement by Redis (the writer's "
            "`SET` or `set_sync` returned) until another process's near cache (a `Cache` with "
            "`attach_redis(prefix, coherence=True)`, the key resident locally, polled with "
            "`cache.get` in a tight loop) stops returning the old value; each sample a fresh key, "
            "timestamps on CLOCK_MONOTONIC in both processes. The loaded runs add a load generator "
            "writing pipelined SETs under the same prefix (each one an invalidation the reader must "
            "process); its achieved rate is shown. libcache %s, redis-py %s, CPython %s; %d runs of %d "
            "samples per case, alternating; medians over runs of each run's p50 and p99; the maximum "
            "over all samples. Load average at the start: %s." %
            (inv["libcache"], inv["redis_py"], inv["python"], inv["runs"], inv["samples"],
             " ".join(inv.get("load_avg", ["?"]))))
        add("")
        if not inv.get("coherence"):
            add("**This libcache has no near-cache coherence**: the old value was never dropped "
                "(every sample \"not seen\" within %g s)." % inv["poll_limit_s"])
            add("")
        add("| writer | background writes/s: target (achieved) | from the ack: p50 | p99 | max | "
            "from the write's start: p50 | p99 | samples | not seen within %g s |" % inv["poll_limit_s"])
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in inv["rows"]:
            load = ("%s (%s)" % ("{:,.0f}".format(r["load_target"]), "{:,.0f}".format(r["load_achieved"]))
                    if r["load_target"] else "0")
            add("| %s | %s | %s µs | %s µs | %s µs | %s µs | %s µs | %s | %d |" %
                (r["writer"], load, fmt(r["p50_us"]), fmt(r["p99_us"]), fmt(r["max_us"]),
                 fmt(r.get("p50_start_us")), fmt(r.get("p99_start_us")),
                 "{:,}".format(r["samples"]), r["not_seen"]))
        add("")
        add("A delay below zero means the reader had dropped its copy before the writer's call "
            "returned: Redis sends the invalidation before the reply to the writer, and the writer "
            "still has to read that reply (for `set_sync`, its flusher thread reads it and wakes "
            "the caller). \"From the write's start\" is timed from just before the writer's call: "
            "an upper bound that includes the writer's own round trip.")
        add("")
        add("The writer, the reader, the load generator and redis-server share the machine's %d "
            "cores: a delay includes waiting for a core (the reader's invalidation thread is woken "
            "by the message, and the loaded runs keep both cores busy), so on a machine with cores "
            "to spare the loaded figures, and the tails, would be lower." % inv["cores"])
        add("")
    if os.path.exists(nc_path):
        with open(nc_path) as f:
            nc = json.load(f)
        ns = nc["ns_per_op"]
        add("### A near-cache hit against a round trip")
        add("")
        add("`bench/near_cache_bench.py` (command: `.venv/bin/python bench/near_cache_bench.py`, run "
            "by `scripts/benchmarks.sh`), same Redis, same run: a local hit through Python "
            "(`cache.get` of a resident key, with Redis attached and coherence on) against redis-py's "
            "`GET` of the same key; `SessionStore.get` of a locally resident session against what a "
            "Redis session backend does per request (`GET`, then `json.loads`; the same %d-byte "
            "session). libcache %s, redis-py %s, CPython %s; %d repetitions in shuffled order, "
            "medians. Load average at the start: %s." %
            (nc["session_bytes"], nc["libcache"], nc["redis_py"], nc["python"], nc["reps"],
             " ".join(nc.get("load_avg", ["?"]))))
        add("")
        add("| case | ns/op (median) | ops/s |")
        add("|---|---:|---:|")
        for name, v in ns.items():
            add("| %s | %s | %s |" % (name, fmt(v), "{:,.0f}".format(1e9 / v)))
        add("")
        for name, x in nc["ratios"].items():
            add("- %s: **%.0fx**" % (name, x))
        if not nc.get("local_only", True):
            add("- Some near-cache reads read through to Redis (a key was not resident): the "
                "near-cache figures are not pure local hits.")
    while L and L[-1] == "":
        L.pop()
    return L


def write_page(args, cells, ctx, mem, traces, ref, python, run, mach, out):
    engines = present_engines(cells)
    peers = [e for e in engines if e != "libcache"]
    img = os.path.join(out, "img")
    os.makedirs(img, exist_ok=True)
    L = []
    add = L.append
    add("# libcache next to its peers: throughput, memory per entry, hit ratio")
    add("")
    add("Generated by `scripts/benchmarks.sh`%s on %s from libcache sources `%s`. "
        "Do not edit by hand: rerun the command." % (" --quick" if run.get("quick") else "",
                                                     mach["date"], run.get("source", "?")))
    if run.get("quick"):
        add("")
        add("> **Quick mode**: short runs, Zipf 0.99 only, one memory run per engine. For "
            "development, not for quoting.")
    add("")
    add("**Machine**: %s, %s vCPU (%s), %s GiB RAM, %s, kernel %s, %s. Load average when the run "
        "began: %s. The machine is a shared VM: compare engines within this page (same run, "
        "repetitions randomly interleaved), not with numbers from other machines." %
        (mach["cpu"], mach["ncpu"], mach["caches"] or "caches unknown",
         "%.0f" % mach["mem_gib"] if mach["mem_gib"] else "?", mach["os"], mach["kernel"],
         mach["compiler"], run.get("load_at_start", "?")))
    add("")
    add("**Engines**: libcache %s (%s, through the C ABI of the shared library); %s." %
        (ctx.get("libcache_version", "?"), ctx.get("libcache_allocator", "?"),
         ctx.get("peers", "?").rstrip("; ")))
    secs = run.get("seconds", {})
    if secs:
        add("")
        add("The command took %.1f minutes before writing this page (throughput %d s, memory "
            "%d s, near caches %d s, traces %d s, Python %d s; the build is extra)." %
            (secs.get("total_before_report", 0) / 60, secs.get("throughput", 0),
             secs.get("memory", 0), secs.get("near_cache", 0), secs.get("traces", 0),
             secs.get("python", 0)))
    add("")
    add("## Summary")
    add("")
    L.extend(summary_lines(cells, engines, mem, traces))
    add("")
    L.extend(headline_table(cells, engines))
    add("")
    add("Mops/s is aggregate throughput (both threads together at 2 threads); ns is its inverse, "
        "wall time per operation. Every figure is the median of 5 repetitions.")

    # -- Where libcache loses
    lost = losses(cells, engines)
    add("")
    add("## Where libcache is slower or uses more memory")
    add("")
    if not lost:
        add("libcache's median throughput is the highest of all engines on every workload "
            "measured here.")
    else:
        add("On these workloads a peer's median throughput beat libcache's (%d of %d "
            "engine-workload pairs):" % (len(lost), sum(1 for k in cells
                                                       if k[0] != "libcache" and "mops" in
                                                       cells[k])))
        add("")
        add("| workload | threads | libcache Mops/s | peer | peer Mops/s | libcache / peer | "
            "cv libcache / peer |")
        add("|---|---:|---:|---|---:|---:|---:|")
        for (key, lib, peer) in lost:
            engine, dist, keys, write, value, threads = key
            cvl = cells.get(("libcache",) + key[1:], {}).get("cv")
            cvp = cells[key].get("cv")
            add("| %s, %s, %s, %d-byte values | %d | %.2f | %s | %.2f | %.2fx | %s / %s |" %
                (KEYS_LABELS[keys], DIST_LABELS[dist], MIX_WORDS[write], value, threads, lib,
                 LABELS[engine], peer, lib / peer,
                 "%.0f%%" % (100 * cvl) if cvl is not None else "-",
                 "%.0f%%" % (100 * cvp) if cvp is not None else "-"))
        add("")
        add("cv is the coefficient of variation of the 5 repetitions; where the gap is smaller "
            "than the cv, the two are within this VM's noise.")
    if mem and "libcache" in mem:
        more = [e for e in ENGINES if e in mem and e != "libcache"
                and mem[e]["rss_overhead"] < mem["libcache"]["rss_overhead"]]
        add("")
        if more:
            add("Memory: %s use%s fewer bytes per entry than libcache (table below)." %
                (", ".join(LABELS[e] for e in more), "s" if len(more) == 1 else ""))
        else:
            add("Memory: no peer uses fewer bytes per entry than libcache, but libcache's "
                "%.0f bytes of overhead per entry are above the 32-byte target of "
                "`shared/PERFORMANCE.md` (why: see the memory section)." %
                mem["libcache"]["rss_overhead"])
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "benchmarks_notes.md")
    if os.path.exists(notes):
        add("")
        with open(notes) as f:
            L.extend(f.read().rstrip("\n").split("\n"))

    # -- Throughput
    add("")
    add("## Throughput")
    add("")
    add("`bench/peer_bench.cc` (Google Benchmark, `--benchmark_min_time=%s`, 5 repetitions "
        "randomly interleaved across all benchmarks, medians). Each engine is used as its "
        "documentation recommends and does the same work: a get copies the value out "
        "(Lookup + copy + Release for the handle-based peers), a set stores a copy." %
        run.get("min_time", "?"))
    add("")
    add("- **Workloads**: 16-byte keys; working sets of 32k and 1M keys; Zipf 0.99, Zipf 0.8 "
        "and uniform key streams precomputed over a key array; read/write mixes 100/0, 95/5, "
        "75/25 over resident keys (every key loaded and checked before timing; writes replace "
        "values) and 0/100 with eviction (capacity for about 10% of the keys); 1 and 2 "
        "threads on one shared cache; 100-byte values, and a subset with 1 KiB values.")
    add("- **Same capacity in bytes for every engine** (%s). libcache charges what it really "
        "holds (entry allocation with header and allocator rounding, table and ring slots); "
        "RocksDB is charged the value block (8 + value bytes) and adds its own metadata "
        "(`kFullChargeCacheMetadata`, the default: the LRU handle with its key, or "
        "HyperClockCache's whole table of 64-byte slots, charged when the cache opens); "
        "LevelDB charges nothing of its own, so it is charged value block + key + 88 bytes "
        "for its handle; the baseline is charged key + value + 232 bytes (its measured "
        "overhead). The evicting workloads report how many entries each engine keeps in "
        "those bytes (below)." % ctx.get("capacity", "?"))
    add("- **Configurations**: libcache `max_bytes` only, shards automatic (%s); RocksDB "
        "`HyperClockCacheOptions(capacity, estimated_entry_charge = 8 + value bytes)."
        "MakeSharedCache()` and `NewLRUCache(capacity)`, default shard bits; LevelDB "
        "`NewLRUCache(capacity)` (16 shards). HyperClockCache keeps the existing entry when a "
        "key is inserted again (block-cache semantics), so its set is Erase + Insert; the "
        "other engines replace in one call." % ctx.get("libcache_shards", "?"))
    add("- **One process, aged state**: every workload of every engine runs in one process, in "
        "random order, on caches built once and kept. By the time a workload runs, earlier "
        "runs (2-thread runs on threads that then exit) have replaced entries and spread them "
        "over the heap, as in a long-running program; the figures are therefore lower than "
        "the same workload alone in a fresh process (`bench/run_bench.sh`, the README's "
        "table), for every engine, and for libcache's writes more than most (cause 2 above).")
    for value in sorted({k[4] for k in cells}):
        for threads in (1, 2):
            if not workloads(cells, value):
                continue
            if value == 100:
                name = "throughput_%dt.png" % threads
                plot_throughput(cells, engines, threads, value, mach, os.path.join(img, name))
                add("")
                add("### %d thread%s, 100-byte values" % (threads, "s" if threads > 1 else ""))
                add("")
                add("![Throughput at %d thread(s), 100-byte values](img/%s)" % (threads, name))
                add("")
                add("Mops/s, median of 5 (higher is better):")
                add("")
                L.extend(throughput_table(cells, engines, threads, value))
        if value != 100 and workloads(cells, value):
            name = "throughput_%db.png" % value
            plot_large_values(cells, engines, value, mach, os.path.join(img, name))
            add("")
            add("### %d-byte values" % value)
            add("")
            add("![Throughput with %d-byte values](img/%s)" % (value, name))
            for threads in (1, 2):
                add("")
                add("%d thread%s, Mops/s, median of 5:" % (threads, "s" if threads > 1 else ""))
                add("")
                L.extend(throughput_table(cells, engines, threads, value))

    # entries held and misses
    evict = sorted({k[1:] for k in cells if k[3] == 100 and k[5] == 1})
    if evict:
        add("")
        add("### Entries held by the evicting workloads (same bytes for every engine)")
        add("")
        add("| workload | capacity | " + " | ".join(SHORT[e] for e in engines) + " |")
        add("|---|---:|" + "---:|" * len(engines))
        for (dist, keys, write, value, threads) in evict:
            vals = [cells.get((e, dist, keys, write, value, threads), {}).get("entries")
                    for e in engines]
            cap_bytes = cells.get(("libcache", dist, keys, write, value, threads), {}).get(
                "capacity_bytes", 0)
            add("| %s, %s, %d-byte values | %.1f MiB | %s |" %
                (KEYS_LABELS[keys], DIST_LABELS[dist], value, cap_bytes / 2**20,
                 " | ".join("%s (%.1f%%)" % ("{:,}".format(int(v)), 100.0 * v / keys)
                            if v is not None else "-" for v in vals)))
    missed = [(k, c) for k, c in sorted(cells.items()) if c.get("get_misses")]
    if missed:
        add("")
        add("Gets that missed a resident key (writes of the same key in flight):")
        add("")
        for (k, c) in missed:
            add("- %s, %s, %s, %s, %d-byte values, %d threads: %s of %s gets (%.2g%%)" %
                (LABELS[k[0]], KEYS_LABELS[k[2]], DIST_LABELS[k[1]], MIX_WORDS[k[3]], k[4], k[5],
                 "{:,}".format(int(c["get_misses"])), "{:,}".format(int(c["gets"])),
                 100.0 * c["get_misses"] / c["gets"]))
        add("")
        add("HyperClockCache's set is Erase + Insert, so another thread's get can fall between "
            "the two; the other engines replace an entry atomically.")
    failed = [(k, c) for k, c in sorted(cells.items()) if "error" in c]
    if failed:
        add("")
        add("Workloads with no figure (a repetition that stops with an error has no median; "
            "peer_bench marks a run failed when over 1% of its gets of resident keys missed, since a "
            "miss does less work than a hit and would flatter the engine):")
        add("")
        for (k, c) in failed:
            add("- %s, %s, %s, %s, %d-byte values, %d threads: %s of %s repetitions failed: %s" %
                (LABELS[k[0]], KEYS_LABELS[k[2]], DIST_LABELS[k[1]], MIX_WORDS[k[3]], k[4], k[5],
                 c.get("failed_runs", "?"), c.get("runs", "?"), c["error"]))

    # -- Memory
    add("")
    add("## Memory per entry")
    add("")
    if mem:
        plot_memory(mem, mach, os.path.join(img, "memory.png"))
        n = next(iter(mem.values()))["entries"]
        add("`bench/peer_memory.cc`: one process per engine and run; resident set size "
            "(`/proc/self/statm`) before the cache opens and after %s entries of 16-byte keys "
            "and 100-byte values are loaded and checked resident; the difference per entry "
            "minus the 116 bytes of key and value is the overhead. It counts everything the "
            "engine allocated for the entries: headers, allocator rounding, tables, the peers' "
            "value blocks. Median of %d runs." % ("{:,}".format(n),
                                                 next(iter(mem.values()))["reps"]))
        add("")
        add("![Memory per entry](img/memory.png)")
        add("")
        add("| engine | RSS per entry | overhead beyond key + value (RSS) | charged per entry by "
            "the engine | overhead charged | capacity given |")
        add("|---|---:|---:|---:|---:|---:|")
        for e in ENGINES:
            if e not in mem:
                continue
            m = mem[e]
            add("| %s | %.1f B | **%.1f B** | %.1f B | %.1f B | %.0f MiB%s |" %
                (LABELS[e], m["rss_per_entry"], m["rss_overhead"], m["charged_per_entry"],
                 m["charged_overhead"], m["capacity_bytes"] / 2**20,
                 " (fitted)" if m["capacity_fitted"] else ""))
        add("")
        if "libcache" in mem and "accounting_gap" in mem["libcache"]:
            m = mem["libcache"]
            ok = abs(m["accounting_gap"]) <= 0.10 and m["accounting_agrees_all"]
            add("- libcache's own accounting (`cache_stats().bytes`, what `max_bytes` bounds) "
                "against RSS: %+.1f%% (median); within 10%% in every run: **%s**." %
                (100 * m["accounting_gap"], "yes" if ok else "NO"))
        add("- \"Charged\" is what each engine counts against its capacity: libcache and "
            "RocksDB count their own metadata; for LevelDB and the baseline it is the charge "
            "this benchmark passes (see Throughput).")
        add("- HyperClockCache allocates its whole table when it opens, sized from the "
            "capacity, so its memory depends on the capacity given rather than on the entries: "
            "it is measured at the smallest capacity (in 2% steps) that holds all entries "
            "(\"fitted\"); the other engines' memory does not depend on the capacity.")
    else:
        add("No memory results (peer_memory did not run).")

    # -- RSS when value sizes shift (bench/rss_shift.cc)
    rss_tables = sorted(glob.glob(os.path.join(args.results, "rss_shift_*.md")))
    if rss_tables:
        add("")
        add("## RSS when value sizes shift")
        add("")
        add("`bench/rss_shift.cc` (command: `build-bench/bench/rss_shift --threads N`): a 64 MiB "
            "cache through the C ABI, four phases of 40 B, 2 KB, 30 KB and 100 B values under "
            "new keys, get-then-set-on-miss over Zipf 0.99 keys, each phase setting 4x "
            "max_bytes; threads stay alive (idle) through clear and close. RSS delta is RSS "
            "minus the RSS before cache_open; ratio is RSS delta / max_bytes; peak ratio is the "
            "highest RSS sampled during the phase.")
        for path in rss_tables:
            add("")
            with open(path) as f:
                for line in f.read().splitlines():
                    add(line[2:] if line.startswith("# ") else line)
        notes_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "rss_shift_notes.md")
        if os.path.exists(notes_path):
            add("")
            with open(notes_path) as f:
                L.extend(f.read().rstrip("\n").splitlines())

    # -- Write-behind to Redis (bench/redis_bench.sh)
    redis_path = os.path.join(args.results, "redis_bench.md")
    if os.path.exists(redis_path):
        add("")
        add("## Write-behind to Redis")
        add("")
        add("`bench/redis_bench.sh` (command: `bench/redis_bench.sh [N] [REPS]`, run by "
            "`scripts/benchmarks.sh`) starts a redis-server on a free loopback port and runs, "
            "alternately, `redis-benchmark -P 64 -t set -d 100 -n N -q` and `redis_bench "
            "throughput` (one thread writes N distinct 16-byte keys with 100-byte values into a "
            "cache linked to that Redis with the default link options, then `cache_redis_flush`; "
            "rate = N / time until flushed), then `redis_bench added` (store_bench's set "
            "workload into a cache without a link and one linked to the Redis, timed "
            "alternately) and `store_bench` (the same with a no-op store).")
        add("")
        with open(redis_path) as f:
            L.extend(f.read().rstrip("\n").splitlines())
        notes_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "redis_bench_notes.md")
        if os.path.exists(notes_path):
            add("")
            with open(notes_path) as f:
                L.extend(f.read().rstrip("\n").splitlines())

    # -- Near caches and sessions (bench/invalidation_delay.py, bench/near_cache_bench.py)
    L.extend(near_cache_section(args.results, run))

    # -- Hit ratio
    add("")
    add("## Hit ratio on the shared traces")
    add("")
    if traces:
        plot_hit_ratio(traces["rows"], mach, os.path.join(img, "hit_ratio.png"))
        shards = sorted({r["default_shards"] for r in traces["rows"]})
        add("`bench/trace_replay.cc` replays every trace of `shared/traces/` single-threaded: a "
            "get, and a set on a miss; capacity in entries (`max_entries`, no byte bound). "
            "libcache runs through the C ABI with one shard (the CLOCK policy alone) and with "
            "the default shard count (here %s: automatic sharding keeps at least 1024 entries "
            "per shard, so these small capacities get one shard), next to an exact LRU "
            "simulator in the same program. The reference columns are the traces' README "
            "(libCacheSim). Verdict: PASS when libcache with one shard and with the default "
            "shards is within %.1f points of the simulated LRU or better." %
            (" and ".join(str(s) for s in shards), TOLERANCE))
        add("")
        add("![Hit ratio](img/hit_ratio.png)")
        add("")
        add("| trace | capacity | requests | LRU (simulator) | LRU (reference) | CLOCK "
            "(reference) | libcache, 1 shard | libcache, default | libcache - LRU | verdict | "
            "libcache, %d shards (forced) |" % traces.get("forced_shards", 8))
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for r in traces["rows"]:
            rr = ref.get((r["trace"], r["capacity"]), {})
            worst = min(r["libcache_1shard"], r["libcache_default"]) - r["lru_sim"]
            add("| %s | %d | %s | %.2f | %s | %s | %.2f | %.2f | %+.2f | %s | %.2f |" %
                (r["trace"], r["capacity"], "{:,}".format(r["requests"]), r["lru_sim"],
                 fmt(rr.get("LRU")), fmt(rr.get("CLOCK")), r["libcache_1shard"],
                 r["libcache_default"], worst, "PASS" if r["pass"] else "**FAIL**",
                 r["libcache_forced"]))
        add("")
        add("The forced-shard column is for information, not a default: it shows what "
            "splitting a small capacity into independent shards does (each shard evicts on its "
            "own, so the policy is no longer global), which is why automatic sharding keeps "
            "shards large. Frequency-aware policies (S3-FIFO, W-TinyLFU, LIRS, ARC) beat both "
            "LRU and CLOCK by 5 to 50 points on several of these traces (see the traces' "
            "README); libcache does not implement one.")
    else:
        add("Not run: no traces found (set `LIBCACHE_TRACES` to the folder).")

    # -- Python
    add("")
    add("## Python")
    add("")
    if python:
        add("`bench/python_bench.py` (%s; %s). Median ns per operation:" %
            (python.get("python", "?"), python.get("machine", "?")))
        add("")
        engines_py = []
        ops = []
        table = {}
        for r in python.get("rows", []):
            if r["engine"] not in engines_py:
                engines_py.append(r["engine"])
            if r["op"] not in ops:
                ops.append(r["op"])
            table[(r["engine"], r["op"])] = r["ns"]
        add("| engine | " + " | ".join(ops) + " |")
        add("|---|" + "---:|" * len(ops))
        for e in engines_py:
            add("| %s | %s |" % (e, " | ".join(fmt(table.get((e, o))) for o in ops)))
        if python.get("notes"):
            add("")
        for note in python.get("notes", []):
            add("- " + note)
    elif run.get("python_error"):
        add("**Not measured in this run**: `bench/python_bench.py` failed (`%s`). The other "
            "sections are complete; rerun after `scripts/setup.sh` has installed the Python "
            "package into `.venv`." % run["python_error"])
    else:
        add("Pending: the Python package's benchmark (`bench/python_bench.py`) does not exist "
            "yet; this section fills in when it does.")
    add("")
    with open(os.path.join(out, "benchmarks.md"), "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", required=True)
    ap.add_argument("--traces", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--python")
    args = ap.parse_args()
    cells, ctx = load_throughput(os.path.join(args.results, "throughput.json"))
    mem_path = os.path.join(args.results, "memory.jsonl")
    mem = load_memory(mem_path) if os.path.exists(mem_path) else {}
    traces_path = os.path.join(args.results, "traces.json")
    traces = None
    if os.path.exists(traces_path):
        with open(traces_path) as f:
            traces = json.load(f)
    readme = os.path.join(args.traces, "README.md")
    ref = load_reference(readme) if os.path.exists(readme) else {}
    python = None
    if args.python and os.path.exists(args.python):
        with open(args.python) as f:
            python = json.load(f)
    with open(os.path.join(args.results, "run.json")) as f:
        run = json.load(f)
    mach = machine(ctx, os.path.dirname(os.path.abspath(args.results)))
    os.makedirs(args.out, exist_ok=True)
    write_page(args, cells, ctx, mem, traces, ref, python, run, mach, args.out)


if __name__ == "__main__":
    main()
