"""Django settings for the tests of libcache.contrib.django, configured once per process.

test_django_backend.py and test_django_suite.py share the process (Django's
settings are global): both call configure(). Django's own cache tests
(tests/cache/ of Django's source distribution, fetched by scripts/setup.sh
into .cache/django-tests/tests/) are the app "cache" when present.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DJANGO_TESTS = ROOT / ".cache" / "django-tests" / "tests"
BACKEND = "libcache.contrib.django.LibcacheCache"


def suite_available() -> bool:
    return (DJANGO_TESTS / "cache" / "tests.py").is_file()


def configure() -> None:
    import django
    from django.conf import settings

    if settings.configured:
        return
    apps = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
    if suite_available():
        if str(DJANGO_TESTS) not in sys.path:
            sys.path.insert(0, str(DJANGO_TESTS))
        apps.append("cache")
    settings.configure(
        DEBUG=False,
        SECRET_KEY="libcache-tests",
        INSTALLED_APPS=apps,
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        },
        CACHES={"default": {"BACKEND": BACKEND, "LOCATION": "tests-default"}},
        USE_TZ=True,
        MIDDLEWARE=[],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        ROOT_URLCONF=__name__,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
    )
    django.setup()


urlpatterns: list[object] = []
