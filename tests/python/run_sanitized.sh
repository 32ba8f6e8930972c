#!/usr/bin/env bash
# The Python tests against a libcache._core built with AddressSanitizer and
# UndefinedBehaviorSanitizer (build-py-asan/), loaded into the virtualenv's
# uninstrumented python with the sanitizer runtimes preloaded. The package's
# Python files are copied next to the sanitized module, ahead of the installed
# package on sys.path. Run from scripts/test.sh, after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-$PWD/.venv/bin/python}
BUILD=build-py-asan

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLIBCACHE_SANITIZE=address,undefined -DLIBCACHE_BUILD_PYTHON=ON \
  -DLIBCACHE_BUILD_TESTS=OFF -DLIBCACHE_BUILD_BENCH=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF \
  -DLIBCACHE_INSTALL=OFF -DPython_EXECUTABLE="$PY" \
  -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" >/dev/null
cmake --build "$BUILD" --target _core

site=$BUILD/site
rm -rf "$site" && mkdir -p "$site/libcache"
cp bindings/python/libcache/*.py bindings/python/libcache/*.pyi bindings/python/libcache/py.typed \
  "$site/libcache/"
cp "$BUILD"/bindings/python/_core*.so "$site/libcache/"
cp -r bindings/python/libcache/contrib "$site/libcache/"  # the framework backends

export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
# CPython's own allocations at exit are not ours to report.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PYTHONPATH=$PWD/$site
"$PY" -c "import libcache._core as c, sys; assert c.__file__.startswith('$PWD/$site'), c.__file__"
# mypy (test_typing) checks types, not memory: skipped here, run in the plain suite.
"$PY" -m pytest -p no:cacheprovider -q -k "not typing"
