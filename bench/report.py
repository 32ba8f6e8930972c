#!/usr/bin/env python3
"""Writes docs/benchmarks.md and its plots from what scripts/benchmarks.sh collected.

Usage: report.py --results build-bench/results --traces ../shared/traces --out docs
                 [--python build-bench/python_bench.json]

Reads, from --results: throughput.json (peer_bench, Google Benchmark JSON with
median/min/cv aggregates), memory.jsonl (one peer_memory object per engine and
repetition), traces.json (trace_replay), policy_ab.json (bench/policy_ab.sh,
optional) and run.json (the script's settings and timings); the reference hit
ratios come from the traces' README.md table. traces.json from before the
adaptive policy (no adaptive_* fields) gets the CLOCK-only table and plot.
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
# peer_memory also measures libcache with the adaptive policy (not a peer).
MEM_ENGINES = ["libcache", "libcache-adaptive"] + ENGINES[1:]
LABELS = {
    "libcache": "libcache",
    "libcache-adaptive": "libcache (adaptive)",
    "rocksdb-hcc": "RocksDB HyperClockCache",
    "rocksdb-lru": "RocksDB LRUCache",
    "leveldb-lru": "LevelDB LRU cache",
    "mutex-lru": "mutex + map + list LRU",
}
SHORT = {
    "libcache": "libcache",
    "libcache-adaptive": "libcache adaptive",
    "rocksdb-hcc": "RocksDB HCC",
    "rocksdb-lru": "RocksDB LRU",
    "leveldb-lru": "LevelDB",
    "mutex-lru": "mutex LRU",
}
COLORS = {
    "libcache": "#d62728",
    "libcache-adaptive": "#ff9896",
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
TOLERANCE = 0.5  # hit-ratio points libcache (CLOCK) may trail exact LRU
# The adaptive policy's targets (bench/trace_replay.cc, shared/PERFORMANCE.md):
# points it may trail the best reference policy and exact LRU, with one shard
# and with the default shards.
ADAPTIVE_BEST, ADAPTIVE_LRU = 2.0, 1.0
ADAPTIVE_BEST_SHARDED, ADAPTIVE_LRU_SHARDED = 3.0, 2.0
FAR_FROM_BEST = 1.0  # rows the text lists: adaptive this far from the best reference
# bench/policy_ab.sh: get-hit no slower than before (a ratio of at least
# 1 - AB_NOISE counts), set with eviction at most 10% slower with the adaptive
# policy than with CLOCK.
AB_NOISE = 0.03
AB_SET_EVICT_FLOOR = 0.90
AB_OPS = {
    "Get_Hit": "get, hit",
    "Get_Miss": "get, miss",
    "Set_Evict": "set with eviction",
}


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
        evs = [r["after_eviction"] for r in rs if "after_eviction" in r]
        if evs:
            # libcache-adaptive: a second cache filled until it evicts (peer_memory.cc).
            ev = {k: statistics.median(e[k] for e in evs)
                  for k in ("rss_per_entry", "rss_overhead", "charged_per_entry",
                            "charged_overhead", "accounting_gap", "entries", "evictions",
                            "keys_inserted", "capacity_bytes")}
            ev["accounting_agrees_all"] = all(e["accounting_agrees"] for e in evs)
            ev["reps"] = len(evs)
            med["after_eviction"] = ev
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


def memory_rows(mem):
    """(label, measurement, color, hatch) per bar of the memory plot, in page order:
    the engines, and libcache-adaptive's measurement after evicting."""
    rows = []
    for e in MEM_ENGINES:
        if e not in mem:
            continue
        rows.append((LABELS[e], mem[e], COLORS[e], None))
        if "after_eviction" in mem[e]:
            rows.append((LABELS[e] + ", after evicting", mem[e]["after_eviction"], COLORS[e],
                         "//"))
    return rows


def plot_memory(mem, mach, path):
    rows = memory_rows(mem)
    first = next(mem[e] for e in MEM_ENGINES if e in mem)
    fig, ax = plt.subplots(figsize=(10, 4.8 + 0.35 * max(0, len(rows) - 5)))
    ys = list(range(len(rows)))[::-1]
    rss = [m["rss_overhead"] for _, m, _, _ in rows]
    charged = [m["charged_overhead"] for _, m, _, _ in rows]
    for y, (label, m, color, hatch) in zip(ys, rows):
        ax.barh([y], [m["rss_overhead"]], color=color, height=0.6, hatch=hatch,
                edgecolor="black" if hatch else None, linewidth=0.5 if hatch else 0,
                label="measured (RSS delta / entries - 116)" if y == ys[0] else None)
    ax.scatter(charged, ys, marker="|", s=400, color="black", zorder=3,
               label="what the engine charges against its capacity")
    for y, v in zip(ys, rss):
        ax.text(v + 2, y, "%.0f B" % v, va="center", fontsize=9)
    ax.axvline(32, color="#d62728", linestyle="--", linewidth=1)
    ax.text(33, -0.65, "target: 32 B (shared/PERFORMANCE.md)", color="#d62728", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([label + ("\n(%s entries)" % "{:,}".format(int(m["entries"])) if hatch
                                 else "") for label, m, _, hatch in rows])
    ax.set_ylim(-0.8, len(rows) - 0.4)
    ax.set_xlabel("bytes per entry beyond key and value (lower is better)")
    ax.set_xlim(0, max(rss + charged) * 1.2)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    n = first["entries"]
    ax.set_title("Memory per entry at %s entries of 16-byte keys and %d-byte values; median of %d "
                 "runs\n%s" % ("{:,}".format(n), first["value_bytes"], first["reps"],
                               mach["short"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_hit_ratio_clock(rows, mach, path):
    """The plot for traces.json from before the adaptive policy: CLOCK against LRU."""
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


def has_adaptive(traces):
    """True when traces.json has the adaptive policy's fields (trace_replay with the adaptive policy)."""
    rows = traces.get("rows", []) if traces else []
    return bool(rows) and all("adaptive_1shard" in r for r in rows)


def best_of(r):
    """The best reference policy's hit ratio on row r, or None (trace_replay writes -1)."""
    b = r.get("best_reference")
    return b if b is not None and b >= 0 else None


def plot_hit_ratio(rows, mach, path):
    """LRU, CLOCK and adaptive (one shard) per row, the best reference policy marked;
    below, adaptive - best and CLOCK - LRU with their pass lines."""
    labels = ["%s\n%d" % (r["trace"], r["capacity"]) for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 8), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    series = [("lru_sim", "exact LRU (simulator)", "#7f7f7f"),
              ("libcache_1shard", "libcache CLOCK (default policy), 1 shard", "#1f77b4"),
              ("adaptive_1shard", "libcache adaptive, 1 shard", "#d62728")]
    width = 0.8 / len(series)
    for i, (k, label, color) in enumerate(series):
        xs = [j + (i - 1) * width for j in range(len(rows))]
        ys = [r[k] for r in rows]
        top.bar(xs, ys, width, label=label, color=color)
        for x, y in zip(xs, ys):
            top.text(x, y + 1, "%.1f" % y, ha="center", va="bottom", fontsize=6.5, rotation=90)
    bests = [(j, best_of(r)) for j, r in enumerate(rows) if best_of(r) is not None]
    if bests:
        top.hlines([b for _, b in bests], [j - 0.45 for j, _ in bests],
                   [j + 0.45 for j, _ in bests], colors="black", linewidth=1.3,
                   label="best reference policy (traces' README, libCacheSim)", zorder=2.5)
    hi = max([r[k] for r in rows for k, _, _ in series] + [b for _, b in bests] + [1])
    top.set_ylabel("hit ratio (%)")
    top.set_ylim(0, hi * 1.12 + 6)
    top.legend(fontsize=8, loc="upper left", ncol=2)
    top.grid(axis="y", alpha=0.3)
    top.set_axisbelow(True)
    diffs = [("adaptive - best reference", "#d62728",
              [r["adaptive_1shard"] - best_of(r) if best_of(r) is not None else None
               for r in rows]),
             ("CLOCK - LRU", "#1f77b4", [r["libcache_1shard"] - r["lru_sim"] for r in rows])]
    for i, (label, color, ys) in enumerate(diffs):
        xs = [j + (i - 0.5) * 0.35 for j in range(len(rows))]
        bottom.bar(xs, [0 if y is None else y for y in ys], 0.35, label=label + " (1 shard)",
                   color=color)
        for x, y in zip(xs, ys):
            if y is None:  # no best reference on this row
                continue
            bottom.text(x, y + (0.15 if y >= 0 else -0.15), "%+.1f" % y, ha="center",
                        va="bottom" if y >= 0 else "top", fontsize=6.5)
    bottom.axhline(0, color="black", linewidth=0.6)
    bottom.axhline(-ADAPTIVE_BEST, color="#d62728", linestyle="--", linewidth=1)
    bottom.axhline(-TOLERANCE, color="#1f77b4", linestyle="--", linewidth=1)
    bottom.text(-0.45, -ADAPTIVE_BEST - 0.1, "adaptive's pass line: best - %.1f points" %
                ADAPTIVE_BEST, ha="left", va="top", fontsize=8, color="#d62728")
    bottom.text(-0.45, -TOLERANCE - 0.1, "CLOCK's pass line: LRU - %.1f points" % TOLERANCE,
                ha="left", va="top", fontsize=8, color="#1f77b4")
    bottom.set_ylabel("difference (points)")
    bottom.set_xticks(range(len(rows)))
    bottom.set_xticklabels(labels, fontsize=9)
    bottom.grid(axis="y", alpha=0.3)
    bottom.set_axisbelow(True)
    vals = [y for _, _, ys in diffs for y in ys if y is not None] + [-ADAPTIVE_BEST, TOLERANCE]
    span = max(vals) - min(vals)
    bottom.set_ylim(min(vals) - 0.12 * span - 0.5, max(vals) + 0.35 * span + 0.5)
    bottom.legend(fontsize=8, loc="upper right", ncol=2)
    fig.suptitle("Hit ratio on the shared traces (trace / capacity in entries), replayed "
                 "single-threaded through the C ABI, CLOCK and adaptive policies\n%s" %
                 mach["short"], fontsize=11)
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


def summary_lines(cells, engines, mem, traces, ab):
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
        adaptive = ""
        if "libcache-adaptive" in mem:
            a = mem["libcache-adaptive"]
            adaptive = " (%.0f with the adaptive policy%s)" % (
                a["rss_overhead"], ", %.0f once it has evicted and built its shadows" %
                a["after_eviction"]["rss_overhead"] if "after_eviction" in a else "")
        lines.append("- **Memory** beyond key and value at %s entries: libcache %.0f bytes per "
                     "entry%s; %s." % ("{:,}".format(mem["libcache"]["entries"]),
                                       mem["libcache"]["rss_overhead"], adaptive, others))
    if traces:
        rows = traces["rows"]
        margin = {(r["trace"], r["capacity"]):
                  min(r["libcache_1shard"], r["libcache_default"]) - r["lru_sim"] for r in rows}
        low = min(margin, key=margin.get)
        lines.append("- **Hit ratio, CLOCK** (the default policy): within %.1f points of exact "
                     "LRU or better on %d of %d trace rows, with one shard and with the default "
                     "shards; its lowest margin is %+.2f points (%s at %d entries), its highest "
                     "%+.2f." %
                     (TOLERANCE, sum(1 for r in rows if r.get("clock_pass", r["pass"])),
                      len(rows), margin[low], low[0], low[1], max(margin.values())))
        if has_adaptive(traces):
            to_best = {(r["trace"], r["capacity"]): min(adaptive_margins(r)[0])
                       for r in rows if best_of(r) is not None}
            to_lru = {(r["trace"], r["capacity"]): min(adaptive_margins(r)[1]) for r in rows}
            part = ""
            if to_best:
                lo = min(to_best, key=to_best.get)
                part = ("; against the best reference policy of each row it is %+.2f (%s at %d "
                        "entries) to %+.2f points" % (to_best[lo], lo[0], lo[1],
                                                       max(to_best.values())))
            hi = max(to_lru, key=to_lru.get)
            lines.append("- **Hit ratio, adaptive policy** (an option, `CACHE_POLICY_ADAPTIVE`): "
                         "meets its targets (one shard: within %.1f points of the best "
                         "reference policy, at most %.1f below LRU; default shards: %.1f and "
                         "%.1f) on %d of %d rows%s; against exact LRU, %+.2f to %+.2f points "
                         "(the highest on %s at %d entries). Each margin is the lower of one "
                         "shard's and the default shards'." %
                         (ADAPTIVE_BEST, ADAPTIVE_LRU, ADAPTIVE_BEST_SHARDED,
                          ADAPTIVE_LRU_SHARDED, sum(1 for r in rows if r["adaptive_pass"]),
                          len(rows), part, min(to_lru.values()), to_lru[hi], hi[0], hi[1]))
    if ab:
        _, hit_ok, ev, ev_ok = ab_targets(ab[2])

        def span(engine):
            xs = [ab_ratio(c, engine, "before") for (op, _, _), c in ab[2].items()
                  if op == "Get_Hit"]
            xs = [x for x in xs if x is not None]
            return "%.2f-%.2f" % (min(xs), max(xs)) if xs else "-"
        lines.append("- **Policy cost** (`bench/policy_ab.sh`, ratios of medians): get-hit against "
                     "the engine before the policies (`%s`), over 32k and 1M keys at 1 and 2 "
                     "threads: CLOCK %s, adaptive %s (target: no slower, %s); set with eviction, "
                     "adaptive / CLOCK: %s (target: at least %.2f, %s)." %
                     (ab[0], span("CLOCK"), span("adaptive"), verdict_word(hit_ok).strip("*"),
                      "; ".join(ev) or "-", AB_SET_EVICT_FLOOR, verdict_word(ev_ok).strip("*")))
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


def hit_ratio_section_clock(traces, ref, mach, img):
    """The hit-ratio section for traces.json from before the adaptive policy."""
    L = []
    add = L.append
    plot_hit_ratio_clock(traces["rows"], mach, os.path.join(img, "hit_ratio.png"))
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
        "README). These results predate libcache's adaptive policy, which implements one "
        "as an option: rerun `scripts/benchmarks.sh` for its columns.")
    return L


def best_policies(rr):
    """The reference policies with the row's highest hit ratio, e.g. "S3-FIFO"."""
    if not rr:
        return ""
    top = max(rr.values())
    return "/".join(k for k, v in rr.items() if v == top)


def adaptive_margins(r):
    """(adaptive - best, adaptive - LRU) with one shard and with the default shards;
    the best's are None when the row has no best reference."""
    b = best_of(r)
    return ((r["adaptive_1shard"] - b, r["adaptive_default"] - b) if b is not None
            else (None, None),
            (r["adaptive_1shard"] - r["lru_sim"], r["adaptive_default"] - r["lru_sim"]))


def pair(a, b, fmtstr="%+.2f"):
    """One cell for a one-shard and a default-shards figure: "x" when equal, else "x / y"."""
    if a is None:
        return "-"
    return fmtstr % a if fmtstr % a == fmtstr % b else (fmtstr + " / " + fmtstr) % (a, b)


def hit_ratio_section(traces, ref, mach, img):
    """The hit-ratio section: CLOCK against exact LRU, the adaptive policy against the
    best reference policy and LRU."""
    L = []
    add = L.append
    rows = traces["rows"]
    plot_hit_ratio(rows, mach, os.path.join(img, "hit_ratio.png"))
    shards = sorted({r["default_shards"] for r in rows})
    forced = traces.get("forced_shards", 8)
    add("`bench/trace_replay.cc` replays every trace of `shared/traces/` single-threaded: a "
        "get, and a set on a miss; capacity in entries (`max_entries`, no byte bound). "
        "libcache runs through the C ABI with each eviction policy: CLOCK, the default, and "
        "the adaptive policy (`cache_options_set_policy(opts, CACHE_POLICY_ADAPTIVE)`); each "
        "with one shard (the policy alone) and with the default shard count (here %s: "
        "automatic sharding keeps at least 1024 entries per shard, so these small capacities "
        "get one shard), next to an exact LRU simulator in the same program. The best "
        "reference is the highest hit ratio of the traces' README on that row (libCacheSim: "
        "LRU, CLOCK, FIFO, ARC, LIRS, SIEVE, S3-FIFO, W-TinyLFU with a 1%% window), with the "
        "policy that reached it." % " and ".join(str(x) for x in shards))
    add("")
    add("Verdict: PASS when both policies meet their targets. CLOCK: with one shard and with "
        "the default shards, within %.1f points of the simulated LRU or better. Adaptive: "
        "with one shard, within %.1f points of the best reference and at most %.1f below "
        "LRU; with the default shards, within %.1f and %.1f. A FAIL names the policy that "
        "missed. Where a cell holds two figures they are one shard / default shards; one "
        "figure means both are the same." %
        (TOLERANCE, ADAPTIVE_BEST, ADAPTIVE_LRU, ADAPTIVE_BEST_SHARDED, ADAPTIVE_LRU_SHARDED))
    add("")
    add("![Hit ratio](img/hit_ratio.png)")
    add("")
    add("| trace | capacity | requests | LRU (simulator) | CLOCK | CLOCK - LRU | adaptive | "
        "best reference | adaptive - best | adaptive - LRU | verdict | %d shards (forced): "
        "CLOCK / adaptive |" % forced)
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    far_below, far_above = [], []
    for r in rows:
        rr = ref.get((r["trace"], r["capacity"]), {})
        b = best_of(r)
        (db1, dbd), (dl1, dld) = adaptive_margins(r)
        clock_ok = r.get("clock_pass", r["pass"])
        adaptive_ok = r.get("adaptive_pass", r["pass"])
        verdict = ("PASS" if clock_ok and adaptive_ok else
                   "**FAIL** (%s)" % " and ".join(p for p, ok in (("CLOCK", clock_ok),
                                                                  ("adaptive", adaptive_ok))
                                                  if not ok))
        best_cell = "-" if b is None else "%.1f%s" % (b, " (%s)" % best_policies(rr)
                                                      if best_policies(rr) else "")
        add("| %s | %d | %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %.2f / %.2f |" %
            (r["trace"], r["capacity"], "{:,}".format(r["requests"]), r["lru_sim"],
             pair(r["libcache_1shard"], r["libcache_default"], "%.2f"),
             pair(r["libcache_1shard"] - r["lru_sim"], r["libcache_default"] - r["lru_sim"]),
             pair(r["adaptive_1shard"], r["adaptive_default"], "%.2f"), best_cell,
             pair(db1, dbd), pair(dl1, dld), verdict, r["libcache_forced"],
             r["adaptive_forced"]))
        if b is not None and min(db1, dbd) < -FAR_FROM_BEST:
            far_below.append((r, db1, dbd, rr))
        elif b is not None and min(db1, dbd) > FAR_FROM_BEST:
            far_above.append((r, db1, dbd, rr))
    add("")

    def listed(items):
        return "; ".join("%s at %d entries (%s against %.1f%s)" %
                         (r["trace"], r["capacity"], pair(d1, dd), best_of(r),
                          " for %s" % best_policies(rr) if best_policies(rr) else "")
                         for r, d1, dd, rr in items)
    if far_below:
        add("Rows where the adaptive policy is more than %.0f point below the best reference: "
            "%s." % (FAR_FROM_BEST, listed(far_below)))
    else:
        add("The adaptive policy is nowhere more than %.0f point below the best reference." %
            FAR_FROM_BEST)
    if far_above:
        add("")
        add("Rows where it is more than %.0f point above it: %s. (libCacheSim's policies are "
            "run with fixed parameters; the adaptive policy chooses its window share per "
            "workload.)" % (FAR_FROM_BEST, listed(far_above)))
    add("")
    add("Frequency-aware policies (S3-FIFO, W-TinyLFU, LIRS, ARC) beat LRU and CLOCK by 5 to "
        "50 points on several of these traces (the traces' README). libcache implements one, "
        "as an option: the adaptive policy is a window TinyLFU over three CLOCK rings with a "
        "4-bit count-min frequency sketch, whose window share (1%, 10%, 30% or 80% of the "
        "shard) is chosen by racing four shadow caches on a sampled slice of the keys "
        "(`core/src/adaptive_policy.h`). CLOCK stays the default; what the adaptive policy "
        "costs is measured under Memory per entry and Eviction policies: cost on the hot "
        "paths.")
    add("")
    add("The forced-shard column is for information, not a default: it shows what splitting "
        "a small capacity into %d independent shards does (each shard evicts, and the "
        "adaptive policy adapts, on its own, so the policy is no longer global), which is why "
        "automatic sharding keeps shards large." % forced)
    return L


def load_policy_ab(path):
    """policy_ab.json (bench/policy_ab.sh) -> (base, head, {(op, keys, threads): {engine:
    (mops, samples)}}), engine "before", "CLOCK" or "adaptive"."""
    with open(path) as f:
        data = json.load(f)
    cells = {}
    for r in data.get("rows", []):
        engine = "before" if r["engine"].startswith("before") else r["engine"]
        cells.setdefault((r["op"], r["keys"], r["threads"]), {})[engine] = (
            r["mops_median"], r.get("samples"))
    return data.get("base", "?"), data.get("head", "?"), cells


def ab_ratio(cell, a, b):
    x, y = cell.get(a, (None,))[0], cell.get(b, (None,))[0]
    return x / y if x and y else None


def ab_keys(op, keys):
    s = "{:,}".format(keys)
    return s + " (capacity 1/10)" if op == "Set_Evict" else s


def ab_targets(cells):
    """(get-hit lines, get-hit met, set-evict lines, set-evict met); met is None when
    nothing was measured."""
    hit, hit_ok = [], None
    for (op, keys, threads), cell in sorted(cells.items()):
        if op != "Get_Hit":
            continue
        c, a = ab_ratio(cell, "CLOCK", "before"), ab_ratio(cell, "adaptive", "before")
        if c is None and a is None:
            continue
        ok = all(x is None or x >= 1 - AB_NOISE for x in (c, a))
        hit_ok = ok if hit_ok is None else hit_ok and ok
        hit.append("%s keys, %d thread%s: CLOCK %s, adaptive %s" %
                   ("{:,}".format(keys), threads, "s" if threads > 1 else "", fmt(c, 2),
                    fmt(a, 2)))
    ev, ev_ok = [], None
    for (op, keys, threads), cell in sorted(cells.items()):
        if op != "Set_Evict":
            continue
        x = ab_ratio(cell, "adaptive", "CLOCK")
        if x is None:
            continue
        ev_ok = (x >= AB_SET_EVICT_FLOOR) if ev_ok is None else ev_ok and x >= AB_SET_EVICT_FLOOR
        ev.append("%d thread%s: %.2f" % (threads, "s" if threads > 1 else "", x))
    return hit, hit_ok, ev, ev_ok


def verdict_word(ok):
    return "not measured" if ok is None else "**met**" if ok else "**NOT met**"


def policy_ab_section(ab, run):
    """The section "Eviction policies: cost on the hot paths" from policy_ab.json."""
    L = ["", "## Eviction policies: cost on the hot paths", ""]
    add = L.append
    if ab is None:
        if run.get("policy_ab_error"):
            add("Not run: `bench/policy_ab.sh` failed (`%s`)." % run["policy_ab_error"])
        else:
            add("Not run (no `policy_ab.json`: `bench/policy_ab.sh` writes it).")
        return L
    base, head, cells = ab
    rounds, min_time = run.get("policy_ab_rounds"), run.get("policy_ab_min_time")
    add("`bench/policy_ab.sh` (command: `bench/policy_ab.sh [base ref]`%s) builds "
        "`bench/cache_bench.cc` at `%s`, the last commit "
        "before the eviction policies (a git worktree, its only policy CLOCK), and in this "
        "tree (`%s`), then runs the two binaries alternately, %s round%s of 3 repetitions "
        "each at `--benchmark_min_time=%ss`: this tree with CLOCK and with the adaptive "
        "policy. Mops/s, aggregate over threads, median over every repetition of every "
        "round. Workloads: 16-byte keys, 100-byte values, Zipf 0.99 key streams; get, hit: "
        "every key resident; get, miss: keys never inserted, against the 32k cache; set with "
        "eviction: sets over a key space of 1M keys with room for a tenth (`max_entries`), "
        "warmed to steady state." %
        (", run by `scripts/benchmarks.sh` with `ROUNDS=%s MIN_TIME=%s`" % (rounds, min_time)
         if rounds is not None else "",
         base, head, rounds if rounds is not None else "ROUNDS (default 3)",
         "" if rounds == 1 else "s", min_time if min_time is not None else "MIN_TIME"))
    add("")
    add("| operation | keys | threads | before (`%s`) | CLOCK | adaptive | CLOCK / before | "
        "adaptive / before | adaptive / CLOCK | samples |" % base)
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    order = {op: i for i, op in enumerate(AB_OPS)}
    for (op, keys, threads), cell in sorted(cells.items(),
                                            key=lambda kv: (order.get(kv[0][0], 9), kv[0][1:])):
        mops_of = [cell.get(e, (None, None))[0] for e in ("before", "CLOCK", "adaptive")]
        samples = sorted({cell[e][1] for e in cell if cell[e][1] is not None})
        add("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |" %
            (AB_OPS.get(op, op), ab_keys(op, keys), threads,
             *(fmt(x, 2) for x in mops_of),
             fmt(ab_ratio(cell, "CLOCK", "before"), 2),
             fmt(ab_ratio(cell, "adaptive", "before"), 2),
             fmt(ab_ratio(cell, "adaptive", "CLOCK"), 2),
             "/".join(str(x) for x in samples) or "-"))
    hit, hit_ok, ev, ev_ok = ab_targets(cells)
    add("")
    add("Targets:")
    add("")
    add("- **get, hit, with either policy no slower than before** (ratio to before; at least "
        "%.2f counts, a %.0f%% allowance for this VM's noise): %s. %s." %
        (1 - AB_NOISE, 100 * AB_NOISE, "; ".join(hit) or "-", verdict_word(hit_ok)))
    add("- **set with eviction at most %.0f%% slower with the adaptive policy than with "
        "CLOCK** (adaptive / CLOCK at least %.2f): %s. %s." %
        (100 * (1 - AB_SET_EVICT_FLOOR), AB_SET_EVICT_FLOOR, "; ".join(ev) or "-",
         verdict_word(ev_ok)))
    if rounds == 1:
        add("")
        add("One round of short runs (`--quick`): for checking the page, not for quoting.")
    return L


def write_page(args, cells, ctx, mem, traces, ref, python, run, mach, out, ab=None):
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
            "%d s, near caches %d s, traces %d s, policy A/B %d s, Python %d s; the build is "
            "extra)." %
            (secs.get("total_before_report", 0) / 60, secs.get("throughput", 0),
             secs.get("memory", 0), secs.get("near_cache", 0), secs.get("traces", 0),
             secs.get("policy_ab", 0), secs.get("python", 0)))
    add("")
    add("## Summary")
    add("")
    L.extend(summary_lines(cells, engines, mem, traces, ab))
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
        for label, m, _, hatch in memory_rows(mem):
            add("| %s | %.1f B | **%.1f B** | %.1f B | %.1f B | %.0f MiB%s |" %
                (label + (" (%s entries)" % "{:,}".format(int(m["entries"])) if hatch else ""),
                 m["rss_per_entry"], m["rss_overhead"], m["charged_per_entry"],
                 m["charged_overhead"], m["capacity_bytes"] / 2**20,
                 " (fitted)" if m.get("capacity_fitted") else
                 " (evicting)" if hatch else ""))
        add("")
        gaps = []
        for e in ("libcache", "libcache-adaptive"):
            m = mem.get(e, {})
            if "accounting_gap" in m:
                gaps.append(("CLOCK" if e == "libcache" else "adaptive", m))
            if "after_eviction" in m:
                gaps.append(("adaptive after evicting", m["after_eviction"]))
        if gaps:
            ok = all(abs(m["accounting_gap"]) <= 0.10 and m["accounting_agrees_all"]
                     for _, m in gaps)
            add("- libcache's own accounting (`cache_stats().bytes`, what `max_bytes` bounds) "
                "against RSS (median): %s; within 10%% in every run: **%s**." %
                (", ".join("%s %+.1f%%" % (name, 100 * m["accounting_gap"]) for name, m in gaps),
                 "yes" if ok else "NO"))
        if "libcache" in mem and "libcache-adaptive" in mem:
            c, a = mem["libcache"], mem["libcache-adaptive"]
            text = ("- **The adaptive policy's memory**: with it libcache takes %+.1f bytes per "
                    "entry more than with CLOCK as measured (RSS), %+.1f as charged: its "
                    "frequency sketch (4 rows of 4-bit counters, 8 to 16 bytes per entry) and "
                    "its two extra CLOCK rings. Its shadow caches come on top: they are built "
                    "at the first eviction, and peer_memory fills the cache without evicting, "
                    "so the row \"libcache (adaptive)\" does not count them." %
                    (a["rss_overhead"] - c["rss_overhead"],
                     a["charged_overhead"] - c["charged_overhead"]))
            if "after_eviction" in a:
                ev = a["after_eviction"]
                text += (" The row \"after evicting\" does: in a child process of the same run "
                         "(it shares the loaded cache's pages, so only what it adds counts), a "
                         "second adaptive cache bounded by the %.0f MiB the first was charged "
                         "is filled until it evicts and then with 10%% more keys (%s keys, "
                         "%s evicted, %s held); RSS, entries and charged bytes are read at that "
                         "point: %.1f bytes per entry of overhead, %+.1f over CLOCK's, %+.1f "
                         "over the adaptive policy's before evicting, mostly its shadows (at "
                         "most 4 x 1024 shadow entries of about 60 bytes per shard, and at most "
                         "1/16 of the shard's byte bound)." %
                         (ev["capacity_bytes"] / 2**20, "{:,}".format(int(ev["keys_inserted"])),
                          "{:,}".format(int(ev["evictions"])),
                          "{:,}".format(int(ev["entries"])), ev["rss_overhead"],
                          ev["rss_overhead"] - c["rss_overhead"],
                          ev["rss_overhead"] - a["rss_overhead"]))
            add(text)
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
    if traces and has_adaptive(traces):
        L.extend(hit_ratio_section(traces, ref, mach, img))
    elif traces:
        L.extend(hit_ratio_section_clock(traces, ref, mach, img))
    else:
        add("Not run: no traces found (set `LIBCACHE_TRACES` to the folder).")

    # -- Eviction policies: cost on the hot paths (bench/policy_ab.sh)
    L.extend(policy_ab_section(ab, run))

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
    ab_path = os.path.join(args.results, "policy_ab.json")
    ab = load_policy_ab(ab_path) if os.path.exists(ab_path) else None
    mach = machine(ctx, os.path.dirname(os.path.abspath(args.results)))
    os.makedirs(args.out, exist_ok=True)
    write_page(args, cells, ctx, mem, traces, ref, python, run, mach, args.out, ab)


if __name__ == "__main__":
    main()
