"""The main job end to end: scripts/demo.sh --quick, the three-tier demo and its fallback.

scripts/demo.sh starts its own redis-server (when installed) and runs
examples/three_tier.py; these tests run it as the README does, with this
interpreter, and check what it prints: that every tier answered, that the
workers saw no stale read and no regression, that every session step was
served and passed, and that the Redis it started is gone afterwards. Without a
working redis-server it must run the single-process demo and say why.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from redis_server import REDIS_SERVER

ROOT = Path(__file__).resolve().parents[2]


def run_demo(env_extra: Dict[str, str]) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ, PYTHON=sys.executable, **env_extra)
    return subprocess.run(
        [str(ROOT / "scripts" / "demo.sh"), "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def count(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in the demo's output:\n{text}"
    return int(m.group(1).replace(",", ""))


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
def test_three_tier_quick() -> None:
    r = run_demo({})
    out = r.stdout
    assert r.returncode == 0, f"exit {r.returncode}\n{out}\n{r.stderr}"
    assert "single-process" not in r.stderr
    port = count(r"started on 127\.0\.0\.1:(\d+)", out)

    # Every tier answered some reads: the local near cache, Redis (pages
    # another worker filled or updated), the database (first reads).
    assert count(r"local near cache\s+([\d,]+)", out) > 0
    assert count(r"Redis \(local miss\)\s+([\d,]+)", out) > 0
    assert count(r"database \(both missed\)\s+([\d,]+)", out) > 0
    assert count(r"price update \(write-through\)\s+([\d,]+)", out) > 0
    # Coherence at work: the updates' invalidations reached the workers.
    assert count(r"invalidations received ([\d,]+)", out) > 0

    # The checks: nothing stale, no worker going back to an older page.
    checked = count(r"([\d,]+) reads checked", out)
    assert checked > 0
    assert count(r"stale reads: (\d+) ", out) == 0
    assert count(r"regressions: (\d+) ", out) == 0

    # Sessions: the first user's steps each on the next worker, all passed;
    # every step of every flow served.
    steps = re.findall(r"\[(ok|FAILED)\] worker (\d)  (.*)", out)
    assert len(steps) == 14, out
    assert all(status == "ok" for status, _, _ in steps), out
    assert [int(w) for _, w, _ in steps] == [1, 2, 3, 1, 2, 1, 3, 1, 2, 3, 1, 2, 3, 1]
    labels = [label for _, _, label in steps]
    assert labels[0].startswith("login") and labels[7].startswith("privilege change")
    assert labels[11].startswith("logout") and all("refused" in labels[k] for k in (8, 9, 12, 13))
    # The slow request's save after another worker's: refused, then redone (no lost item).
    assert "SessionConflict (nothing written), read again and saved: 4 items" in labels[5]
    assert "5 item(s)" in labels[10]
    m = re.search(r"all (\d+) flows: ([\d,]+) of ([\d,]+) steps served .*, (\d+) failed", out)
    assert m and m.group(2) == m.group(3) and m.group(4) == "0", out
    assert "SOME CHECKS FAILED" not in out

    # The Redis that demo.sh started is stopped.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "demo.sh left its redis-server running"


def test_falls_back_without_a_working_redis() -> None:
    r = run_demo({"REDIS_SERVER": "/bin/false"})  # "installed", but never answers
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "/bin/false did not start" in r.stderr
    assert "running the single-process demo (examples/demo.py, no Redis) instead" in r.stderr
    assert "1. Cache-aside in front of a SQLite database" in r.stdout
    assert "SOME CHECKS FAILED" not in r.stdout
