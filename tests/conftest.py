"""Test set-up shared by every app.

The suite runs on whatever DATABASE_URL says (the README's test command points it at
PostgreSQL and Redis when they answer, and CI insists on them). On SQLite, tests marked
``postgres`` are skipped, and the header says so.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from tests.mes.factories import PASSWORD, SiteFactory, person


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_report_header(config):
    if _on_postgres():
        return f"database: PostgreSQL ({settings.DATABASES['default'].get('HOST')}); " \
               f"redis: {settings.REDIS_URL or 'not configured'}"
    return ("database: SQLite — PostgreSQL is not reachable, so the PostgreSQL-only tests "
            "(append-only triggers under flush, concurrency, browser, Celery worker) are skipped")


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (running on SQLite)")
    skip_redis = pytest.mark.skip(reason="needs Redis (REDIS_URL not set)")
    for item in items:
        if "postgres" in item.keywords and not _on_postgres():
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import cache

    cache.clear()  # a local-memory cache outlives the test that filled it
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.AUDIT_SEAL_KEY_FILE = str(tmp_path / "keys" / "audit-seal.pem")
    from mes.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


@pytest.fixture
def live_worker(transactional_db):
    """A real Celery worker (a thread of this process) on the Redis broker. Tests that use it
    share one xdist group (``@pytest.mark.xdist_group("celery-worker")``) so that two
    workers never consume each other's tasks from the same queue; stale messages are purged."""
    from celery.contrib.testing.worker import start_worker

    from mes.celery import app

    app.conf.task_always_eager = False
    app.control.purge()
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING",
                          shutdown_timeout=30) as worker:
            yield worker
    finally:
        app.conf.task_always_eager = True


@pytest.fixture
def roles(db):
    """Role groups with their permissions (a transactional test's flush removes them)."""
    from mes.roles import ensure_roles

    ensure_roles()


@pytest.fixture
def vendor():
    return connection.vendor


# --- People and places every app's tests use --------------------------------------------
@pytest.fixture
def site(db):
    return SiteFactory(code="PLANT1", name="Plant One", time_zone="Europe/Amsterdam")


@pytest.fixture
def other_site(db):
    return SiteFactory(code="PLANT2", name="Plant Two", time_zone="America/New_York")


@pytest.fixture
def admin_user(site, roles):
    return person("Administrator", sites=[site], username="admin1", full_name="Ada Admin")


@pytest.fixture
def operator(site, roles):
    return person("Operator", sites=[site], username="op1", full_name="Otto Operator")


@pytest.fixture
def qa_user(site, roles):
    return person("QA Reviewer", sites=[site], username="qa1", full_name="Quentin Quality")


@pytest.fixture
def password():
    return PASSWORD
