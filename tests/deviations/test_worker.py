"""A real Celery worker against Redis (not eager mode) runs the beat task: the escalation is
recorded and notified by the worker, attributed to the system user, and a second delivery
changes nothing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from deviations.models import EscalationEvent
from deviations.tasks import escalate_overdue_deviations
from mes.models import Notification
from tests.deviations.factories import raised
from tests.mes.factories import SiteFactory, person


def wait_for(condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.xdist_group("celery-worker")
@pytest.mark.req("DEV-ESC-002:once", "DEV-ESC-002:task")
def test_the_worker_escalates_an_overdue_deviation_once(live_worker, roles, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    site = SiteFactory(code="PLANT1")
    reporter = person("Operator", sites=[site], username="op1")
    person("QA Reviewer", sites=[site], username="qa1")
    qp = person("Qualified Person", sites=[site], username="qp1", full_name="Priya Qualified")
    deviation = raised(reporter, site, classification="critical",
                       detected_at=timezone.now() - timedelta(minutes=20))

    escalate_overdue_deviations.delay()
    assert wait_for(lambda: EscalationEvent.objects.filter(deviation=deviation).exists())
    escalate_overdue_deviations.delay()  # a second delivery of the same beat
    assert wait_for(lambda: Notification.objects.filter(recipient=qp,
                                                        emailed_at__isnull=False).exists())

    event = EscalationEvent.objects.get(deviation=deviation)
    assert (event.level, event.notified) == (2, "Priya Qualified")
    assert event.history.get().history_user.username == "system"
    latest = deviation.history.order_by("-history_date").first()
    assert latest.history_user.username == "system"
    assert latest.history_change_reason.startswith("Escalated to level 2 (Qualified Person)")
    assert Notification.objects.filter(recipient=qp).count() == 1
