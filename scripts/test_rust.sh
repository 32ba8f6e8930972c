#!/usr/bin/env bash
# The Rust binding's leg (bindings/rust): rustfmt, clippy (-D warnings), rustdoc, the
# tests with libcache.so.1 and the Redis tier (unit, integration, the
# conformance suite, RedisStore against a real redis-server, doc tests), the
# same without Redis against libcache.a (the `static` feature), the refusal
# of `static` + `redis`, and the interop agent built and run once Rust to
# Rust through a redis-server of its own. Needs the staged install that
# scripts/setup.sh makes (build/prefix) and the crates it fetched (`cargo
# fetch --locked` in bindings/rust): it never touches the network.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=$PWD/build/prefix
if [[ ! -f $PREFIX/lib/pkgconfig/libcache.pc ]]; then
  echo "test_rust.sh: no $PREFIX (run scripts/setup.sh: cmake --install build --prefix build/prefix)" >&2
  exit 1
fi
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export LD_LIBRARY_PATH=$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CARGO_NET_OFFLINE=true
export CARGO_TERM_COLOR=never
cd bindings/rust
CARGO=(cargo --locked --offline)
REDIS=(--features libcache/redis,libcache-sys/redis)
STATIC=(--features libcache/static,libcache-sys/static)

echo "=== rust: fmt, clippy ==="
cargo fmt --all --check
"${CARGO[@]}" clippy --all-targets "${REDIS[@]}" -- -D warnings
"${CARGO[@]}" clippy --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" "${CARGO[@]}" doc --no-deps "${REDIS[@]}"  # broken doc links fail

echo "=== rust: tests (libcache.so.1, redis) ==="
"${CARGO[@]}" test "${REDIS[@]}"

echo "=== rust: tests (libcache.a) ==="
"${CARGO[@]}" test "${STATIC[@]}"

echo "=== rust: static + redis is refused ==="
log=$(mktemp)
if "${CARGO[@]}" check -p libcache --features static,redis >"$log" 2>&1; then
  echo "static + redis compiled; it must not" >&2
  exit 1
fi
grep -q "cannot be combined" "$log" || { cat "$log" >&2; exit 1; }
rm -f "$log"

echo "=== rust: interop agent ==="
"${CARGO[@]}" build -p libcache --example interop --features redis
agent=$PWD/target/debug/examples/interop
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
  --daemonize no --logfile "$dir/redis.log" &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
"$agent" write "redis://127.0.0.1:$port/0" rust
"$agent" read "redis://127.0.0.1:$port/0" rust
if "$agent" read "redis://127.0.0.1:$port/0" nobody 2>/dev/null; then
  echo "interop read of values never written passed" >&2
  exit 1
fi
echo "rust: all legs passed"
