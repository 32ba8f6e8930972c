#!/usr/bin/env bash
# Instructions per operation for every cache_bench workload, counted by
# callgrind (repeatable where timings are noisy). Builds cache_opcount in
# build-bench/ (Release) if needed, runs it under valgrind for each workload and
# engine (two at a time), keeps the profiles in build-bench/opcount/ and prints
# a markdown table with each engine's hottest functions.
#   bench/opcount.sh [ops per run, default 200000]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build-bench
OPS=${1:-200000}
OUT=$BUILD/opcount

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLIBCACHE_BUILD_TESTS=OFF -DLIBCACHE_BUILD_EXAMPLES=OFF -DLIBCACHE_INSTALL=OFF >/dev/null
fi
cmake --build "$BUILD" --target cache_opcount >/dev/null
mkdir -p "$OUT"

run_one() {  # workload engine
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$OUT/$1.$2.callgrind" \
    "$BUILD/bench/cache_opcount" "$1" "$2" "$OPS" >"$OUT/$1.$2.txt" 2>"$OUT/$1.$2.log"
  callgrind_annotate "$OUT/$1.$2.callgrind" >"$OUT/$1.$2.annotate" 2>/dev/null
}
export -f run_one
export BUILD OUT OPS
for w in get-hit-32k get-hit-1m get-miss set-evict; do
  for e in libcache mutex-lru; do echo "$w $e"; done
done | xargs -P 2 -L 1 bash -c 'run_one "$0" "$1"'

python3 - "$OUT" "$OPS" <<'PY'
import os, re, sys
out, ops = sys.argv[1], int(sys.argv[2])
LINE = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$")

def short(name):
    """'file:ret ns::f<long args>(params) [obj]' -> 'ns::f<...>'."""
    obj = re.search(r"\[([^\]]*)\]$", name)
    name = re.sub(r"\s*\[[^\]]*\]$", "", name).split(":", 1)[1]
    if name.startswith("0x") and obj:  # no symbol: name the library
        return "%s@%s" % (os.path.basename(obj.group(1)).split(".so")[0], name)
    name = re.sub(r"cache_bench::\(anonymous namespace\)::|cache_bench::", "", name)
    out, depth, start = "", 0, 0
    for i, ch in enumerate(name):  # collapse long top-level template argument lists
        if ch == "<":
            depth += 1
            if depth == 1:
                start = i
        elif ch == ">" and depth > 0:
            depth -= 1
            if depth == 0:
                out += name[start:i + 1] if i - start <= 30 else "<...>"
        elif depth == 0:
            if ch == "(" and i > 0:  # the parameter list: done
                break
            out += ch
    return out.split(" ")[-1]  # drop the return type


def parse(path):
    total, funcs, objs = None, [], {}
    for line in open(path):
        m = LINE.match(line)
        if not m:
            continue
        ir, name = int(m.group(1).replace(",", "")), m.group(2)
        if name.startswith("PROGRAM TOTALS"):
            total = ir
        elif total is not None and ":" in name:
            funcs.append((ir, short(name)))
            obj = re.search(r"\[([^\]]*)\]$", name)
            obj = os.path.basename(obj.group(1)).split(".so")[0] if obj else "?"
            objs[obj] = objs.get(obj, 0) + ir
    return total, funcs, objs

print("Instructions per operation (callgrind, %d operations after %d of warm-up)\n" % (ops, ops))
WORKLOADS = ("get-hit-32k", "get-hit-1m", "get-miss", "set-evict")
ENGINES = ("libcache", "mutex-lru")
data = {}
for w in WORKLOADS:
    for e in ENGINES:
        path = os.path.join(out, "%s.%s.annotate" % (w, e))
        if os.path.exists(path):
            data[w, e] = parse(path)

def per_op(pairs):
    return ", ".join("%s %.0f" % (n, ir / ops) for ir, n in pairs if ir / ops >= 1)

print("| workload | libcache Ir/op | mutex-LRU Ir/op | libcache hottest (Ir/op) | mutex-LRU hottest (Ir/op) |")
print("|---|---:|---:|---|---|")
for w in WORKLOADS:
    cells = [("%.0f" % (data[w, e][0] / ops)) if (w, e) in data else "-" for e in ENGINES]
    tops = [per_op(data[w, e][1][:5]) if (w, e) in data else "-" for e in ENGINES]
    print("| %s | %s | %s | %s | %s |" % (w, cells[0], cells[1], tops[0], tops[1]))
print("\nBy object (Ir/op):\n")
print("| workload | libcache | mutex-LRU |")
print("|---|---|---|")
for w in WORKLOADS:
    cells = []
    for e in ENGINES:
        objs = data[w, e][2] if (w, e) in data else {}
        cells.append(per_op(sorted(((v, k) for k, v in objs.items()), reverse=True)) or "-")
    print("| %s | %s | %s |" % (w, cells[0], cells[1]))
print("\nIr/op includes the driver loop (a key-stream read and loop control: the Run<...> entry, about 20 Ir).")
PY
