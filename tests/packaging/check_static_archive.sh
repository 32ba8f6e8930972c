#!/usr/bin/env bash
# libcache.a must link into any program, including one built without LTO (or
# with another compiler version): no member may be a slim LTO object, one that
# holds only the compiler's intermediate code (.gnu.lto_* sections) and no
# machine code. Fat LTO objects (both) and plain objects pass. Each archive
# must also define the C ABI (cache_open) in machine code, which nm sees
# without a linker plugin.
# Usage: check_static_archive.sh READELF ARCHIVE...
set -euo pipefail
readelf=$1
shift
status=0
for archive in "$@"; do
  # readelf -S --wide prints "File: archive(member)" then that member's section
  # table; a member is slim when it has .gnu.lto_ sections and no .text* section
  # of non-zero size.
  slim=$("$readelf" -S --wide "$archive" | awk '
    function flush() { if (member != "" && lto && !code) print member }
    /^File: / { flush(); member = $2; lto = 0; code = 0; next }
    /\] \.gnu\.lto_/ { lto = 1 }
    /\] \.text/ {
      # [Nr] Name Type Address Off Size ...: the size is the 6th field after "]".
      line = $0; sub(/.*\] /, "", line); split(line, f, /[ \t]+/)
      if (f[5] ~ /[1-9a-fA-F]/) code = 1
    }
    END { flush() }')
  members=$("$readelf" -S --wide "$archive" | grep -c '^File: ' || true)
  if [ "$members" -eq 0 ]; then
    echo "FAIL: $archive: no members read (is it an ar archive?)" >&2
    status=1
  elif [ -n "$slim" ]; then
    echo "FAIL: $archive holds slim LTO objects (no machine code; programs built without" \
      "LTO cannot link them): $(tr '\n' ' ' <<<"$slim")" >&2
    status=1
  elif ! "$readelf" -s --wide "$archive" | awk '$5 == "GLOBAL" && $7 != "UND" && $8 == "cache_open" {found = 1} END {exit !found}'; then
    echo "FAIL: $archive does not define cache_open in machine code" >&2
    status=1
  else
    echo "ok: $(basename "$archive"): $members objects, none slim LTO"
  fi
done
exit $status
