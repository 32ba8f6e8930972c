#!/usr/bin/env bash
# No binary may list libmimalloc in DT_NEEDED: the engine dlopen()s it with
# RTLD_LOCAL so that it never becomes the host program's malloc (see
# core/src/alloc.h). Usage: check_needed.sh READELF BINARY...
set -euo pipefail
readelf=$1
shift
status=0
for bin in "$@"; do
  needed=$("$readelf" -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  if [ -z "$needed" ]; then
    echo "FAIL: $bin: no NEEDED entries read (is it a dynamic ELF file?)" >&2
    status=1
  elif grep -qi mimalloc <<<"$needed"; then
    echo "FAIL: $bin needs $(grep -i mimalloc <<<"$needed" | tr '\n' ' ')" >&2
    status=1
  else
    echo "ok: $(basename "$bin") needs: $(tr '\n' ' ' <<<"$needed")"
  fi
done
exit $status
