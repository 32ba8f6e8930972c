#!/usr/bin/env bash
# libcache.so must export exactly the functions declared with CACHE_API in the
# public headers, under the version nodes of major version 1 (LIBCACHE_1, and
# LIBCACHE_1.N for functions added in minor release N), and carry the SONAME
# libcache.so.1. Usage: check_symbols.sh NM READELF LIBRARY HEADER...
set -euo pipefail
nm=$1 readelf=$2 lib=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

# Declared: "CACHE_API <type> name(" at the start of a line. Every CACHE_API
# line must parse, so a declaration the pattern misses cannot go unchecked.
grep -hE '^[[:space:]]*CACHE_API[[:space:]]' "$@" >"$tmp/decl_lines"
sed -nE 's/^[[:space:]]*CACHE_API[[:space:]].*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/p' \
  "$tmp/decl_lines" | sort >"$tmp/declared"
if [ "$(wc -l <"$tmp/decl_lines")" -ne "$(wc -l <"$tmp/declared")" ]; then
  echo "FAIL: some CACHE_API lines in the headers do not parse as 'CACHE_API <type> name('" >&2
  status=1
fi
if [ -n "$(uniq -d "$tmp/declared")" ]; then
  echo "FAIL: declared twice: $(uniq -d "$tmp/declared" | tr '\n' ' ')" >&2
  status=1
fi

# Exported: every defined dynamic symbol except the version node itself.
"$nm" -D --defined-only "$lib" >"$tmp/nm"
awk '!($2 == "A" && $3 !~ /@/) {print $2, $3}' "$tmp/nm" >"$tmp/symbols"
awk '{sub(/@.*/, "", $2); print $2}' "$tmp/symbols" | sort >"$tmp/exported"
if awk '$1 !~ /^[TtWi]$/ {bad = 1} END {exit !bad}' "$tmp/symbols"; then
  echo "FAIL: exported symbols that are not functions:" >&2
  awk '$1 !~ /^[TtWi]$/' "$tmp/symbols" >&2
  status=1
fi
if grep -vE '@@LIBCACHE_1(\.[0-9]+)?$' "$tmp/symbols" | grep -q .; then
  echo "FAIL: exported symbols outside the LIBCACHE_1 and LIBCACHE_1.N version nodes:" >&2
  grep -vE '@@LIBCACHE_1(\.[0-9]+)?$' "$tmp/symbols" >&2
  status=1
fi

extra=$(comm -13 "$tmp/declared" "$tmp/exported")
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
if [ -n "$extra" ]; then
  echo "FAIL: exported but not declared in the public headers:" $extra >&2
  status=1
fi
if [ -n "$missing" ]; then
  echo "FAIL: declared but not exported:" $missing >&2
  status=1
fi

soname=$("$readelf" -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libcache.so.1" ]; then
  echo "FAIL: SONAME is '$soname', want libcache.so.1" >&2
  status=1
fi

[ $status -eq 0 ] && echo "ok: $(wc -l <"$tmp/declared") functions exported as declared, SONAME $soname"
exit $status
