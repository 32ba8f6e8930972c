#!/usr/bin/env bash
# policy_ab: the eviction policies' cost on the hot paths, A/B against the
# engine as it was before them, in one run.
#
#   bench/policy_ab.sh [base ref]     (default: 3cc5198, the last commit before
#                                      the policy work)
#
# Builds cache_bench (bench/cache_bench.cc) at the base ref (a git worktree in
# build-bench/ab-base) and in this tree (build-bench), then runs the two
# binaries alternately ROUNDS times (default 3), each time with 3 repetitions
# of get-hit (32k and 1M resident keys), get-miss and set-with-eviction, at 1
# and 2 threads: the base with its only policy (CLOCK), this tree with CLOCK
# and with the adaptive policy. Alternating spreads the VM's bursts of other
# load over all three. Writes build-bench/results/policy_ab.json (medians of
# Mops/s over every repetition) and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-3cc5198}
ROUNDS=${ROUNDS:-3}
MIN_TIME=${MIN_TIME:-0.2}
BUILD=build-bench
OUT=$BUILD/results
WT=$BUILD/ab-base
mkdir -p "$OUT"

if [ ! -d "$WT" ] || [ "$(git -C "$WT" rev-parse HEAD 2>/dev/null)" != "$(git rev-parse "$BASE")" ]; then
  rm -rf "$WT"
  git worktree prune
  git worktree add --detach "$WT" "$BASE" >/dev/null
fi
for dir in "$WT/$BUILD" "$BUILD"; do
  src=$([ "$dir" = "$BUILD" ] && echo . || echo "$WT")
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIBCACHE_BUILD_TESTS=OFF \
      -DLIBCACHE_BUILD_EXAMPLES=OFF -DLIBCACHE_INSTALL=OFF >/dev/null
  fi
  cmake --build "$dir" --target cache_bench >/dev/null
done

FILTER='BM_(Get_Hit|Get_Miss|Set_Evict)<Libcache'
rm -f "$OUT"/policy_ab_*.json
for r in $(seq 1 "$ROUNDS"); do
  for side in base this; do
    bin=$([ "$side" = base ] && echo "$WT/$BUILD/bench/cache_bench" || echo "$BUILD/bench/cache_bench")
    "$bin" --benchmark_filter="$FILTER" --benchmark_repetitions=3 \
      --benchmark_min_time="${MIN_TIME}" --benchmark_report_aggregates_only=false \
      --benchmark_out="$OUT/policy_ab_${side}_$r.json" --benchmark_out_format=json >/dev/null
  done
done

python3 - "$OUT" "$BASE" "$(git rev-parse --short HEAD)" <<'PY'
import glob, json, os, re, statistics, sys
out, base, head = sys.argv[1:4]
runs = {}
for path in glob.glob(os.path.join(out, "policy_ab_*.json")):
    side = "base" if "_base_" in path else "this"
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") != "iteration" or "items_per_second" not in b:
            continue
        m = re.match(r"BM_(\w+)<(\w+)>/(\d+)(?:/.*threads:(\d+))?", b["run_name"])
        if not m:
            continue
        op, engine, n, threads = m.group(1), m.group(2), int(m.group(3)), int(m.group(4) or 1)
        who = "before (%s)" % base if side == "base" else (
            "adaptive" if engine == "LibcacheAdaptive" else "CLOCK")
        runs.setdefault((op, n, threads, who), []).append(b["items_per_second"] / 1e6)
rows = []
for (op, n, threads, who), v in sorted(runs.items()):
    rows.append({"op": op, "keys": n, "threads": threads, "engine": who,
                 "mops_median": statistics.median(v), "samples": len(v)})
json.dump({"base": base, "head": head, "rows": rows}, open(os.path.join(out, "policy_ab.json"), "w"),
          indent=1)
print("| workload | keys | threads | before (%s) | CLOCK | adaptive | CLOCK / before | adaptive / before |" % base)
print("|---|---:|---:|---:|---:|---:|---:|---:|")
keys = sorted({(r["op"], r["keys"], r["threads"]) for r in rows})
for k in keys:
    get = {r["engine"]: r["mops_median"] for r in rows if (r["op"], r["keys"], r["threads"]) == k}
    b = get.get("before (%s)" % base); c = get.get("CLOCK"); a = get.get("adaptive")
    f = lambda x: "%.2f" % x if x else "-"
    ratio = lambda x: "%.2f" % (x / b) if x and b else "-"
    print("| %s | %d | %d | %s | %s | %s | %s | %s |" % (k[0], k[1], k[2], f(b), f(c), f(a), ratio(c), ratio(a)))
PY
