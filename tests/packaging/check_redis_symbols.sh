#!/usr/bin/env bash
# libcache_redis.so.1 exports exactly the functions that <libcache/cache_redis.h>
# declares with CACHE_API, all named cache_redis_*, each listed by name in the
# version script (no wildcard in a global: section) and exported as
# name@@LIBCACHE_REDIS_1.N; nothing else (no hiredis, no libstdc++ template).
# Its SONAME is libcache_redis.so.1.
# Usage: check_redis_symbols.sh NM READELF LIBRARY MAP HEADER
set -euo pipefail
nm=$1 readelf=$2 lib=$3 map=$4 header=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
  echo "FAIL: $*" >&2
  status=1
}
compare() {  # label_a label_b file_a file_b
  local a b
  a=$(comm -23 "$3" "$4")
  b=$(comm -13 "$3" "$4")
  [ -z "$a" ] || fail "$1:"$'\n'"$a"
  [ -z "$b" ] || fail "$2:"$'\n'"$b"
}
grep -E '^[[:space:]]*CACHE_API[[:space:]]' "$header" >"$tmp/decl_lines" || true
sed -nE 's/^[[:space:]]*CACHE_API[[:space:]].*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/p' \
  "$tmp/decl_lines" | sort >"$tmp/declared"
[ "$(wc -l <"$tmp/decl_lines")" -eq "$(wc -l <"$tmp/declared")" ] ||
  fail "some CACHE_API lines in $header do not parse as 'CACHE_API <type> name('"
if grep -v '^cache_redis_' "$tmp/declared" >"$tmp/bad_names"; then
  fail "$header declares functions not named cache_redis_*: $(cat "$tmp/bad_names")"
fi
# The map's global names (comments stripped).
sed -e 's|/\*.*\*/||g' "$map" | awk '/\/\*/ {c = 1} !c {print} /\*\// {c = 0}' |
  awk '/global:/ {g = 1; next} /local:/ || /^[[:space:]]*}/ {g = 0} g' | tr -d ' \t;' | grep -v '^$' | sort >"$tmp/map"
if grep -q '[*?]' "$tmp/map"; then fail "$map: wildcard in a global: section"; fi
compare "declared in $(basename "$header") but not in $(basename "$map")" \
  "in $(basename "$map") but not declared" "$tmp/declared" "$tmp/map"
"$nm" -D --defined-only "$lib" | awk '!($2 == "A" && $3 !~ /@/) {print $2, $3}' >"$tmp/symbols"
if grep -vE '^[TtWi] cache_redis_[a-z0-9_]+@@LIBCACHE_REDIS_1\.[0-9]+$' "$tmp/symbols" >"$tmp/other"; then
  fail "$(basename "$lib") exports what it should not (or unversioned):"$'\n'"$(cat "$tmp/other")"
fi
awk '{split($2, p, "@@"); print p[1]}' "$tmp/symbols" | sort >"$tmp/exported"
compare "exported but not declared" "declared but not exported" "$tmp/exported" "$tmp/declared"
soname=$("$readelf" -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libcache_redis.so.1" ] || fail "SONAME is '$soname', want libcache_redis.so.1"
if [ $status -eq 0 ]; then
  echo "ok: $(wc -l <"$tmp/exported") cache_redis_* functions exported as declared, SONAME $soname"
fi
exit $status
