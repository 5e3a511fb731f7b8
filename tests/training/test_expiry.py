"""The daily expiry task, with time travel; running it twice changes nothing more."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail

from mes.models import Notification
from tests.training.factories import certified
from training.models import Certification, CertificationDecision
from training.tasks import check_certification_expiry


def at(day: dt.date, hour: int = 1) -> time_machine.travel:
    return time_machine.travel(dt.datetime(day.year, day.month, day.day, hour, 15,
                                           tzinfo=dt.UTC), tick=False)


@pytest.fixture
def expiring(operator, supervisor, site, cell_selection):
    return certified(operator, cell_selection, site, valid_until=dt.date(2026, 7, 15))


@pytest.mark.req("TRN-EXP-001:warn", "TRN-EXP-001:idempotent")
def test_the_person_and_supervisors_are_warned_30_days_ahead_once(
        expiring, operator, supervisor, django_capture_on_commit_callbacks):
    with at(dt.date(2026, 6, 14)), django_capture_on_commit_callbacks(execute=True):
        result = check_certification_expiry.delay().get()
    assert result == {"expired": [], "warned": []}  # 31 days ahead: not yet

    with at(dt.date(2026, 6, 15)):
        with django_capture_on_commit_callbacks(execute=True):
            result = check_certification_expiry.delay().get()
        assert result == {"expired": [], "warned": [expiring.pk]}
        inbox = Notification.objects.order_by("recipient__username")
        assert [n.recipient.username for n in inbox] == ["op1", "sup1"]
        assert inbox[0].subject == ("Certification CELL-SEL of Otto Operator expires in 30 "
                                    "days")
        assert sorted(m.to[0] for m in mail.outbox) == ["op1@example.com", "sup1@example.com"]
        # Twice the same day, and again the next day: nothing more
        with django_capture_on_commit_callbacks(execute=True):
            assert check_certification_expiry.delay().get() == {"expired": [], "warned": []}
    with at(dt.date(2026, 6, 16)), django_capture_on_commit_callbacks(execute=True):
        assert check_certification_expiry.delay().get() == {"expired": [], "warned": []}
    assert Notification.objects.count() == 2
    assert len(mail.outbox) == 2
    expiring.refresh_from_db()
    assert expiring.expiry_warning_sent_on == dt.date(2026, 6, 15)
    history = expiring.history.order_by("history_id").last()
    assert history.history_user.username == "system"


@pytest.mark.req("TRN-EXP-001:warn")
def test_the_warning_window_is_configurable(expiring, settings):
    settings.TRAINING_EXPIRY_WARNING_DAYS = 10
    with at(dt.date(2026, 6, 15)):
        assert check_certification_expiry.delay().get()["warned"] == []
    with at(dt.date(2026, 7, 5)):
        assert check_certification_expiry.delay().get()["warned"] == [expiring.pk]


@pytest.mark.req("TRN-EXP-001:expire", "TRN-EXP-001:idempotent")
def test_expiry_marks_the_certification_expired_the_day_after_its_last_valid_day(
        expiring, operator, site):
    # The last valid day passes at midnight in Amsterdam (22:00 UTC in summer)
    with at(dt.date(2026, 7, 15), hour=21):
        assert check_certification_expiry.delay().get()["expired"] == []
    with at(dt.date(2026, 7, 15), hour=22):
        first = check_certification_expiry.delay().get()
    assert first["expired"] == [expiring.pk]
    expiring.refresh_from_db()
    assert expiring.status == Certification.Status.EXPIRED
    decision = CertificationDecision.objects.get()
    assert (decision.action, decision.decided_by.username, decision.reason) == (
        "expire", "system", "Validity ended on 2026-07-15")
    assert Notification.objects.filter(recipient=operator,
                                       subject__contains="has expired").count() == 1

    # Run twice: nothing more changes
    history_rows = expiring.history.count()
    notifications = Notification.objects.count()
    with at(dt.date(2026, 7, 16)):
        assert check_certification_expiry.delay().get() == {"expired": [], "warned": []}
    assert expiring.history.count() == history_rows
    assert CertificationDecision.objects.count() == 1
    assert Notification.objects.count() == notifications


@pytest.mark.req("TRN-EXP-001:expire")
def test_a_suspended_certification_also_expires(operator, site, cell_selection):
    cert = certified(operator, cell_selection, site, valid_until=dt.date(2026, 5, 31),
                     status=Certification.Status.SUSPENDED)
    check_certification_expiry.delay().get()
    cert.refresh_from_db()
    assert cert.status == Certification.Status.EXPIRED


@pytest.mark.req("TRN-EXP-001:scheduled")
def test_the_task_is_scheduled_daily():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["training-certification-expiry"]
    assert entry["task"] == "training.tasks.check_certification_expiry"
    assert entry["schedule"].hour == {0} and entry["schedule"].minute == {15}
