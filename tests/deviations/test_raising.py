"""Raising: the one service every app calls; numbering, context, deadlines, first level."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction

from deviations import selectors
from deviations.models import (
    DeadlinePolicy,
    Deviation,
    DeviationAttachment,
    DeviationCounter,
    EscalationLevel,
)
from deviations.services import raise_deviation
from mes.errors import DomainError
from mes.models import Notification, Site, User
from tests.deviations.factories import raised
from tests.mes.factories import SiteFactory, person

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><polyline points="0,0 1,1"/></svg>'


@pytest.mark.req("DEV-REC-001:format", "DEV-REC-001:no-gaps")
def test_numbers_run_per_site_and_year_without_gaps(db, site, other_site, operator):
    person_at_both = person("Operator", sites=[site, other_site], username="op9")
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False):
        first = raised(operator, site)
        second = raised(operator, site)
        elsewhere = raised(person_at_both, other_site)
    with time_machine.travel(datetime(2027, 1, 4, 9, 0, tzinfo=UTC), tick=False):
        next_year = raised(operator, site)
    assert [first.number, second.number, elsewhere.number, next_year.number] == [
        "DEV-PLANT1-2026-0001", "DEV-PLANT1-2026-0002", "DEV-PLANT2-2026-0001",
        "DEV-PLANT1-2027-0001"]


@pytest.mark.req("DEV-REC-001:format")
def test_the_year_is_the_sites_local_year(db, site, operator):
    # 23:30 UTC on 31 December is already New Year in Amsterdam
    with time_machine.travel(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), tick=False):
        deviation = raised(operator, site)
    assert deviation.number == "DEV-PLANT1-2027-0001"


@pytest.mark.postgres
@pytest.mark.req("DEV-REC-001:no-gaps")
def test_concurrent_raising_gives_each_number_once(transactional_db, roles):
    site = SiteFactory(code="PLANT1")
    people = [person("Operator", sites=[site], username=f"op{n}") for n in range(6)]
    errors = []

    def raise_one(reporter):
        try:
            raised(reporter, Site.objects.get(pk=site.pk))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=raise_one, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(Deviation.objects.values_list("sequence", flat=True)) == [1, 2, 3, 4, 5, 6]
    assert DeviationCounter.objects.get().last_sequence == 6


@pytest.mark.req("DEV-RAISE-001:records")
def test_an_automatic_deviation_keeps_its_subject_rule_data_and_attachments(
        db, site, operator, other_site):
    subject = other_site  # any saved record: a suite, a lot, a custody event
    deviation = raise_deviation(
        reporter=operator, site=site, title="Shipper temperature excursion",
        description="Probe 1 above -150 °C for 7 minutes.", subject=subject,
        classification="critical", patient_impact="yes", batch_number="B-0042",
        patient_coi="G123489654321", source="automatic", rule="custody.cold_chain.max_temp",
        data={"max_c": -141.2, "minutes": 7},
        attachments=[("curve.svg", "image/svg+xml", SVG)])
    deviation = Deviation.objects.get(pk=deviation.pk)
    assert deviation.subject == subject
    assert deviation.subject_label == str(subject)
    assert (deviation.batch_number, deviation.patient_coi) == ("B-0042", "G123489654321")
    assert (deviation.source, deviation.rule, deviation.data) == (
        "automatic", "custody.cold_chain.max_temp", {"max_c": -141.2, "minutes": 7})
    attachment = DeviationAttachment.objects.get(deviation=deviation)
    assert (attachment.filename, attachment.content_type, bytes(attachment.content)) == (
        "curve.svg", "image/svg+xml", SVG)
    assert attachment.sha256 == DeviationAttachment.digest(SVG)
    assert deviation.history.get().history_user == operator


@pytest.mark.req("DEV-RAISE-001:caller-transaction")
def test_a_refused_caller_rolls_the_deviation_back(db, site, operator, qa_user):
    class CallerRefused(Exception):
        pass

    with pytest.raises(CallerRefused), transaction.atomic():
        raised(operator, site, source="automatic", rule="batchrecords.ool")
        raise CallerRefused
    assert not Deviation.objects.exists()
    assert not Deviation.history.exists()
    assert not DeviationCounter.objects.filter(last_sequence__gt=0).exists()
    assert not Notification.objects.exists()


@pytest.mark.req("DEV-RAISE-001:refusals")
def test_manual_raising_needs_the_permission_and_the_site(db, site, other_site, roles):
    outsider = person("Operator", sites=[other_site], username="op-bos")
    nobody = person(None, sites=[site], username="visitor")
    for reporter in (outsider, nobody):
        with pytest.raises(DomainError) as refused:
            raised(reporter, site)
        assert refused.value.code == "permission_denied"
    assert not Deviation.objects.exists()
    assert not Deviation.history.exists()
    assert not DeviationCounter.objects.filter(last_sequence__gt=0).exists()
    assert not Notification.objects.exists()


@pytest.mark.req("DEV-RAISE-001:refusals")
@pytest.mark.parametrize("field, value", [("classification", "catastrophic"),
                                          ("patient_impact", "maybe"), ("source", "rumour"),
                                          ("title", "  ")])
def test_bad_input_is_refused_with_a_message_and_nothing_written(db, site, operator,
                                                                 field, value):
    with pytest.raises(DomainError) as refused:
        raised(operator, site, **{field: value})
    assert refused.value.code == "invalid"
    assert field in refused.value.fields and refused.value.message
    assert not Deviation.objects.exists()
    assert not Deviation.history.exists()
    assert not Notification.objects.exists()


@pytest.mark.req("DEV-RAISE-001:refusals")
def test_an_automatic_deviation_names_its_rule(db, site, operator):
    with pytest.raises(DomainError) as refused:
        raised(operator, site, source="automatic", rule="")
    assert refused.value.code == "invalid"
    assert "rule" in refused.value.fields
    assert not Deviation.objects.exists()
    assert not Deviation.history.exists()
    assert not Notification.objects.exists()


@pytest.mark.req("DEV-DL-001:defaults")
@pytest.mark.parametrize("classification, impact, acknowledge, disposition", [
    ("critical", "unknown", timedelta(minutes=15), timedelta(hours=2)),
    ("minor", "yes", timedelta(minutes=15), timedelta(hours=2)),
    ("major", "no", timedelta(hours=4), None),
    ("major", "unknown", timedelta(hours=4), None),
    ("minor", "no", timedelta(days=2), None),  # Tuesday 10:00 -> Thursday 10:00
])
def test_default_deadlines_follow_class_and_patient_impact(db, site, operator, classification,
                                                           impact, acknowledge, disposition):
    start = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # a Tuesday
    with time_machine.travel(start, tick=False):
        deviation = raised(operator, site, classification=classification,
                           patient_impact=impact)
    assert deviation.acknowledge_due_at == start + acknowledge
    assert deviation.disposition_due_at == (start + disposition if disposition else None)
    assert deviation.next_escalation_at == deviation.acknowledge_due_at


@pytest.mark.req("DEV-DL-001:defaults")
def test_two_working_days_skip_the_weekend(db, site, operator):
    friday = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    with time_machine.travel(friday, tick=False):
        deviation = raised(operator, site, classification="minor", patient_impact="no")
    assert deviation.acknowledge_due_at == datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # Tuesday


@pytest.mark.req("DEV-DL-001:site-policy")
def test_a_sites_own_policy_replaces_the_default(db, site, operator, qa_user):
    DeadlinePolicy.objects.create(site=site, tier="major", acknowledge_amount=30,
                                  acknowledge_unit="minutes", disposition_amount=8,
                                  disposition_unit="hours")
    start = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        deviation = raised(operator, site, classification="major", patient_impact="no")
    assert deviation.acknowledge_due_at == start + timedelta(minutes=30)
    assert deviation.disposition_due_at == start + timedelta(hours=8)


@pytest.mark.req("DEV-ESC-001:first-level")
def test_the_first_level_is_told_in_the_inbox_and_by_email_after_commit(
        db, site, operator, qa_user, django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deviation = raised(operator, site, classification="critical")
    inbox = Notification.objects.get()
    assert inbox.recipient == qa_user
    assert inbox.subject == f"CRITICAL Deviation {deviation.number}: {deviation.title}"
    assert inbox.link == f"/deviations/{deviation.pk}/"
    assert mailoutbox == []  # nothing is e-mailed before the commit
    for callback in callbacks:
        callback()
    assert [m.to for m in mailoutbox] == [[qa_user.email]]


@pytest.mark.req("DEV-ESC-001:ladder")
def test_a_configured_first_level_replaces_the_default(db, site, operator, qa_user, roles):
    lead = person("QA Reviewer", sites=[site], username="qalead", full_name="Lena Lead")
    EscalationLevel.objects.create(site=site, position=1, name="QA lead", person=lead)
    raised(operator, site)
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == [
        "qalead"]


@pytest.mark.req("DEV-BLK-001:open-for")
def test_open_deviations_for_a_record_a_batch_or_a_patient(db, site, other_site, operator):
    on_record = raised(operator, site, subject=other_site)
    on_batch = raised(operator, site, batch_number="B-7")
    on_patient = raised(operator, site, patient_coi="G123489654321")
    raised(operator, site, batch_number="B-8")
    assert list(selectors.open_deviations_for(subject=other_site)) == [on_record]
    assert list(selectors.open_deviations_for(batch_number="B-7")) == [on_batch]
    assert list(selectors.open_deviations_for(patient_coi="G123489654321")) == [on_patient]
    assert set(selectors.open_deviations_for(
        subject=other_site, batch_number="B-7", patient_coi="G123489654321")) == {
        on_record, on_batch, on_patient}
    assert not selectors.open_deviations_for().exists()


@pytest.mark.req("DEV-BLK-001:suite-hold")
def test_an_open_critical_deviation_puts_a_suite_on_hold(db, site, operator):
    suite = User.objects.create(username="stand-in-suite", full_name="Any record")
    raised(operator, site, subject=suite, classification="major")
    assert not selectors.suite_on_hold(suite)
    raised(operator, site, subject=suite, classification="critical")
    assert selectors.suite_on_hold(suite)


@pytest.mark.req("DEV-BLK-001:suite-hold")
def test_held_subjects_for_a_whole_board_in_one_query(db, site, operator,
                                                      django_assert_num_queries):
    held = User.objects.create(username="suite-a", full_name="Suite A stand-in")
    free = User.objects.create(username="suite-b", full_name="Suite B stand-in")
    raised(operator, site, subject=held, classification="critical")
    raised(operator, site, subject=free, classification="minor")
    with django_assert_num_queries(1):
        assert selectors.held_subject_ids(User) == {held.pk}


@pytest.mark.req("DEV-RAISE-001:records")
def test_rule_data_with_decimals_and_times_and_text_attachments_are_kept(db, site, operator):
    from decimal import Decimal

    deviation = raised(operator, site, source="automatic", rule="custody.cold_chain",
                       data={"max_c": Decimal("-141.2"), "at": datetime(2026, 3, 3, 9, 0,
                                                                         tzinfo=UTC)},
                       attachments=[("curve.svg", "image/svg+xml", "<svg/>")])
    deviation = Deviation.objects.get(pk=deviation.pk)
    assert deviation.data == {"max_c": "-141.2", "at": "2026-03-03T09:00:00Z"}
    assert bytes(deviation.deviationattachments.get().content) == b"<svg/>"
