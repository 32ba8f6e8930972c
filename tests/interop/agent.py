"""The Python interop agent (tests/interop/README.md has the contract).

    python agent.py write <redis-url> <lang>   # write <lang>:bytes, :str, :json
    python agent.py read  <redis-url> <lang>   # read what the writer <lang> wrote

Runs the libcache package on PYTHONPATH (scripts/test.sh: build-py/site).
"""

from __future__ import annotations

import sys

import libcache

JSON_VALUE = {"list": [1, 2.5, None, True], "s": "x"}


def expected(lang: str) -> dict[str, object]:
    return {
        f"{lang}:bytes": b"\x00\xff" + lang.encode("ascii"),
        f"{lang}:str": f"héllo from {lang} ✓",
        f"{lang}:json": JSON_VALUE,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] not in ("write", "read"):
        print("usage: agent.py write|read <redis-url> <lang>", file=sys.stderr)
        return 2
    _, mode, url, lang = argv
    cache = libcache.Cache(codec="json")
    redis = cache.attach_redis(url, prefix="interop:")
    try:
        if mode == "write":
            for key, value in expected(lang).items():
                cache.set(key, value)
            redis.flush(5)
        else:
            wrong = []
            for key, want in expected(lang).items():
                got = cache.get(key)  # a local miss reads through to Redis
                if got != want or type(got) is not type(want):
                    wrong.append(f"{key}: expected {want!r}, got {got!r}")
            if wrong:
                print("\n".join(wrong), file=sys.stderr)
                return 1
    finally:
        redis.close()
        cache.close()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
