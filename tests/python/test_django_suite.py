"""Django's own cache backend tests (BaseCacheTests) run against LibcacheCache.

Django's source distribution holds tests/cache/tests.py, whose BaseCacheTests
mixin every built-in backend runs through a settings override;
scripts/setup.sh fetches it (for the installed Django version) into
.cache/django-tests/. Here the mixin runs with
BACKEND = "libcache.contrib.django.LibcacheCache", one pytest test per Django
test, in a test database (the mixin caches model instances). The tests that
cannot apply are skipped with their reason in SKIPS.
"""

from __future__ import annotations

import unittest
from typing import Any, Dict, Iterator, List

import pytest

pytest.importorskip("django")

import django_settings  # noqa: E402

if not django_settings.suite_available():
    pytest.skip(
        f"Django's tests/cache sources are missing from {django_settings.DJANGO_TESTS} "
        "(scripts/setup.sh fetches them)",
        allow_module_level=True,
    )

django_settings.configure()

from cache import tests as dj  # noqa: E402  (Django's tests/cache/tests.py)
from django.test import TestCase, override_settings  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

CULL = (
    "libcache evicts one entry at a time (CLOCK order) to stay within MAX_ENTRIES, so a full cache of "
    "MAX_ENTRIES=30 keeps 30 entries; Django's culling (CULL_FREQUENCY) drops a fraction at once, and the "
    "test counts its exact remainder (29, or 19 for CULL_FREQUENCY=0)"
)
SKIPS: Dict[str, str] = {
    "test_cull": CULL,
    "test_zero_cull": CULL,
}


@override_settings(
    CACHES=dj.caches_setting_for_tests(BACKEND=django_settings.BACKEND, LOCATION="django-suite")
)
class LibcacheCacheTests(dj.BaseCacheTests, TestCase):  # type: ignore[misc]
    __test__ = False  # run by test_django_cache_suite below, inside the test databases


for _name, _reason in SKIPS.items():
    setattr(LibcacheCacheTests, _name, unittest.skip(_reason)(getattr(LibcacheCacheTests, _name)))

NAMES: List[str] = sorted(n for n in dir(LibcacheCacheTests) if n.startswith("test_"))


@pytest.fixture(scope="module")
def test_databases() -> Iterator[None]:
    from django.test.runner import DiscoverRunner

    setup_test_environment()
    runner = DiscoverRunner(verbosity=0, interactive=False)
    old = runner.setup_databases()
    try:
        yield
    finally:
        runner.teardown_databases(old)
        teardown_test_environment()


@pytest.mark.parametrize("name", NAMES)
def test_django_cache_suite(name: str, test_databases: Any) -> None:
    result = unittest.TestResult()
    unittest.TestSuite([LibcacheCacheTests(name)]).run(result)
    if result.skipped:
        pytest.skip(result.skipped[0][1])
    problems = result.errors + result.failures
    if problems:
        pytest.fail("\n".join(trace for _test, trace in problems), pytrace=False)
    assert result.testsRun == 1 and result.wasSuccessful()


def test_every_base_test_is_run() -> None:
    base = {n for n in dir(dj.BaseCacheTests) if n.startswith("test_")}
    assert base <= set(NAMES)
    assert set(SKIPS) <= base
