#!/usr/bin/env bash
# A plain `cmake -S . -B build` (the README's install snippet) must configure
# on a machine without Google Test or Google Benchmark: the tests and the
# benchmarks that need them are skipped with a message, never a configure
# error. Configures (and generates) the project in WORK_DIR with both packages
# hidden from find_package.
# Usage: configure_test.sh CMAKE SOURCE_DIR WORK_DIR
set -euo pipefail
cmake=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if ! "$cmake" -S "$src" -B "$work/build" "${generator[@]}" \
    -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON \
    >"$work/configure.log" 2>&1; then
  cat "$work/configure.log" >&2
  echo "FAIL: configuring without GTest and benchmark is an error" >&2
  exit 1
fi
# CMake wraps long messages: compare with the output on one line.
tr -s ' \n' '  ' <"$work/configure.log" >"$work/configure.flat"
status=0
for want in "Google Test not found" "Google Benchmark not found"; do
  if ! grep -qF "$want" "$work/configure.flat"; then
    echo "FAIL: no '$want' message in the configure output" >&2
    status=1
  fi
done
if [ $status -ne 0 ]; then
  cat "$work/configure.log" >&2
  exit 1
fi
grep -oE "libcache[ a-z]*: Google (Test|Benchmark) not found[^:]*" "$work/configure.flat"
rm -rf "$work"
echo "ok: configures without Google Test and Google Benchmark, saying what it skips"
