"""On PostgreSQL: failures that lock an account concurrently still record one lockout."""

import threading

import pytest
from django.db import connection

from mes.models import Notification, SecurityEvent
from mes.services.security import record_lockout
from tests.mes.factories import SiteFactory, person

pytestmark = [pytest.mark.postgres,
              pytest.mark.req("FND-SEC-006:event", "FND-SEC-006:notification")]


def test_twenty_concurrent_lockout_signals_write_one_event_and_one_notification_each(
        transactional_db):
    from mes.roles import ensure_roles

    ensure_roles()
    site = SiteFactory(code="PLANT1", name="Plant One")
    person("Operator", sites=[site], username="op1")
    qa = [person("QA Reviewer", sites=[site], username=f"qa{n}") for n in range(2)]
    start = threading.Barrier(20)
    errors: list[str] = []

    def signal() -> None:
        try:
            start.wait()
            record_lockout("op1")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            connection.close()

    threads = [threading.Thread(target=signal) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert SecurityEvent.objects.filter(kind="lockout", username="op1").count() == 1
    for reviewer in qa:
        assert Notification.objects.filter(recipient=reviewer,
                                           subject="Account locked: op1").count() == 1
