"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

No browser is downloaded: pytest-playwright's launch arguments point at /usr/bin/chromium.
The live server runs in a thread of this process while Playwright's sync API keeps an event
loop running here, so Django's async-safety check has to be relaxed for the ORM calls the
tests make.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.test import override_settings

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"browser tests need Debian's Chromium at {CHROMIUM} "
                                   "(apt-get install chromium); none is downloaded")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch options, pointed at the system Chromium, headless."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM}")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM),
            "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def _plain_http(django_test_environment):
    """Serve the live server over plain HTTP. Its middleware is built once, when the
    session-scoped server starts, so the root conftest's per-test overrides come too late
    for SecurityMiddleware's HTTPS redirect (on by default when DEBUG is off)."""
    plain = override_settings(SECURE_SSL_REDIRECT=False, SECURE_HSTS_SECONDS=0,
                              SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False)
    plain.enable()
    yield
    plain.disable()


@pytest.fixture(scope="session")
def live_server(_plain_http, live_server):
    return live_server


@pytest.fixture
def roles(transactional_db):
    """The role groups: the live server's flush removes the data migration's rows."""
    from mes.roles import ensure_roles

    ensure_roles()


@pytest.fixture
def browser_errors(page):
    """Console errors and uncaught exceptions on the page (a CSP block shows up here)."""
    errors: list[str] = []

    def on_console(message):
        url = message.location.get("url", "")
        # Chromium asks every site for /favicon.ico, which the app does not serve.
        if message.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"console: {message.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    return errors


@pytest.fixture
def screenshot(page, request):
    """``screenshot("step")`` saves var/artifacts/screenshots/<test-name>-<step>.png; a modal
    is shot at window size (``full_page=False``), since its backdrop covers the window only."""
    directory = request.config.rootpath / "var" / "artifacts" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")

    def take(step: str, *, full_page: bool = True) -> Path:
        path = directory / f"{test_name}-{step}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
