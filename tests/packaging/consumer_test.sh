#!/usr/bin/env bash
# Builds and runs tests/consumer the three ways a downstream project can use
# libcache:
#   (a) add_subdirectory of the libcache source tree;
#   (b) cmake --install of the libcache build into a temporary prefix, then
#       find_package(libcache 1.0 REQUIRED); find_package(libcache 2.0) must
#       fail (SameMajorVersion);
#   (c) cc $(pkg-config --cflags --libs libcache) against that same prefix.
# When the build has the Redis adapter (libcache_redis), each way also builds
# consumer_redis against libcache::redis (find_package(libcache COMPONENTS
# redis)) and pkg-config libcache-redis; find_package(libcache COMPONENTS
# nosuch) must fail.
# Usage: consumer_test.sh CMAKE SOURCE_DIR LIBCACHE_BUILD_DIR WORK_DIR CC CXX PKG_CONFIG
set -euo pipefail
cmake=$1 src=$2 build=$3 work=$4 cc=$5 cxx=$6 pkg_config=$7
consumer=$src/tests/consumer

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step_start=$SECONDS
step() {
  echo "=== $* (previous step: $((SECONDS - step_start)) s)"
  step_start=$SECONDS
}
redis=()
exes=(consumer_cxx_shared consumer_cxx_static consumer_hpp_shared consumer_hpp_static
      consumer_c_shared consumer_c_static)
if compgen -G "$build/redis/libcache_redis.so*" >/dev/null; then
  redis=(-DLIBCACHE_CONSUMER_REDIS=ON)
  exes+=(consumer_redis)
fi
run_consumers() {  # build dir
  for exe in "${exes[@]}"; do
    "$1/$exe" || fail "$1/$exe exited with $?"
  done
}

rm -rf "$work"
mkdir -p "$work"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
common=("${generator[@]}" -DCMAKE_BUILD_TYPE=Release
        "-DCMAKE_C_COMPILER=$cc" "-DCMAKE_CXX_COMPILER=$cxx")

step "(a) add_subdirectory($src)"
"$cmake" -S "$consumer" -B "$work/subdir" "${common[@]}" "${redis[@]}" "-DLIBCACHE_SOURCE_DIR=$src" >/dev/null
"$cmake" --build "$work/subdir" >/dev/null
run_consumers "$work/subdir"

step "(b) cmake --install, then find_package(libcache 1.0 REQUIRED)"
prefix=$work/prefix
"$cmake" --install "$build" --prefix "$prefix" >/dev/null
headers=(cache.h cache_experimental.h export.h cache.hpp)
if ((${#redis[@]})); then headers+=(cache_redis.h cache_store.h cache_redis.hpp); fi
for h in "${headers[@]}"; do
  [ -f "$prefix/include/libcache/$h" ] || fail "include/libcache/$h not installed"
done
config=$(find "$prefix" -name libcacheConfig.cmake)
pc=$(find "$prefix" -name libcache.pc)
[ -n "$config" ] || fail "no libcacheConfig.cmake under $prefix"
[ -n "$pc" ] || fail "no libcache.pc under $prefix"
libdir=$(dirname "$(dirname "$pc")")
echo "installed libdir: ${libdir#"$prefix"/}"
[ -e "$libdir/libcache.so.1" ] && [ -e "$libdir/libcache.a" ] ||
  fail "libcache.so.1 or libcache.a missing from $libdir"
"$cmake" -S "$consumer" -B "$work/installed" "${common[@]}" "${redis[@]}" "-DCMAKE_PREFIX_PATH=$prefix" >/dev/null
"$cmake" --build "$work/installed" >/dev/null
run_consumers "$work/installed"
loaded=$(ldd "$work/installed/consumer_c_shared" | awk '/libcache\.so/ {print $3}')
[ "$(realpath "$loaded")" = "$(realpath "$libdir/libcache.so.1")" ] ||
  fail "the find_package consumer loads '$loaded', not the installed $libdir/libcache.so.1"

step "(b) find_package(libcache 2.0) must fail"
if "$cmake" -S "$consumer" -B "$work/v2" "${common[@]}" "-DCMAKE_PREFIX_PATH=$prefix" \
    -DLIBCACHE_REQUIRED_VERSION=2.0 >"$work/v2.log" 2>&1; then
  fail "find_package(libcache 2.0) accepted version 1.x"
fi
grep -q 'requested version "2.0"' "$work/v2.log" ||
  { cat "$work/v2.log" >&2; fail "find_package(libcache 2.0) failed for another reason"; }

if ((${#redis[@]})); then
  step "(b) find_package(libcache COMPONENTS nosuch) must fail"
  if "$cmake" -S "$consumer" -B "$work/nosuch" "${common[@]}" "-DCMAKE_PREFIX_PATH=$prefix" \
      -DLIBCACHE_COMPONENTS=nosuch >"$work/nosuch.log" 2>&1; then
    fail "find_package(libcache COMPONENTS nosuch) succeeded"
  fi
  grep -q "no component 'nosuch'" "$work/nosuch.log" ||
    { cat "$work/nosuch.log" >&2; fail "find_package(libcache COMPONENTS nosuch) failed for another reason"; }
  loaded=$(ldd "$work/installed/consumer_redis" | awk '/libcache_redis\.so/ {print $3}')
  [ "$(realpath "$loaded")" = "$(realpath "$libdir/libcache_redis.so.1")" ] ||
    fail "consumer_redis loads '$loaded', not the installed $libdir/libcache_redis.so.1"
fi

step "(c) pkg-config"
export PKG_CONFIG_PATH=$(dirname "$pc")
[ "$("$pkg_config" --modversion libcache)" = 1.6.0 ] || fail "pkg-config --modversion is not 1.6.0"
pc_libdir=$(realpath -m "$("$pkg_config" --variable=libdir libcache)")
pc_includedir=$(realpath -m "$("$pkg_config" --variable=includedir libcache)")
if [ "$pc_libdir" != "$(realpath "$libdir")" ] ||
   [ "$pc_includedir" != "$(realpath "$prefix/include")" ]; then
  fail "libcache.pc installed in $prefix says libdir=$pc_libdir includedir=$pc_includedir:" \
    "it keeps the configure-time prefix, so 'cmake --install --prefix' yields a .pc that" \
    "points elsewhere (make it relocatable, e.g. prefix=\${pcfiledir}/<relative path>)"
fi
# shellcheck disable=SC2046  # word splitting of the flags is intended
"$cc" "$consumer/consumer.c" -o "$work/pkg_config_consumer" \
  $("$pkg_config" --cflags --libs libcache)
LD_LIBRARY_PATH=$pc_libdir "$work/pkg_config_consumer" || fail "pkg_config_consumer failed"
# The header-only C++ API through the same flags (C++17, its floor).
# shellcheck disable=SC2046  # word splitting of the flags is intended
"$cxx" -std=c++17 "$consumer/consumer_hpp.cc" -o "$work/pkg_config_consumer_hpp" \
  $("$pkg_config" --cflags --libs libcache)
LD_LIBRARY_PATH=$pc_libdir "$work/pkg_config_consumer_hpp" || fail "pkg_config_consumer_hpp failed"
loaded=$(LD_LIBRARY_PATH=$pc_libdir ldd "$work/pkg_config_consumer" | awk '/libcache\.so/ {print $3}')
[ "$(realpath "$loaded")" = "$(realpath "$libdir/libcache.so.1")" ] ||
  fail "pkg_config_consumer loads '$loaded', not the installed library"

if ((${#redis[@]})); then
  step "(c) pkg-config libcache-redis"
  [ "$("$pkg_config" --modversion libcache-redis)" = "$("$pkg_config" --modversion libcache)" ] ||
    fail "libcache-redis.pc and libcache.pc disagree on the version"
  # shellcheck disable=SC2046  # word splitting of the flags is intended
  "$cc" "$consumer/consumer_redis.c" -o "$work/pkg_config_consumer_redis" \
    $("$pkg_config" --cflags --libs libcache-redis)
  LD_LIBRARY_PATH=$pc_libdir "$work/pkg_config_consumer_redis" ||
    fail "pkg_config_consumer_redis failed"
fi

step "done"
rm -rf "$work"
echo "ok: add_subdirectory, find_package and pkg-config consumers all work"
