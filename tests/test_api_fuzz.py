"""Schemathesis over the whole API schema, as two roles, on the demo plant: no response is a
5xx, and every response matches the schema (status declared, content type, body as documented).

Bounded for CI: a fixed number of derandomised examples per operation and role (``MES_FUZZ_
EXAMPLES`` raises it for a longer run). Each call runs in a savepoint that is rolled back, so
examples do not build on each other and one failure cannot poison the next."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mes.models import User

pytestmark = pytest.mark.req("FND-API-006")

ROLES = ("operator", "qa")
EXAMPLES = int(os.environ.get("MES_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def wsgi_app():
    """The real WSGI handler, minus closing the connection at each request's start and end
    (Django's test client does the same): the test's transaction must survive the calls."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_operation_answers_as_its_schema_says_for_two_roles(db, settings, wsgi_app):
    settings.DEBUG = False
    call_command("load_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    tokens = {role: Token.objects.create(user=User.objects.get(username=role)).key
              for role in ROLES}
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", wsgi_app,
        headers={"Authorization": f"Token {tokens['qa']}"})
    failures: list[str] = []
    calls: dict[str, int] = {}

    def exercise(operation):
        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                             database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            for role, token in tokens.items():
                with transaction.atomic():
                    response = case.call(headers={"Authorization": f"Token {token}"})
                    transaction.set_rollback(True)
                calls[operation.label] = calls.get(operation.label, 0) + 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except Exception as error:
                    raise AssertionError(f"as {role}: {error}") from error

        check()

    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            exercise(operation)
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - reported together
            failures.append(f"{operation.label}: {type(error).__name__}: {error}"[:2000])

    assert not failures, "\n\n".join(failures)
    # every operation of the schema was exercised, as both roles
    assert len(calls) >= 40, sorted(calls)
    assert all(n >= 2 for n in calls.values()), calls
