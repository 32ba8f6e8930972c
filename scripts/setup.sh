#!/usr/bin/env bash
# Installs what libcache needs on a fresh Debian machine (idempotent; fast when
# everything is present), builds the Release tree in build/, and makes the
# Python virtualenv .venv/ with the package (pip install .) and what its tests,
# benchmarks and demo use.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake ninja-build pkg-config
          libxxhash-dev libmimalloc-dev libgtest-dev libgmock-dev libbenchmark-dev
          valgrind clang python3 python3-venv python3-dev
          librocksdb-dev libleveldb-dev zlib1g-dev
          libhiredis-dev redis-server nlohmann-json3-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
# A staged install of that build (headers, libcache.so.1, libcache.a,
# libcache_redis.so.1, pkg-config files) for the Rust and Go bindings, which
# find libcache with pkg-config: PKG_CONFIG_PATH=build/prefix/lib/pkgconfig,
# LD_LIBRARY_PATH=build/prefix/lib (scripts/test_rust.sh and test_go.sh set them).
cmake --install build --prefix build/prefix >/dev/null

# ---- Node.js -------------------------------------------------------------------
# The Node package bindings/node: npm ci installs its locked dependencies
# (cmake-js, node-addon-api, node-api-headers; typescript and lru-cache for
# its tests and benchmark) and builds the addon (its install script: cmake-js
# against node-api-headers, downloading nothing). Node 20 and npm come with
# the machine; Debian's nodejs and npm are installed when they are missing.
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
(cd bindings/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
echo "setup: node package libcache built in bindings/node (node $(node --version))"

# ---- Rust and Go ---------------------------------------------------------------
# The machine's toolchains (Rust >= 1.80 by rustup, Go >= 1.24 for
# runtime.AddCleanup); their dependencies come from crates.io and the Go module
# proxy, locked by bindings/rust/Cargo.lock and bindings/go/go.sum, fetched
# here so that the tests need no network.
for tool in cargo go; do
  command -v "$tool" >/dev/null 2>&1 || { echo "setup: $tool not found: install the Rust (rustup) and Go toolchains" >&2; exit 1; }
done
if [ -f bindings/rust/Cargo.lock ]; then
  (cd bindings/rust && cargo fetch --locked -q)
  echo "setup: Rust crates fetched for bindings/rust ($(cargo --version))"
fi
if [ -f bindings/go/go.mod ]; then
  (cd bindings/go && go mod download)
  (cd bindings/go/bench && go mod download)  # the benchmark's peers: otter, ristretto
  echo "setup: Go modules downloaded for bindings/go ($(go version))"
fi

# ---- Python -------------------------------------------------------------------
# pip builds the package from this tree (scikit-build-core + pybind11, from PyPI).
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check ".[test,bench,demo,django,flask]"
.venv/bin/python -c "import libcache; print('setup: python package libcache', libcache.__version__, 'installed in .venv')"

# Django's own cache backend tests (tests/cache/ of Django's source distribution,
# for the installed version), which tests/python/test_django_suite.py runs against
# libcache.contrib.django.LibcacheCache; kept in the git-ignored .cache/.
DJANGO_VERSION="$(.venv/bin/python -c 'import django; print(django.__version__)')"
if [ ! -f ".cache/django-tests/$DJANGO_VERSION/tests/cache/tests.py" ]; then
  rm -rf .cache/django-tests .cache/django-src
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    "django==$DJANGO_VERSION" -d .cache/django-src
  mkdir -p ".cache/django-tests/$DJANGO_VERSION"
  tar xzf ".cache/django-src/django-$DJANGO_VERSION.tar.gz" -C ".cache/django-tests/$DJANGO_VERSION" \
    --strip-components=1 "django-$DJANGO_VERSION/tests/cache/"
  ln -sfn "$DJANGO_VERSION/tests" .cache/django-tests/tests
  rm -rf .cache/django-src
  echo "setup: Django $DJANGO_VERSION's tests/cache fetched into .cache/django-tests/"
fi

# Flask-Caching's generic backend tests (tests/test_backend_cache.py of its source
# distribution, for the installed version), which
# tests/python/test_flask_caching_backend.py runs against
# libcache.contrib.flask_caching.LibcacheCache.
fc_ver=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('flask-caching'))")
if [ "$(cat .venv/flask-caching-tests/VERSION 2>/dev/null)" != "$fc_ver" ]; then
  fc_tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    "flask-caching==$fc_ver" -d "$fc_tmp"
  mkdir -p .venv/flask-caching-tests
  tar xzf "$fc_tmp/flask_caching-$fc_ver.tar.gz" -C .venv/flask-caching-tests --strip-components=2 \
    "flask_caching-$fc_ver/tests/test_backend_cache.py"
  echo "$fc_ver" > .venv/flask-caching-tests/VERSION
  rm -rf "$fc_tmp"
  echo "setup: Flask-Caching $fc_ver's backend tests fetched into .venv/flask-caching-tests/"
fi
