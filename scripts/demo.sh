#!/usr/bin/env bash
# The main job: the Python demo of libcache's two use cases (examples/demo.py):
# a cache in front of a SQLite database under a skewed read load, and a session
# store. Run scripts/setup.sh first. The C example: build/examples/slow_lookup.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python examples/demo.py "$@"
