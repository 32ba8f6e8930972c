#!/usr/bin/env bash
# The main job: libcache's three tiers live on one machine (examples/three_tier.py).
# Starts a local redis-server on a free loopback port (no persistence), runs
# 3 worker processes behind a round-robin dispatcher, each with its own
# libcache near cache in front of that Redis and a SQLite database, and stops
# the Redis at the end (also on Ctrl-C or an error).
#
# Without redis-server (scripts/setup.sh installs it), or if it does not
# start, it runs the single-process demo instead (examples/demo.py: a cache in
# front of SQLite, and sessions) and says so.
#
#   scripts/demo.sh [--quick] [--requests N] [--products N]   # --quick: a few seconds, for CI
#
# Run scripts/setup.sh first. PYTHON overrides the interpreter (default
# .venv/bin/python), REDIS_SERVER the server (default redis-server on the
# PATH; the tests use it to check the fallback). The C example:
# build/examples/slow_lookup.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
REDIS=${REDIS_SERVER:-redis-server}
if ! [ -x "$PY" ] && ! command -v "$PY" >/dev/null; then
  echo "demo: $PY not found: run scripts/setup.sh first" >&2
  exit 1
fi

ARGS=("$@")
single_process() {  # why
  echo "demo: $1: running the single-process demo (examples/demo.py, no Redis) instead" >&2
  echo >&2
  exec "$PY" examples/demo.py "${ARGS[@]}"
}

if ! command -v "$REDIS" >/dev/null; then
  single_process "$REDIS is not installed (scripts/setup.sh installs redis-server)"
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/libcache-demo-redis.XXXXXX")
REDIS_PID=""
stop_redis() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
  fi
}
cleanup() { stop_redis; rm -rf "$DIR"; }
trap cleanup EXIT
# Ctrl-C reaches the demo's processes (Python reports it); redis-server, a
# background job of this non-interactive shell, ignores it: the EXIT trap
# stops it.
trap 'exit 130' INT
trap 'exit 143' TERM

ping_redis() {  # port: true once it answers PING (bash's /dev/tcp: no redis-cli needed)
  local reply=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 1 reply <&3 || true
  exec 3<&- 3>&-
  [ "${reply%$'\r'}" = "+PONG" ]
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PORT=""
for _attempt in 1 2 3; do  # a port taken between free_port and the bind: try another
  PORT=$(free_port)
  "$REDIS" --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" \
    --logfile "$DIR/redis.log" --daemonize no </dev/null &
  REDIS_PID=$!
  for _ in $(seq 100); do  # up to 5 s
    ping_redis "$PORT" && break 2
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.05
  done
  stop_redis
done
if [ -z "$REDIS_PID" ]; then
  why="$REDIS did not start"
  [ -s "$DIR/redis.log" ] && why="$why ($(tail -n 1 "$DIR/redis.log"))"
  cleanup
  trap - EXIT
  single_process "$why"
fi

echo "demo: $("$REDIS" --version | sed 's/ sha=.*//') started on 127.0.0.1:$PORT (pid $REDIS_PID, no persistence); stopped at the end"
echo
rc=0
"$PY" examples/three_tier.py --redis-url "redis://127.0.0.1:$PORT/0" "${ARGS[@]}" || rc=$?
exit "$rc"
