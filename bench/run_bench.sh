#!/usr/bin/env bash
# Builds cache_bench (Release, build-bench/), runs every workload with 5
# repetitions, writes build-bench/cache_bench.json and prints the medians as a
# markdown table. Extra arguments go to cache_bench, e.g.
#   bench/run_bench.sh --benchmark_filter='Get_Hit.*/32768'
# MIN_TIME (seconds per repetition, default 0.5) trades time for noise.
# Repetitions are randomly interleaved across benchmarks, so a burst of other
# load on the VM spreads over libcache and the baseline instead of landing on
# all five repetitions of one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build-bench
MIN_TIME=${MIN_TIME:-0.5}

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLIBCACHE_BUILD_TESTS=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF -DLIBCACHE_INSTALL=OFF >/dev/null
fi
cmake --build "$BUILD" --target cache_bench >/dev/null  # a no-op when up to date

# Which sources were measured: the commit, plus a digest of uncommitted changes
# to the library's sources (the table prints it).
SOURCE=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- core capi CMakeLists.txt 2>/dev/null)" ]; then
  DIGEST=$( (git diff HEAD -- core capi CMakeLists.txt
             git ls-files --others --exclude-standard -- core capi | xargs -r cat) | sha256sum)
  SOURCE="$SOURCE+dirty:${DIGEST:0:12}"
fi

"$BUILD/bench/cache_bench" \
  --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true \
  --benchmark_min_time="$MIN_TIME" \
  --benchmark_enable_random_interleaving=true \
  --benchmark_context=libcache_source="$SOURCE" \
  --benchmark_out="$BUILD/cache_bench.json" \
  --benchmark_out_format=json \
  "$@" >&2

python3 bench/medians_table.py "$BUILD/cache_bench.json"
