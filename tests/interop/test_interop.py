"""Python, Node.js, Rust and Go through one Redis (tests/interop/README.md).

Each language's agent writes three values (bytes, a string, a JSON value) in
the shared tagged format (docs/value-format.md) through its own binding's
Redis adapter; every other language's agent then reads them through its own
binding (a local miss reads through to Redis) and checks them byte-exact.
4 writers x 3 readers, one redis-server.

The agents:
  python  tests/interop/agent.py with this interpreter (PYTHONPATH as given)
  node    tests/interop/agent.js (bindings/node, built)
  rust    $LIBCACHE_INTEROP_RUST, else bindings/rust/target/debug/examples/interop
  go      $LIBCACHE_INTEROP_GO, else build/go/interop
An agent that is missing is skipped, unless LIBCACHE_REQUIRE_INTEROP=1
(scripts/test.sh sets it): then it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest
from redis_server import REDIS_SERVER, RedisServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PREFIX_LIB = ROOT / "build" / "prefix" / "lib"  # scripts/setup.sh installs libcache here
REQUIRE = os.environ.get("LIBCACHE_REQUIRE_INTEROP") == "1"


def _agents() -> Dict[str, Optional[List[str]]]:
    node = shutil.which("node")
    rust = Path(os.environ.get("LIBCACHE_INTEROP_RUST", ROOT / "bindings/rust/target/debug/examples/interop"))
    go = Path(os.environ.get("LIBCACHE_INTEROP_GO", ROOT / "build/go/interop"))
    node_built = any((ROOT / "bindings/node/build").glob("**/*.node"))
    return {
        "python": [sys.executable, str(HERE / "agent.py")],
        "node": [node, str(HERE / "agent.js")] if node and node_built else None,
        "rust": [str(rust)] if rust.is_file() else None,
        "go": [str(go)] if go.is_file() else None,
    }


AGENTS = _agents()
LANGS = list(AGENTS)


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    # The Rust and Go agents link libcache.so.1 dynamically.
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(PREFIX_LIB), env.get("LD_LIBRARY_PATH")]))
    return env


def _run(lang: str, mode: str, url: str, writer: str) -> None:
    cmd = AGENTS[lang]
    assert cmd is not None
    r = subprocess.run([*cmd, mode, url, writer], capture_output=True, text=True, timeout=60, env=_env())
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), (
        f"{lang} agent `{mode} {writer}` exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    )


def _need(lang: str) -> None:
    if AGENTS[lang] is None:
        why = f"the {lang} interop agent is not built"
        if REQUIRE:
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        if REQUIRE:
            pytest.fail("needs redis-server")
        pytest.skip("needs redis-server")
    s = RedisServer(tmp_path_factory.mktemp("redis"))
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def written(server: RedisServer) -> Dict[str, bool]:
    """Which writers have written (each once, on first use)."""
    return {}


# Every ordered pair of two languages (a language reading itself is each
# binding's own Redis test).
PAIRS = [(w, r) for w in LANGS for r in LANGS if w != r]


@pytest.mark.parametrize(("writer", "reader"), PAIRS, ids=[f"{w}-to-{r}" for w, r in PAIRS])
def test_reader_reads_what_writer_wrote(
    writer: str, reader: str, server: RedisServer, written: Dict[str, bool]
) -> None:
    _need(writer)
    _need(reader)
    if writer not in written:
        _run(writer, "write", server.url, writer)
        written[writer] = True
    _run(reader, "read", server.url, writer)


def test_reading_a_value_nobody_wrote_fails(server: RedisServer) -> None:
    """The agents' check can fail: a reader of a writer that never wrote exits non-zero."""
    for lang in LANGS:
        if AGENTS[lang] is None:
            continue
        cmd = AGENTS[lang]
        assert cmd is not None
        r = subprocess.run([*cmd, "read", server.url, "nobody"], capture_output=True, text=True, timeout=60,
                           env=_env())  # fmt: skip
        assert r.returncode != 0, f"{lang} agent read keys nobody wrote and said: {r.stdout}"
