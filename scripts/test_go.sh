#!/usr/bin/env bash
# The Go leg: the module bindings/go (package libcache, libcache/redis,
# libcache/tagged, the interop agent) against the library installed in
# build/prefix by scripts/setup.sh. gofmt, go vet, go test -race (its own
# tests, the conformance suite, Redis tests with a redis-server of their own),
# then the interop agent built to build/go/interop. Needs no network: the
# module has no dependencies outside the standard library (the benchmark
# module bindings/go/bench has its own go.mod; it is vetted when its
# dependencies are in the module cache: `cd bindings/go/bench && go mod download`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
prefix=$root/build/prefix
[ -f "$prefix/lib/pkgconfig/libcache.pc" ] || {
  echo "test_go: $prefix has no libcache.pc: run scripts/setup.sh first" >&2
  exit 1
}
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export GOPROXY=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=1

# Go's build cache does not notice a rebuilt C library: its key for a cgo
# package covers the Go and C sources in the package and CGO_CFLAGS, not the
# headers or libraries pkg-config points to. A stamp of the installed headers
# and libraries in CGO_CFLAGS makes it part of the key, so the cgo packages
# (and only they: no `go clean -cache`, which would make -race rebuild the
# standard library) are rebuilt exactly when libcache changed.
stamp=$(cat "$prefix"/include/libcache/*.h "$prefix"/lib/libcache.so.1 "$prefix"/lib/libcache_redis.so.1 |
  sha256sum | cut -c1-16)
export CGO_CFLAGS="-O2 -g -DLIBCACHE_GO_STAMP=0x$stamp"
echo "=== go: $(go version | cut -d' ' -f3), libcache $(pkg-config --modversion libcache) (stamp $stamp) ==="

cd bindings/go
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "test_go: gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
# -count=1: never a cached result (the library may have changed underneath).
go test -race -count=1 ./...
if (cd bench && go list -deps -test ./... >/dev/null 2>&1); then
  (cd bench && go vet ./... && go test -count=1 -run . -bench '^$' ./...)
else
  echo "test_go: bindings/go/bench's dependencies are not in the module cache: its vet is skipped"
fi
mkdir -p "$root/build/go"
# The agent finds libcache through its rpath: it runs without LD_LIBRARY_PATH.
CGO_LDFLAGS="-Wl,-rpath,$prefix/lib" go build -o "$root/build/go/interop" ./examples/interop
echo "test_go: interop agent built: build/go/interop"
# The agent's command line, Go to Go, through a redis-server of its own on a
# free loopback port (the cross-language runs use the same binary).
redis_dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" \
  --daemonize no --logfile "$redis_dir/redis.log" &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$redis_dir"' EXIT
for _ in $(seq 100); do
  [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
  sleep 0.05
done
url=redis://127.0.0.1:$port/0
[ "$(env -u LD_LIBRARY_PATH "$root/build/go/interop" write "$url" go)" = ok ]
[ "$(env -u LD_LIBRARY_PATH "$root/build/go/interop" read "$url" go)" = ok ]
if "$root/build/go/interop" read "$url" nobody 2>/dev/null; then
  echo "test_go: interop read of a writer that wrote nothing succeeded" >&2
  exit 1
fi
echo "test_go: interop agent: go wrote, go read, through redis-server"
echo "go: all passed"
