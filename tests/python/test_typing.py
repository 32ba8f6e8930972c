"""The package's types: typing_usage.py passes mypy --strict, and misuse is caught."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Set

import pytest

pytest.importorskip("mypy")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent  # pyproject.toml's [tool.mypy] applies from here


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy_cache")  # keeps .mypy_cache out of the repository


def run_mypy(path: Path, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", str(cache_dir), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_typical_usage_passes_mypy_strict(mypy_cache: Path) -> None:
    result = run_mypy(HERE / "typing_usage.py", mypy_cache)
    assert result.returncode == 0, result.stdout + result.stderr


MISUSE = textwrap.dedent(
    """\
    from libcache import Cache, CacheStats
    c = Cache(max_bytes=1 << 20)
    c.set(1, "v")  # E: a key is str or bytes
    c.get(None)  # E
    c.set("k", 1, ttl="5")  # E: ttl is seconds
    left: str = c.ttl("k")  # E: ttl() is Optional[float]
    Cache(max_bytes="1")  # E
    Cache(shards=1.5)  # E
    Cache(policy=1)  # E: policy is a str
    n: str = len(c)  # E
    ok: str = c.add("k", 1)  # E: add() is bool
    hits: str = c.stats().hits  # E
    c.touch("k")  # E: touch needs a ttl
    c.no_such_method()  # E
    ratio: int = c.stats().hit_ratio  # E
    s: CacheStats = c.stats()
    fine: bool = "k" in c
    """
)


def _expected_lines(source: str) -> Set[int]:
    return {i for i, line in enumerate(source.splitlines(), 1) if "# E" in line}


def test_misuse_is_reported(tmp_path: Path, mypy_cache: Path) -> None:
    path = tmp_path / "misuse.py"
    path.write_text(MISUSE)
    result = run_mypy(path, mypy_cache)
    assert result.returncode == 1, result.stdout + result.stderr
    reported = {int(m.group(1)) for m in re.finditer(r"misuse\.py:(\d+): error:", result.stdout)}
    assert reported == _expected_lines(MISUSE), result.stdout


SUBCLASS = textwrap.dedent(
    """\
    from libcache import Cache

    class UserCache(Cache):
        def user(self, user_id: int) -> str:
            return str(self.get(f"user:{user_id}", ""))

    with UserCache(max_bytes=1 << 20) as users:
        name: str = users.user(42)  # __enter__ returns the subclass, not plain Cache
    """
)


def test_with_statement_keeps_a_subclass_type(tmp_path: Path, mypy_cache: Path) -> None:
    path = tmp_path / "subclass.py"
    path.write_text(SUBCLASS)
    result = run_mypy(path, mypy_cache)
    assert result.returncode == 0, result.stdout + result.stderr
