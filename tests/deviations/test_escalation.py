"""Escalation under time travel: up the ladder at the right moments, once per level."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from deviations.models import Deviation, EscalationEvent, EscalationLevel
from deviations.services import escalation, workflow
from deviations.tasks import escalate_overdue_deviations
from mes import audit
from mes.models import Notification
from tests.deviations.factories import raised
from tests.mes.factories import SiteFactory, person

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # a Tuesday


@pytest.fixture
def ladder(site, qa_user, qa2, qp, roles):
    head = person("QA Reviewer", sites=[site], username="hoq", full_name="Hannah Head")
    levels = [("QA on duty", qa_user, 10), ("QA lead", qa2, 15),
              ("Head of Quality", head, 20), ("Qualified Person", qp, 30)]
    for position, (name, who, wait) in enumerate(levels, start=1):
        EscalationLevel.objects.create(site=site, position=position, name=name, person=who,
                                       respond_within_minutes=wait)
    return {"qa": qa_user, "lead": qa2, "head": head, "qp": qp}


def run_at(moment: datetime) -> int:
    """One beat run of the task (in-process, as the worker would run it) at ``moment``."""
    with time_machine.travel(moment, tick=False):
        return escalate_overdue_deviations.apply().get()


def told(deviation) -> list[tuple[int, str]]:
    return list(EscalationEvent.objects.filter(deviation=deviation)
                .order_by("level").values_list("level", "notified"))


@pytest.mark.req(
    "DEV-ESC-002:on-time",
    "DEV-ESC-002:once",
    "DEV-ESC-002:recorded",
    "DEV-ESC-002:notified",
)
def test_escalation_climbs_the_ladder_at_the_right_moments_once_per_level(
        db, site, operator, ladder, django_capture_on_commit_callbacks, mailoutbox):
    with time_machine.travel(T0, tick=False):
        deviation = raised(operator, site, classification="critical")  # acknowledge by 09:15

    assert run_at(T0 + timedelta(minutes=14, seconds=59)) == 0
    assert told(deviation) == []

    with django_capture_on_commit_callbacks(execute=True):
        assert run_at(T0 + timedelta(minutes=15)) == 1
    assert told(deviation) == [(2, "Quinta Quality")]
    assert run_at(T0 + timedelta(minutes=15)) == 0  # a second run escalates nothing
    assert run_at(T0 + timedelta(minutes=29)) == 0
    assert run_at(T0 + timedelta(minutes=30)) == 1  # the lead had 15 minutes
    assert run_at(T0 + timedelta(minutes=49)) == 0
    assert run_at(T0 + timedelta(minutes=50)) == 1  # the head had 20 minutes
    assert run_at(T0 + timedelta(hours=9)) == 0     # the top of the ladder
    assert told(deviation) == [(2, "Quinta Quality"), (3, "Hannah Head"),
                               (4, "Priya Qualified")]

    deviation.refresh_from_db()
    assert (deviation.escalation_level, deviation.next_escalation_at) == (4, None)
    escalated = [h for h in deviation.history.order_by("history_date")
                 if h.history_change_reason.startswith("Escalated")]
    assert [h.history_change_reason for h in escalated] == [
        "Escalated to level 2 (QA lead): the acknowledgement deadline of 2026-03-03 09:15 "
        "UTC passed",
        "Escalated to level 3 (Head of Quality): the acknowledgement deadline of 2026-03-03 "
        "09:15 UTC passed",
        "Escalated to level 4 (Qualified Person): the acknowledgement deadline of 2026-03-03 "
        "09:15 UTC passed"]
    assert {h.history_user.username for h in escalated} == {"system"}
    inbox = Notification.objects.filter(subject__startswith="ESCALATED")
    assert sorted(inbox.values_list("recipient__username", flat=True)) == [
        "hoq", "qa2", "qp1"]
    assert [m.to for m in mailoutbox] == [[ladder["lead"].email]]  # the first run's e-mail


@pytest.mark.req("DEV-ESC-002:once")
def test_a_worker_that_was_down_tells_each_missed_level_once(db, site, operator, ladder):
    with time_machine.travel(T0, tick=False):
        deviation = raised(operator, site, classification="critical")
    assert run_at(T0 + timedelta(hours=3)) == 3
    assert [level for level, _ in told(deviation)] == [2, 3, 4]
    assert run_at(T0 + timedelta(hours=3)) == 0


@pytest.mark.req("DEV-ESC-002:once")
def test_a_level_already_told_is_never_told_again(
        db, site, operator, ladder, django_capture_on_commit_callbacks, mailoutbox):
    # Given a deviation whose level 2 was told at the deadline
    with time_machine.travel(T0, tick=False):
        deviation = raised(operator, site, classification="critical")
    with django_capture_on_commit_callbacks(execute=True):
        assert run_at(T0 + timedelta(minutes=15)) == 1
    escalated = Notification.objects.filter(subject__startswith="ESCALATED")
    assert (told(deviation), escalated.count(), len(mailoutbox)) == (
        [(2, "Quinta Quality")], 1, 1)
    # and a deviation whose counter is behind what was told (a stale copy saved it back)
    deviation.refresh_from_db()
    deviation.escalation_level = 1
    deviation.next_escalation_at = T0 + timedelta(minutes=15)
    audit.stamp(deviation, user=None, reason="Stale escalation counter (test)")
    deviation.save()
    # When escalation runs again for the same deadline
    with django_capture_on_commit_callbacks(execute=True):
        assert run_at(T0 + timedelta(minutes=15)) == 0
    # Then the level is not told twice: one event, one notification, one e-mail
    assert told(deviation) == [(2, "Quinta Quality")]
    assert escalated.count() == 1 and len(mailoutbox) == 1
    deviation.refresh_from_db()
    assert deviation.escalation_level == 2
    assert deviation.history.order_by("-history_id").first().history_change_reason == (
        "Level 2 (QA lead) was already told of the acknowledgement deadline of "
        "2026-03-03 09:15 UTC")


@pytest.mark.req("DEV-ESC-002:on-time")
def test_acknowledging_stops_the_climb_and_the_disposition_deadline_takes_over(
        db, site, operator, ladder, password):
    with time_machine.travel(T0, tick=False):
        deviation = raised(operator, site, classification="critical")
    assert run_at(T0 + timedelta(minutes=16)) == 1
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        workflow.acknowledge_deviation(actor=ladder["lead"], password=password,
                                       deviation=deviation)
    assert run_at(T0 + timedelta(minutes=40)) == 0  # acknowledged: no more for that deadline
    assert run_at(T0 + timedelta(hours=1, minutes=59)) == 0
    assert run_at(T0 + timedelta(hours=2)) == 1  # disposition due at 11:00
    events = EscalationEvent.objects.filter(deviation=deviation).order_by("pk")
    assert [(e.deadline, e.level) for e in events] == [("acknowledge", 2), ("disposition", 2)]


@pytest.mark.req("DEV-ESC-002:on-time")
def test_a_signed_disposition_stops_the_disposition_escalation(db, site, operator, ladder,
                                                              password):
    with time_machine.travel(T0, tick=False):
        deviation = raised(operator, site, classification="critical")
        workflow.acknowledge_deviation(actor=ladder["qa"], password=password,
                                       deviation=deviation)
        workflow.dispose_material(actor=ladder["qa"], password=password, deviation=deviation,
                                  decision="hold", rationale="Quarantine until assessed")
    assert run_at(T0 + timedelta(hours=5)) == 0
    assert not EscalationEvent.objects.exists()


@pytest.mark.req("DEV-ESC-002:task", "DEV-DL-001:reclassify")
def test_reclassifying_to_critical_queues_an_escalation_after_commit(
        db, site, operator, ladder, password, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        deviation = raised(operator, site, classification="minor", patient_impact="no")
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            workflow.classify_deviation(actor=ladder["qa"], password=password,
                                        deviation=deviation, classification="critical",
                                        patient_impact="yes", rationale="Patient material")
        assert not EscalationEvent.objects.exists()  # nothing before the commit
        for callback in callbacks:
            callback()
    assert told(deviation) == [(2, "Quinta Quality")]


@pytest.mark.req("DEV-ESC-002:on-time")
def test_the_default_ladder_tells_qa_then_the_qualified_person(db, site, operator, qa_user,
                                                               qp):
    with time_machine.travel(T0, tick=False):
        deviation = raised(operator, site, classification="major")  # 4 hours
    assert run_at(T0 + timedelta(hours=4)) == 1
    assert told(deviation) == [(2, "Priya Qualified")]
    assert run_at(T0 + timedelta(hours=40)) == 0


@pytest.mark.req("DEV-ESC-002:on-time")
def test_closed_and_cancelled_deviations_never_escalate(db, site, operator, ladder):
    with time_machine.travel(T0, tick=False):
        deviation = raised(operator, site, classification="critical")
        workflow.cancel_deviation(actor=ladder["qa"], deviation=deviation,
                                  reason="Raised twice; see the other one")
    assert run_at(T0 + timedelta(hours=3)) == 0
    assert not EscalationEvent.objects.exists()


@pytest.mark.req("DEV-ESC-002:task")
def test_the_task_acknowledges_late(db):
    assert escalate_overdue_deviations.acks_late is True
    assert escalate_overdue_deviations.reject_on_worker_lost is True
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["deviations-escalate-overdue"] == {
        "task": "deviations.tasks.escalate_overdue_deviations", "schedule": 60.0}


@pytest.mark.postgres
@pytest.mark.req("DEV-ESC-002:once")
def test_two_runs_at_once_escalate_once(transactional_db, roles):
    site = SiteFactory(code="PLANT1")
    reporter = person("Operator", sites=[site], username="op1")
    person("QA Reviewer", sites=[site], username="qa1")
    person("Qualified Person", sites=[site], username="qp1")
    with time_machine.travel(T0, tick=False):
        deviation = raised(reporter, site, classification="critical")
    results = []
    barrier = threading.Barrier(4)

    def run():
        try:
            barrier.wait()
            results.append(escalation.escalate_overdue(now=T0 + timedelta(minutes=20)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 1
    assert EscalationEvent.objects.filter(deviation=deviation).count() == 1
    assert Deviation.objects.get(pk=deviation.pk).escalation_level == 2
    # the level (the Qualified Person of the default ladder) is told once
    assert list(Notification.objects.filter(subject__startswith="ESCALATED")
                .values_list("recipient__username", flat=True)) == ["qp1"]


@pytest.mark.postgres
@pytest.mark.req("DEV-ESC-002:once")
def test_runs_at_once_on_a_stale_counter_tell_the_level_once(transactional_db, roles):
    # Given a deviation whose level 2 was told, with its counter set back (a stale copy)
    site = SiteFactory(code="PLANT1")
    reporter = person("Operator", sites=[site], username="op1")
    person("QA Reviewer", sites=[site], username="qa1")
    person("Qualified Person", sites=[site], username="qp1")
    with time_machine.travel(T0, tick=False):
        deviation = raised(reporter, site, classification="critical")
    due = T0 + timedelta(minutes=20)
    assert escalation.escalate_overdue(now=due) == 1
    deviation.refresh_from_db()
    deviation.escalation_level = 1
    deviation.next_escalation_at = T0 + timedelta(minutes=15)
    audit.stamp(deviation, user=None, reason="Stale escalation counter (test)")
    deviation.save()
    results = []
    barrier = threading.Barrier(4)

    def run():
        try:
            barrier.wait()
            results.append(escalation.escalate_deviation(deviation_id=deviation.pk, now=due))
        finally:
            connection.close()

    # When four runs escalate it at once
    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then nobody is told again
    assert sum(results) == 0
    assert EscalationEvent.objects.filter(deviation=deviation).count() == 1
    assert Notification.objects.filter(subject__startswith="ESCALATED").count() == 1
    assert Deviation.objects.get(pk=deviation.pk).escalation_level == 2
