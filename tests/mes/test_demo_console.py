"""What a newcomer meets first: the login page explains the demo, and the console shows a
refused request as one line, not a traceback."""

import logging

import pytest
from django.urls import reverse

from mes.logging import ClientErrorsWithoutTraceback


@pytest.mark.req("FND-RUN-007:login-page")
def test_the_demo_login_page_explains_the_sites_and_the_logins(client, settings, db):
    settings.DEMO = True
    page = client.get(reverse("login")).content.decode()
    assert 'id="demo-sites"' in page
    for text in ("LEI", "BOS", "UMCU", "operator2", "demo-pass-2026"):
        assert text in page

    settings.DEMO = False
    assert 'id="demo-sites"' not in client.get(reverse("login")).content.decode()


def _record(status: int) -> logging.LogRecord:
    try:
        raise PermissionError("refused")
    except PermissionError:
        import sys

        record = logging.LogRecord("django.request", logging.WARNING, __file__, 1,
                                   "Forbidden: %s", ("/x/",), sys.exc_info())
    record.status_code = status
    return record


@pytest.mark.req("FND-RUN-007:no-traceback")
@pytest.mark.parametrize(("status", "traceback"), [(403, False), (404, False), (400, False),
                                                   (500, True)])
def test_a_refused_request_is_logged_without_a_traceback(status, traceback):
    record = _record(status)
    assert ClientErrorsWithoutTraceback().filter(record) is True
    text = logging.Formatter().format(record)
    assert ("Traceback" in text) is traceback


@pytest.mark.req("FND-RUN-007:no-traceback")
def test_a_403_page_is_logged_without_its_traceback(client, operator):
    client.force_login(operator)
    seen: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record):
            seen.append(record)

    logger = logging.getLogger("django.request")
    capture = Capture(level=logging.WARNING)
    logger.addHandler(capture)
    try:
        assert client.get(reverse("security-events")).status_code == 403
    finally:
        logger.removeHandler(capture)

    assert [r.status_code for r in seen] == [403]
    assert seen[0].exc_info is None
