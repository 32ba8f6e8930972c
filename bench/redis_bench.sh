#!/usr/bin/env bash
# The write-behind link to a live Redis next to redis-benchmark, in one run
# (issue 9's "Speed" targets):
#   1. builds redis_bench and store_bench (Release, build-bench/)
#   2. starts a redis-server on a free loopback port (no persistence), as the
#      tests' harness does, and stops it on exit
#   3. REPS times, alternately: redis-benchmark -P 64 -t set -d 100 -n N -q
#      against it, and redis_bench's sustained write-behind throughput (N
#      distinct 16-byte keys, 100-byte values, one writer, until flushed)
#   4. what the adapter adds to a cache_set: redis_bench added (no link vs
#      linked to that Redis), and store_bench (no link vs a no-op store)
#   5. prints the medians as markdown (and writes them to
#      build-bench/results/redis_bench.md for bench/report.py)
#
#   bench/redis_bench.sh [N, default 1000000] [REPS, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build-bench
RESULTS=$BUILD/results
N=${1:-1000000}
REPS=${2:-5}
mkdir -p "$RESULTS"

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLIBCACHE_BUILD_TESTS=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF -DLIBCACHE_INSTALL=OFF >/dev/null
fi
cmake --build "$BUILD" --target redis_bench store_bench >/dev/null

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" \
  --logfile "$DIR/redis.log" --daemonize no &
REDIS_PID=$!
trap 'kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do
  redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
  sleep 0.05
done
URL="redis://127.0.0.1:$PORT/0"
REDIS_VERSION=$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

PEER=()
OURS=()
for rep in $(seq "$REPS"); do
  line=$(redis-benchmark -p "$PORT" -P 64 -t set -d 100 -n "$N" -q 2>/dev/null | tr '\r' '\n' | grep 'requests per second' | tail -1)
  PEER+=("$(echo "$line" | sed 's/^SET: \([0-9.]*\) requests per second.*/\1/')")
  redis-cli -p "$PORT" flushall >/dev/null
  out=$("$BUILD/bench/redis_bench" "$URL" throughput "$N" 1)
  OURS+=("$(echo "$out" | awk '/^median throughput/ { print $3 }')")
  redis-cli -p "$PORT" flushall >/dev/null
  echo "redis_bench: rep $rep: redis-benchmark ${PEER[-1]}/s, write-behind ${OURS[-1]}/s ($(echo "$out" | head -1 | sed 's/^throughput [0-9]*  //'))" >&2
done
PEER_MED=$(printf '%s\n' "${PEER[@]}" | median)
OURS_MED=$(printf '%s\n' "${OURS[@]}" | median)

ADDED=$("$BUILD/bench/redis_bench" "$URL" added $((REPS * 2 + 1)))
echo "$ADDED" >&2
NOLINK=$(echo "$ADDED" | awk '/^median no_link_ns/ { print $3 }')
LINKED=$(echo "$ADDED" | awk '/^median linked_ns/ { print $3 }')
ADD=$(echo "$ADDED" | awk '/^median added_ns/ { print $3 }')
NOLINK_CPU=$(echo "$ADDED" | awk '/^median no_link_cpu_ns/ { print $3 }')
LINKED_CPU=$(echo "$ADDED" | awk '/^median linked_cpu_ns/ { print $3 }')
ADD_CPU=$(echo "$ADDED" | awk '/^median added_cpu_ns/ { print $3 }')

SB=$("$BUILD/bench/store_bench" --benchmark_filter='BM_Set/[012]/32768/' \
  --benchmark_repetitions=$((REPS * 2 + 1)) --benchmark_enable_random_interleaving=true \
  --benchmark_min_time=0.2 --benchmark_report_aggregates_only=true 2>/dev/null)
sb() { echo "$SB" | awk -v m="BM_Set/$1/32768/real_time_median" '$1 == m { print $2 }'; }
SB0=$(sb 0); SB1=$(sb 1); SB2=$(sb 2)

{
  echo "Run: $(date -u +%Y-%m-%d), $(nproc) cores, load average at start $LOAD, redis-server $REDIS_VERSION on loopback (no persistence); N = $N, $REPS repetitions alternating with redis-benchmark, medians."
  echo
  echo "| write-behind throughput | ops/s (median) |"
  echo "|---|---:|"
  printf '| `redis-benchmark -P 64 -t set -d 100 -n %s -q` (50 clients, 64-deep pipelines) | %.0f |\n' "$N" "$PEER_MED"
  printf '| libcache write-behind, 1 writer, default link options, until flushed (`redis_bench throughput`) | %.0f |\n' "$OURS_MED"
  printf '| ratio | %.0f%% |\n' "$(echo "$OURS_MED $PEER_MED" | awk '{ print 100 * $1 / $2 }')"
  echo
  echo "| cost of a cache_set (16-byte keys, 100-byte values, 32768 keys, Zipf 0.99) | wall ns (median) | writer CPU ns (median) |"
  echo "|---|---:|---:|"
  echo "| no link (\`redis_bench added\`) | $NOLINK | $NOLINK_CPU |"
  echo "| linked to the live Redis, its flusher sending meanwhile | $LINKED | $LINKED_CPU |"
  echo "| added by the link to Redis (median of the paired differences) | $ADD | $ADD_CPU |"
  echo "| no link (\`store_bench BM_Set/0/32768\`) | $SB0 | |"
  echo "| linked to a no-op store, flusher running (\`BM_Set/1/32768\`) | $SB1 | |"
  echo "| linked, flusher asleep: enqueueing alone (\`BM_Set/2/32768\`) | $SB2 | |"
} | tee "$RESULTS/redis_bench.md"
