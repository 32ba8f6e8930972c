#!/usr/bin/env bash
# The ABI of libcache.so.1, checked against one explicit table
# (tests/packaging/abi_symbols.txt: symbol, version node, header):
#   - the functions declared with CACHE_API in the public headers are exactly
#     the table's, each in the header the table names; functions of
#     cache_experimental.h are in LIBCACHE_EXPERIMENTAL, those of cache.h in
#     LIBCACHE_1 or LIBCACHE_1.N;
#   - the version script lists every symbol by name (no wildcard in a global:
#     section, `local: *;` in the first node), in the table's node; each stable
#     node LIBCACHE_1.N inherits the one before it, LIBCACHE_EXPERIMENTAL none;
#   - the library exports exactly the table's functions, each as
#     name@@node with the table's node, and its SONAME is libcache.so.1.
# So a function added to a header but not to the table or the map, or given
# the wrong node, fails here.
# Usage: check_symbols.sh NM READELF LIBRARY MAP TABLE HEADER...
set -euo pipefail
nm=$1 readelf=$2 lib=$3 map=$4 table=$5
shift 5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
  echo "FAIL: $*" >&2
  status=1
}
# Prints the lines of two sorted files that differ, under a heading each.
report_diff() {  # label_only_in_a label_only_in_b file_a file_b
  local only_a only_b
  only_a=$(comm -23 "$3" "$4")
  only_b=$(comm -13 "$3" "$4")
  if [ -n "$only_a" ]; then fail "$1:"$'\n'"$only_a"; fi
  if [ -n "$only_b" ]; then fail "$2:"$'\n'"$only_b"; fi
}

# ---- The table ----------------------------------------------------------------
grep -vE '^[[:space:]]*(#|$)' "$table" >"$tmp/table_lines"
awk 'NF != 3 {print "line: " $0; bad = 1} END {exit bad}' "$tmp/table_lines" >&2 ||
  fail "$table: every line must be 'symbol node header'"
awk '{print $1, $2}' "$tmp/table_lines" | sort >"$tmp/want_nodes"
awk '{print $1, $3}' "$tmp/table_lines" | sort >"$tmp/want_headers"
dups=$(awk '{print $1}' "$tmp/table_lines" | sort | uniq -d)
[ -z "$dups" ] || fail "$table lists twice: $dups"
awk '($3 == "cache_experimental.h") != ($2 == "LIBCACHE_EXPERIMENTAL") ||
     ($3 == "cache.h" && $2 !~ /^LIBCACHE_1(\.[0-9]+)?$/) {print; bad = 1} END {exit bad}' \
  "$tmp/table_lines" >"$tmp/bad_nodes" ||
  fail "$table: cache_experimental.h functions belong in LIBCACHE_EXPERIMENTAL, cache.h ones in" \
    "LIBCACHE_1 or LIBCACHE_1.N:"$'\n'"$(cat "$tmp/bad_nodes")"

# ---- The headers ----------------------------------------------------------------
# Declared: "CACHE_API <type> name(" at the start of a line. Every CACHE_API
# line must parse, so a declaration the pattern misses cannot go unchecked.
: >"$tmp/declared"
for h in "$@"; do
  grep -E '^[[:space:]]*CACHE_API[[:space:]]' "$h" >"$tmp/decl_lines" || true
  sed -nE 's/^[[:space:]]*CACHE_API[[:space:]].*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/p' \
    "$tmp/decl_lines" >"$tmp/names"
  if [ "$(wc -l <"$tmp/decl_lines")" -ne "$(wc -l <"$tmp/names")" ]; then
    fail "some CACHE_API lines in $h do not parse as 'CACHE_API <type> name('"
  fi
  sed "s|\$| $(basename "$h")|" "$tmp/names" >>"$tmp/declared"
done
sort -o "$tmp/declared" "$tmp/declared"
dups=$(awk '{print $1}' "$tmp/declared" | uniq -d)
[ -z "$dups" ] || fail "declared twice: $dups"
report_diff "declared in a public header but not in $table (give it a version node there and in $map)" \
  "in $table but not declared in that header" "$tmp/declared" "$tmp/want_headers"

# ---- The version script ---------------------------------------------------------
# Tokens of the map without its comments, one per line: names, '{', '}', ':', ';'.
awk '{
  line = $0; out = ""
  while (line != "") {
    if (in_comment) {
      i = index(line, "*/"); if (i == 0) { line = "" } else { line = substr(line, i + 2); in_comment = 0 }
    } else {
      i = index(line, "/*"); if (i == 0) { out = out line; line = "" }
      else { out = out substr(line, 1, i - 1) " "; line = substr(line, i + 2); in_comment = 1 }
    }
  }
  print out
}' "$map" | sed -E 's/([{}:;])/ \1 /g' | tr -s ' \t' '\n\n' | grep -v '^$' >"$tmp/map_tokens"
# Each token sequence "node {", "global :"/"local :", "name ;", "} [parent] ;"
# becomes one line: "node NAME", "sym NODE SECTION NAME", "parent NODE PARENT".
awk '
  $0 == "{" { node = prev; print "node", node; section = ""; closing = 0; prev = ""; next }
  $0 == ":" { section = prev; prev = ""; next }
  $0 == "}" { closing = 1; prev = ""; next }
  $0 == ";" {
    if (closing) { print "parent", node, (prev == "" ? "-" : prev); closing = 0; node = "" }
    else if (prev != "") print "sym", node, section, prev
    prev = ""; next
  }
  { prev = $0 }
' "$tmp/map_tokens" >"$tmp/map"
awk '$1 == "sym" && $3 == "global" && $4 ~ /[*?[]/' "$tmp/map" >"$tmp/globs"
[ ! -s "$tmp/globs" ] || fail "$map: wildcards in a global: section (list each symbol by name):" \
  "$(awk '{print $2 ": " $4}' "$tmp/globs")"
awk '$1 == "sym" && !($3 == "global" || $3 == "local")' "$tmp/map" >"$tmp/other"
[ ! -s "$tmp/other" ] || fail "$map: symbols outside a global: or local: section: $(cat "$tmp/other")"
locals=$(awk '$1 == "sym" && $3 == "local" {print $2 ":" $4}' "$tmp/map" | tr '\n' ' ')
[ "$locals" = "LIBCACHE_1:* " ] || fail "$map: want exactly 'local: *;' in LIBCACHE_1, got '$locals'"
awk '$1 == "sym" && $3 == "global" {print $4, $2}' "$tmp/map" | sort >"$tmp/map_nodes"
report_diff "in $map but not in $table (or in another node there)" \
  "in $table but not in $map (or in another node there)" "$tmp/map_nodes" "$tmp/want_nodes"
# Inheritance: LIBCACHE_1 and LIBCACHE_EXPERIMENTAL are roots; LIBCACHE_1.N
# inherits the stable node defined just before it.
awk '$1 == "parent" {
  if ($2 == "LIBCACHE_1" || $2 == "LIBCACHE_EXPERIMENTAL") { want = "-" }
  else if ($2 ~ /^LIBCACHE_1\.[0-9]+$/) { want = last_stable }
  else { print $2 ": unknown node name"; bad = 1; next }
  if ($3 != want) { print $2 " inherits " $3 ", want " want; bad = 1 }
  if ($2 != "LIBCACHE_EXPERIMENTAL") last_stable = $2
} END { exit bad }' "$tmp/map" >"$tmp/parents" ||
  fail "$map: version node inheritance:"$'\n'"$(cat "$tmp/parents")"

# ---- The library ------------------------------------------------------------------
# Exported: every defined dynamic symbol except the version nodes themselves.
"$nm" -D --defined-only "$lib" >"$tmp/nm"
awk '!($2 == "A" && $3 !~ /@/) {print $2, $3}' "$tmp/nm" >"$tmp/symbols"
if awk '$1 !~ /^[TtWi]$/ {bad = 1} END {exit !bad}' "$tmp/symbols"; then
  fail "exported symbols that are not functions:"$'\n'"$(awk '$1 !~ /^[TtWi]$/' "$tmp/symbols")"
fi
if grep -vE ' [A-Za-z_][A-Za-z0-9_]*@@LIBCACHE_[A-Z0-9_.]+$' "$tmp/symbols" >"$tmp/unversioned"; then
  fail "exported symbols without a default (@@) LIBCACHE_* version:"$'\n'"$(cat "$tmp/unversioned")"
fi
awk '{split($2, p, "@@"); print p[1], p[2]}' "$tmp/symbols" | sort >"$tmp/exported"
report_diff "exported by $(basename "$lib") but not in $table (or in another node there)" \
  "in $table but not exported so by $(basename "$lib") (or exported in another node)" \
  "$tmp/exported" "$tmp/want_nodes"

soname=$("$readelf" -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libcache.so.1" ] || fail "SONAME is '$soname', want libcache.so.1"

if [ $status -eq 0 ]; then
  echo "ok: $(wc -l <"$tmp/exported") functions exported as declared, in the nodes of" \
    "$(basename "$table") ($(awk '{print $2}' "$tmp/want_nodes" | sort | uniq -c |
      awk '{printf "%s%s: %d", sep, $2, $1; sep = ", "}')), SONAME $soname"
fi
exit $status
