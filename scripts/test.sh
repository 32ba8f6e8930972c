#!/usr/bin/env bash
# Every test: the Release suite, then the same suite under AddressSanitizer +
# UndefinedBehaviorSanitizer and under ThreadSanitizer, then the Python
# package's tests (pytest, mypy, a quick run of the demo), and pytest again with
# the compiled module under ASan+UBSan; a clang -Wthread-safety build of the
# library; the Node.js, Rust and Go bindings' legs; the interop test of every
# language pair through one Redis. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

run_suite() {  # name, build dir, extra cmake args...
  local name=$1 dir=$2
  shift 2
  echo "=== $name ==="
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
  # --repeat until-pass:2: CoherenceMultiTest.AfterQuiescence... still fails intermittently
  # (seen under TSan, cause not found); a second failure still fails the leg.
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --repeat until-pass:2
}

run_suite "release" build -DCMAKE_BUILD_TYPE=Release
# The staged install the Rust and Go bindings link against (as setup.sh makes
# it), refreshed from the build just tested.
cmake --install build --prefix build/prefix >/dev/null
# ---- valgrind (memcheck) on the Release build: a short suite ----------------
# valgrind's malloc replaces mimalloc's too (Debian's libmimalloc exports
# malloc as an alias of mi_malloc), so every entry is a block memcheck sees;
# the C test runs once more with LIBCACHE_ALLOCATOR=libc. Any error, and any
# leak, fails the leg. About a minute. --fair-sched=yes: valgrind runs one
# thread at a time, and its default lock is unfair, so a test thread that spins
# waiting for another could starve it (one capi_test run hung for 30 min).
echo "=== valgrind (release) ==="
VALGRIND=(valgrind -q --fair-sched=yes --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect)
"${VALGRIND[@]}" build/tests/c_api_test >/dev/null
LIBCACHE_ALLOCATOR=libc "${VALGRIND[@]}" build/tests/c_api_test >/dev/null
"${VALGRIND[@]}" build/tests/alloc_test --gtest_brief=1
"${VALGRIND[@]}" build/tests/capi_test --gtest_brief=1
"${VALGRIND[@]}" build/tests/eviction_test --gtest_brief=1
"${VALGRIND[@]}" build/tests/object_test --gtest_brief=1
# ---- end of the valgrind leg -------------------------------------------------
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
# ---- Python: the package of this tree, rebuilt -------------------------------
# Not the copy setup.sh installed into .venv (an edit since would leave it
# stale): _core is built from this tree in build-py/ (the wheel's
# configuration; incremental), and the package's files with it go into
# build-py/site, first on PYTHONPATH for pytest, mypy and the demo.
echo "=== python ==="
PY=$PWD/.venv/bin/python
cmake -S . -B build-py -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIBCACHE_BUILD_PYTHON=ON \
  -DLIBCACHE_BUILD_TESTS=OFF -DLIBCACHE_BUILD_BENCH=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF \
  -DLIBCACHE_INSTALL=OFF -DPython_EXECUTABLE="$PY" \
  -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" >/dev/null
cmake --build build-py -j "$JOBS" --target _core
# The Python build's libcache.a (LTO for _core) must still link without LTO.
bash tests/packaging/check_static_archive.sh readelf build-py/libcache.a
site=$PWD/build-py/site
rm -rf "$site" && mkdir -p "$site/libcache"
cp bindings/python/libcache/*.py bindings/python/libcache/*.pyi bindings/python/libcache/py.typed \
  build-py/bindings/python/_core*.so "$site/libcache/"
cp -r bindings/python/libcache/contrib "$site/libcache/"  # the framework backends
export PYTHONPATH=$site
"$PY" -c "import libcache, libcache._core as c
for m in (libcache, c): assert m.__file__.startswith('$site/'), m.__file__"
# pytest exits 5 when it collects no test: that fails here too (set -e).
"$PY" -m pytest
"$PY" -m mypy
# The main job (scripts/demo.sh: three tiers with a redis-server of its own, or
# the single-process demo without one), quick; tests/python/test_demo.py checks
# its output.
PYTHON="$PY" scripts/demo.sh --quick >/dev/null
unset PYTHONPATH
# ---- end of the Python leg -----------------------------------------------------
# ---- Node.js: the addon rebuilt from this tree, its tests, its types ---------
echo "=== node ==="
# The interop test (bindings/node/test/interop.test.js) runs the Python package
# of this tree (build-py/site, built above) against the same redis-server.
(cd bindings/node && npm run --silent build >/dev/null &&
  LIBCACHE_PYTHON="$PY" LIBCACHE_PYTHONPATH="$site" LIBCACHE_REQUIRE_INTEROP=1 npm test &&
  npm run --silent typecheck)
# ---- end of the Node.js leg ----------------------------------------------------
# ---- Rust and Go: each binding's own leg (fmt, lints, tests with the
# conformance runner and a real redis-server, the interop agent) -----------------
echo "=== rust ==="
scripts/test_rust.sh
echo "=== go ==="
scripts/test_go.sh
# ---- Every language through one Redis (tests/interop) --------------------------
echo "=== interop: python, node, rust, go ==="
LIBCACHE_REQUIRE_INTEROP=1 PYTHONPATH="$site" "$PY" -m pytest tests/interop
echo "=== python, _core under asan+ubsan ==="
tests/python/run_sanitized.sh
echo "all suites passed"
