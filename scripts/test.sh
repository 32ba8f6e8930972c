#!/usr/bin/env bash
# Every test: the Release suite, then the same suite under AddressSanitizer +
# UndefinedBehaviorSanitizer and under ThreadSanitizer, then the Python
# package's tests (pytest, mypy, a quick run of the demo), and pytest again with
# the compiled module under ASan+UBSan. Run scripts/setup.sh
# first.
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
# ---- valgrind (memcheck) on the Release build: a short suite ----------------
# valgrind's malloc replaces mimalloc's too (Debian's libmimalloc exports
# malloc as an alias of mi_malloc), so every entry is a block memcheck sees;
# the C test runs once more with LIBCACHE_ALLOCATOR=libc. Any error, and any
# leak, fails the leg. About a minute.
echo "=== valgrind (release) ==="
VALGRIND=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect)
"${VALGRIND[@]}" build/tests/c_api_test >/dev/null
LIBCACHE_ALLOCATOR=libc "${VALGRIND[@]}" build/tests/c_api_test >/dev/null
"${VALGRIND[@]}" build/tests/alloc_test --gtest_brief=1
"${VALGRIND[@]}" build/tests/capi_test --gtest_brief=1
"${VALGRIND[@]}" build/tests/eviction_test --gtest_brief=1
# ---- end of the valgrind leg -------------------------------------------------
run_suite "asan+ubsan" build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLIBCACHE_SANITIZE=address,undefined -DLIBCACHE_BUILD_BENCH=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF
run_suite "tsan" build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLIBCACHE_SANITIZE=thread -DLIBCACHE_BUILD_BENCH=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF
echo "=== python ==="
# pytest exits 5 when it collects no test: that fails here too (set -e).
.venv/bin/python -m pytest
.venv/bin/python -m mypy
.venv/bin/python examples/demo.py --quick >/dev/null
echo "=== python, _core under asan+ubsan ==="
tests/python/run_sanitized.sh
echo "all suites passed"
