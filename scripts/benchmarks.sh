#!/usr/bin/env bash
# Measures libcache next to its peers and regenerates docs/benchmarks.md with
# its plots (docs/img/):
#   1. builds the benchmarks (Release, build-bench/)
#   2. throughput: bench/peer_bench (Google Benchmark, 5 repetitions randomly
#      interleaved, medians) against RocksDB's HyperClockCache and LRUCache,
#      LevelDB's LRU cache and a std::mutex + unordered_map + list LRU
#   3. memory per entry: bench/peer_memory, one process per engine (libcache
#      with each policy, and the peers) and repetition
#   3b. RSS while value sizes shift: bench/rss_shift, 1 and 2 threads
#   3c. write-behind to a live Redis next to redis-benchmark: bench/redis_bench.sh
#   3d. near caches and sessions (Python, each with its own redis-server):
#       bench/invalidation_delay.py, bench/near_cache_bench.py
#   4. hit ratios: bench/trace_replay over the traces in ../shared/traces (or
#      $LIBCACHE_TRACES), at the capacities its README lists, each row with the
#      best reference policy's hit ratio on it (the highest of the README's
#      reference columns), against which the adaptive policy is checked
#   4b. the eviction policies' cost on the hot paths: bench/policy_ab.sh (get-hit,
#      get-miss and set-with-eviction, A/B against the engine before the
#      policies, CLOCK and adaptive; in --quick mode one round of short runs)
#   5. Python: bench/python_bench.py, when it exists
#   6. bench/report.py writes the page from the medians
#
#   scripts/benchmarks.sh            # the full run, about 12 minutes on 2 cores,
#                                    # plus about 2 for the policy A/B
#   scripts/benchmarks.sh --quick    # about a minute: Zipf 0.99 only, short runs,
#                                    # one short policy A/B round;
#                                    # writes build-bench/quick-docs/, not docs/
# The first run also builds the policy A/B's base commit ($BUILD/ab-base).
#
# Needs what scripts/setup.sh installs: cmake, ninja, a C++ compiler,
# libbenchmark-dev, librocksdb-dev, libleveldb-dev, zlib1g-dev, and the .venv
# with matplotlib. Run it on an otherwise idle machine: other load shows up in
# the numbers (the page prints the load average when the run began).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
case "${1:-}" in
  "") ;;
  --quick) QUICK=1 ;;
  *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

BUILD=build-bench
RESULTS=$BUILD/results
TRACES=${LIBCACHE_TRACES:-../shared/traces}
PY=.venv/bin/python
if [ "$QUICK" = 1 ]; then
  DOCS=$BUILD/quick-docs
  MIN_TIME=0.02
  FILTER='Mix/.*/zipf0.99/.*/value:100/'
  MEMORY_REPS=1
  AB_ROUNDS=1
  AB_MIN_TIME=0.05
else
  DOCS=docs
  MIN_TIME=0.2
  FILTER='Mix/'
  MEMORY_REPS=5
  AB_ROUNDS=3
  AB_MIN_TIME=0.2
fi

if ! "$PY" -c 'import matplotlib' 2>/dev/null; then
  echo "benchmarks: $PY with matplotlib is missing; run scripts/setup.sh first" >&2
  exit 1
fi

START=$SECONDS
phase() { echo "benchmarks: $* ($((SECONDS - START)) s)" >&2; }
mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json "$RESULTS"/*.jsonl "$RESULTS"/rss_shift_*.md

phase "building in $BUILD/"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLIBCACHE_BUILD_TESTS=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF -DLIBCACHE_INSTALL=OFF >/dev/null
fi
cmake --build "$BUILD" --target peer_bench peer_memory trace_replay rss_shift >/dev/null

# Which sources were measured: the commit, plus a digest of uncommitted changes
# to the library's and the benchmarks' sources.
SOURCE=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- core capi bench CMakeLists.txt 2>/dev/null)" ]; then
  DIGEST=$( (git diff HEAD -- core capi bench CMakeLists.txt 2>/dev/null
             git ls-files --others --exclude-standard -- core capi bench | xargs -r cat) | sha256sum)
  SOURCE="$SOURCE+dirty:${DIGEST:0:12}"
fi
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

phase "throughput (peer_bench, min_time $MIN_TIME s x 5 repetitions)"
T0=$SECONDS
"$BUILD/bench/peer_bench" \
  --benchmark_filter="$FILTER" \
  --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true \
  --benchmark_min_time="$MIN_TIME" \
  --benchmark_enable_random_interleaving=true \
  --benchmark_context=libcache_source="$SOURCE" \
  --benchmark_out="$RESULTS/throughput.json" \
  --benchmark_out_format=json >"$RESULTS/throughput.txt" 2>"$RESULTS/throughput.log" ||
  { cat "$RESULTS/throughput.log" >&2; exit 1; }
T_THROUGHPUT=$((SECONDS - T0))

phase "memory per entry (peer_memory, $MEMORY_REPS repetitions per engine)"
T0=$SECONDS
for ((rep = 1; rep <= MEMORY_REPS; rep++)); do
  for engine in libcache libcache-adaptive rocksdb-hcc rocksdb-lru leveldb-lru mutex-lru; do
    rc=0
    "$BUILD/bench/peer_memory" "$engine" >>"$RESULTS/memory.jsonl" || rc=$?
    if [ "$rc" = 2 ]; then
      echo "benchmarks: $engine is not built in (peer library missing)" >&2
    elif [ "$rc" != 0 ]; then
      echo "benchmarks: peer_memory $engine failed" >&2
      exit 1
    fi
  done
done
T_MEMORY=$((SECONDS - T0))

phase "RSS while value sizes shift (rss_shift, 1 and 2 threads)"
T0=$SECONDS
RSS_PASSES=4
[ "$QUICK" = 1 ] && RSS_PASSES=2
for threads in 1 2; do
  "$BUILD/bench/rss_shift" --threads "$threads" --passes "$RSS_PASSES" --markdown \
    >"$RESULTS/rss_shift_$threads.md"
done
T_RSS=$((SECONDS - T0))

phase "write-behind to Redis (bench/redis_bench.sh, next to redis-benchmark)"
T0=$SECONDS
rm -f "$RESULTS/redis_bench.md"
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
  if [ "$QUICK" = 1 ]; then
    bench/redis_bench.sh 200000 1 >/dev/null
  else
    bench/redis_bench.sh 1000000 5 >/dev/null
  fi
else
  echo "benchmarks: redis-server or redis-benchmark missing (scripts/setup.sh installs them): no Redis section" >&2
fi
T_REDIS=$((SECONDS - T0))

# Failures are reported on the page and fail the command at the end, as the
# Python benchmark's do.
phase "near caches and sessions (bench/invalidation_delay.py, bench/near_cache_bench.py)"
T0=$SECONDS
NEAR_ERRORS=()
rm -f "$RESULTS/invalidation_delay.json" "$RESULTS/near_cache.json"
if command -v redis-server >/dev/null; then
  NEAR_QUICK=()
  [ "$QUICK" = 1 ] && NEAR_QUICK=(--quick)
  for pair in invalidation_delay:bench/invalidation_delay.py near_cache:bench/near_cache_bench.py; do
    b=${pair%%:*} script=${pair#*:}
    if ! "$PY" "$script" --json "$RESULTS/$b.json" "${NEAR_QUICK[@]}" >"$RESULTS/$b.log" 2>&1; then
      NEAR_ERRORS+=("\`$script\` failed (\`$(tail -n 1 "$RESULTS/$b.log")\`)")
      echo "benchmarks: $script failed: $(tail -n 1 "$RESULTS/$b.log")" >&2
    fi
  done
else
  echo "benchmarks: redis-server missing (scripts/setup.sh installs it): no near-cache section" >&2
fi
T_NEAR=$((SECONDS - T0))

T0=$SECONDS
if [ -f "$TRACES/README.md" ]; then
  phase "hit ratios (trace_replay over $TRACES)"
  # The rows of the README's reference table, "| trace | capacity | LRU | ... |",
  # as trace:capacity:best, best the highest of the row's reference columns
  # (bold marks it in the README; the ** are stripped).
  mapfile -t ROWS < <(awk -F'|' '/^\| *[a-z0-9]+ *\| *[0-9]+ *\|/ {
      gsub(/ /, "", $2); gsub(/ /, "", $3); best = ""
      for (i = 4; i < NF; i++) {
        v = $i; gsub(/[* ]/, "", v)
        if (v ~ /^[0-9]+(\.[0-9]+)?$/ && (best == "" || v + 0 > best + 0)) best = v
      }
      print $2 ":" $3 (best == "" ? "" : ":" best) }' "$TRACES/README.md")
  "$BUILD/bench/trace_replay" "$TRACES" "${ROWS[@]}" >"$RESULTS/traces.json" 2>"$RESULTS/traces.txt"
  cat "$RESULTS/traces.txt" >&2
else
  echo "benchmarks: no traces in $TRACES (set LIBCACHE_TRACES); the hit-ratio section is skipped" >&2
fi
T_TRACES=$((SECONDS - T0))

# bench/policy_ab.sh builds cache_bench at its base ref (a git worktree in
# $BUILD/ab-base) and here, and writes $RESULTS/policy_ab.json. A failure is
# reported on the page and fails the command at the end.
phase "eviction policies on the hot paths (bench/policy_ab.sh, $AB_ROUNDS round(s) at min_time $AB_MIN_TIME s)"
T0=$SECONDS
POLICY_AB_ERROR=""
if ! ROUNDS=$AB_ROUNDS MIN_TIME=$AB_MIN_TIME bench/policy_ab.sh \
    >"$RESULTS/policy_ab.txt" 2>"$RESULTS/policy_ab.log"; then
  POLICY_AB_ERROR=$(tail -n 1 "$RESULTS/policy_ab.log")
  echo "benchmarks: bench/policy_ab.sh failed: $POLICY_AB_ERROR" >&2
  rm -f "$RESULTS/policy_ab.json"
fi
T_POLICY_AB=$((SECONDS - T0))

# The Python benchmark needs the package installed in .venv (scripts/setup.sh).
# If it fails, the page is still written, says so, and the command fails.
T0=$SECONDS
PYTHON_ERROR=""
if [ -f bench/python_bench.py ]; then
  phase "Python (bench/python_bench.py)"
  QUICK_ARG=()
  [ "$QUICK" = 1 ] && QUICK_ARG=(--quick)
  rm -f "$BUILD/python_bench.json"
  if ! "$PY" bench/python_bench.py --json "$BUILD/python_bench.json" "${QUICK_ARG[@]}" \
      >"$RESULTS/python_bench.log" 2>&1; then
    PYTHON_ERROR=$(tail -n 1 "$RESULTS/python_bench.log")
    echo "benchmarks: bench/python_bench.py failed: $PYTHON_ERROR" >&2
  fi
fi
T_PYTHON=$((SECONDS - T0))

phase "writing $DOCS/benchmarks.md"
cat >"$RESULTS/run.json" <<EOF
{"quick": $([ "$QUICK" = 1 ] && echo true || echo false), "min_time": $MIN_TIME,
 "memory_repetitions": $MEMORY_REPS, "source": "$SOURCE", "load_at_start": "$LOAD_AT_START",
 "python_error": $(printf '%s' "$PYTHON_ERROR" | "$PY" -c 'import json, sys; print(json.dumps(sys.stdin.read()))'),
 "policy_ab_rounds": $AB_ROUNDS, "policy_ab_min_time": $AB_MIN_TIME,
 "policy_ab_error": $(printf '%s' "$POLICY_AB_ERROR" | "$PY" -c 'import json, sys; print(json.dumps(sys.stdin.read()))'),
 "near_cache_errors": $(printf '%s\n' "${NEAR_ERRORS[@]}" | "$PY" -c 'import json, sys; print(json.dumps([l for l in sys.stdin.read().splitlines() if l]))'),
 "seconds": {"throughput": $T_THROUGHPUT, "memory": $T_MEMORY, "rss_shift": $T_RSS, "near_cache": $T_NEAR, "traces": $T_TRACES,
             "policy_ab": $T_POLICY_AB, "python": $T_PYTHON, "total_before_report": $((SECONDS - START))}}
EOF
PYTHON_JSON=()
[ -f "$BUILD/python_bench.json" ] && PYTHON_JSON=(--python "$BUILD/python_bench.json")
"$PY" bench/report.py --results "$RESULTS" --traces "$TRACES" --out "$DOCS" "${PYTHON_JSON[@]}"
if [ -n "$PYTHON_ERROR" ]; then
  echo "benchmarks: wrote $DOCS/benchmarks.md without the Python table (see $RESULTS/python_bench.log)" >&2
  exit 1
fi
if [ -n "$POLICY_AB_ERROR" ]; then
  echo "benchmarks: wrote $DOCS/benchmarks.md without the policy A/B table (see $RESULTS/policy_ab.log)" >&2
  exit 1
fi
if ((${#NEAR_ERRORS[@]})); then
  echo "benchmarks: wrote $DOCS/benchmarks.md without some near-cache figures (see $RESULTS/*.log)" >&2
  exit 1
fi
phase "done: $DOCS/benchmarks.md"
