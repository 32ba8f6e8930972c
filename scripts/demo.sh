#!/usr/bin/env bash
# The main job: a cache in front of a deliberately slow lookup (see examples/).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build >/dev/null
exec ./build/examples/slow_lookup "$@"
