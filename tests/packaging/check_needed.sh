#!/usr/bin/env bash
# No binary may list a forbidden library in DT_NEEDED: libmimalloc always (the
# engine dlopen()s it with RTLD_LOCAL so that it never becomes the host
# program's malloc, see core/src/alloc.h), and each --forbid REGEX given (for
# example hiredis for libcache.so: only libcache_redis.so may need it).
# Usage: check_needed.sh READELF [--forbid REGEX]... BINARY...
set -euo pipefail
readelf=$1
shift
forbidden=(mimalloc)
while [ "${1:-}" = "--forbid" ]; do
  forbidden+=("$2")
  shift 2
done
status=0
for bin in "$@"; do
  needed=$("$readelf" -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  if [ -z "$needed" ]; then
    echo "FAIL: $bin: no NEEDED entries read (is it a dynamic ELF file?)" >&2
    status=1
    continue
  fi
  bad=""
  for pattern in "${forbidden[@]}"; do
    bad+=$(grep -iE "$pattern" <<<"$needed" | tr '\n' ' ' || true)
  done
  if [ -n "$bad" ]; then
    echo "FAIL: $bin needs $bad(forbidden: ${forbidden[*]})" >&2
    status=1
  else
    echo "ok: $(basename "$bin") needs: $(tr '\n' ' ' <<<"$needed")"
  fi
done
exit $status
