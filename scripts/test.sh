#!/usr/bin/env bash
# Every test: the Release suite, then the same suite under AddressSanitizer +
# UndefinedBehaviorSanitizer and under ThreadSanitizer, then the Python
# package's tests (pytest, mypy, a quick run of the demo), and pytest again with
# the compiled module under ASan+UBSan; a clang -Wthread-safety build of the
# library. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

run_suite() {  # name, build dir, extra cmake args...
  local name=$1 dir=$2
  shift 2
  echo "=== $name ==="
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS"
}

run_suite "release" build -DCMAKE_BUILD_TYPE=Release
run_suite "asan+ubsan" build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLIBCACHE_SANITIZE=address,undefined -DLIBCACHE_BUILD_BENCH=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF
run_suite "tsan" build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLIBCACHE_SANITIZE=thread -DLIBCACHE_BUILD_BENCH=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF

# ---- Thread-safety analysis (clang) ----------------------------------------
# The library (engine + C ABI, no tests) built with Debian's clang and
# -Wthread-safety -Werror: a GUARDED_BY member touched, or a REQUIRES function
# called, without its lock fails the build (core/src/thread_annotations.h).
echo "=== clang -Wthread-safety ==="
CC=clang CXX=clang++ cmake -S . -B build-tsa -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DLIBCACHE_BUILD_TESTS=OFF -DLIBCACHE_BUILD_BENCH=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF \
  -DLIBCACHE_INSTALL=OFF "-DCMAKE_CXX_FLAGS=-Wthread-safety -Werror" >/dev/null
cmake --build build-tsa -j "$JOBS"
# ---- end of the thread-safety leg -------------------------------------------
echo "=== python ==="
# pytest exits 5 when it collects no test: that fails here too (set -e).
.venv/bin/python -m pytest
.venv/bin/python -m mypy
.venv/bin/python examples/demo.py --quick >/dev/null
echo "=== python, _core under asan+ubsan ==="
tests/python/run_sanitized.sh
echo "all suites passed"
