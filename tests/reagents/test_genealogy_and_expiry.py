"""Genealogy both ways with a constant query count; the daily expiry job."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from mes import audit
from mes.models import Notification
from reagents import selectors
from reagents.models import LotStatus
from reagents.services import consume_lot, mark_expired_lots, reverse_consumption
from reagents.tasks import daily_expiry_check
from tests.mes.factories import person
from tests.reagents.factories import lot as make_lot


def use_many(lot, user, count, *, prefix="B"):
    entries = []
    for n in range(count):
        entries.append(consume_lot(
            user=user, lot=lot, quantity="0.5", material=lot.material, purpose=lot.site,
            batch_number=f"{prefix}-{n:04d}", patient_coi=f"G1234260{n:05d}"))
    return entries


@pytest.mark.req("RGT-GEN-001:recall-list", "RGT-GEN-001:by-batch")
def test_the_recall_list_names_every_batch_and_patient_net_of_reversals(
        db, site, operator, supervisor, vector):
    lot = make_lot(site=site, material_=vector, quantity="100")
    first, second, third = use_many(lot, operator, 3)
    consume_lot(user=operator, lot=lot, quantity="1", material=vector, purpose=site,
                batch_number="B-0000", patient_coi="G123426000000")
    reverse_consumption(user=supervisor, entry=second, reason="Wrong lot scanned")
    uses = {u.batch_number: u for u in selectors.recall_list(lot)}
    assert set(uses) == {"B-0000", "B-0001", "B-0002"}
    assert uses["B-0000"].quantity == Decimal("1.5") and uses["B-0000"].consumptions == 2
    assert uses["B-0000"].patient_coi == "G123426000000"
    assert uses["B-0001"].quantity == Decimal("0")  # reversed: still listed, nothing used
    lots = selectors.lots_used_by_batch(operator, batch_number="B-0002")
    assert [(u.lot, u.quantity, u.patient_coi) for u in lots] == [
        (lot, Decimal("0.5"), "G123426000002")]
    by_patient = selectors.lots_used_by_batch(operator, patient_coi="G123426000000")
    assert [u.lot for u in by_patient] == [lot]


@pytest.mark.req("RGT-GEN-001:scoped")
def test_genealogy_of_another_sites_batch_is_not_shown(db, site, other_site, vector):
    far = person("Operator", sites=[other_site], username="far1", full_name="Far Op")
    lot = make_lot(site=other_site, material_=vector)
    use_many(lot, far, 1)
    here = person("Operator", sites=[site], username="near1", full_name="Near Op")
    assert selectors.lots_used_by_batch(here, batch_number="B-0000") == []


def _genealogy_pages(client, lot, batch_number):
    client.get(reverse("reagents:lot-genealogy", args=[lot.pk]))
    client.get(reverse("reagents:lot-recall-csv", args=[lot.pk]))
    client.get(reverse("reagents:batch-genealogy") + f"?batch_number={batch_number}")


@pytest.mark.req("RGT-GEN-001:constant-queries", "RGT-GEN-001:recall-list")
def test_genealogy_queries_are_constant_from_10_to_1000_uses(
        client, site, operator, vector, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small = make_lot(site=site, material_=vector, quantity="1000")
    big = make_lot(site=site, material_=vector, quantity="1000")
    use_many(small, operator, 10, prefix="S")
    use_many(big, operator, 1000, prefix="L")
    client.force_login(operator)
    counts = []
    for lot, batch in ((small, "S-0003"), (big, "L-0003")):
        _genealogy_pages(client, lot, batch)  # warm caches (sessions, content types)
        with CaptureQueriesContext(connection) as captured:
            _genealogy_pages(client, lot, batch)
        counts.append(len(captured))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(30):
        _genealogy_pages(client, big, "L-0999")
    csv_rows = list(csv.reader(io.StringIO(client.get(
        reverse("reagents:lot-recall-csv", args=[big.pk])).content.decode())))
    assert len(csv_rows) == 1001
    assert csv_rows[0][:3] == ["Batch number", "Patient COI", "Quantity"]


@pytest.mark.req("RGT-GEN-001:constant-queries", "RGT-API-001:read")
def test_lots_of_a_batch_are_listed_in_constant_queries_however_many_lots_it_used(
        client, site, operator, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.reagents.factories import gtin14, material

    # Given one batch that used one lot and another that used ten, each received by
    # someone else (the API shows who received each lot)
    for batch, lots in (("ONE", 1), ("TEN", 10)):
        for n in range(lots):
            made = material(f"{batch}-{n}", gtin=gtin14(f"040123459{lots:02d}{n:02d}"))
            used = make_lot(site=site, material_=made, quantity="5")
            consume_lot(user=operator, lot=used, quantity="1", material=made, purpose=site,
                        batch_number=batch, patient_coi="G123426000001")
    client.force_login(operator)

    def pages(batch):
        client.get(reverse("reagents:batch-genealogy") + f"?batch_number={batch}")
        return client.get("/api/v1/reagents/genealogy/", {"batch_number": batch})

    counts = []
    for batch in ("ONE", "TEN"):
        pages(batch)  # warm caches (sessions, content types)
        with CaptureQueriesContext(connection) as captured:
            answer = pages(batch)
        counts.append(len(captured))
    # then both ask the same number of queries, and the API names all ten lots
    assert counts[0] == counts[1]
    assert len(answer.json()) == 10 and all(u["lot"]["received_by"] for u in answer.json())


@pytest.mark.req("RGT-JOB-001:marks-expired")
def test_the_daily_job_marks_lots_past_expiry_in_the_sites_zone(db, site, vector, qa_user):
    lot = make_lot(site=site, material_=vector, expiry=dt.date(2026, 3, 2))
    quarantined = make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE,
                           expiry=dt.date(2026, 3, 2))
    # 22:30 UTC on 2 March is still 2 March in Amsterdam: nothing expires
    with time_machine.travel(dt.datetime(2026, 3, 2, 22, 30, tzinfo=dt.UTC)):
        daily_expiry_check()
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED
    # 23:30 UTC is 00:30 on 3 March there: both expire, by the system account
    with time_machine.travel(dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC)):
        daily_expiry_check()
        daily_expiry_check()  # idempotent
    for expired in (lot, quarantined):
        expired.refresh_from_db()
        assert expired.status == LotStatus.EXPIRED
        changes = expired.status_changes.filter(to_status=LotStatus.EXPIRED)
        assert changes.count() == 1
        assert changes.get().decided_by == audit.system_user()


@pytest.mark.req("RGT-JOB-001:warns-qa")
def test_qa_is_told_once_a_day_which_released_lots_expire_soon(db, settings, site, vector,
                                                                 qa_user, qa2, operator):
    settings.REAGENTS_EXPIRY_WARNING_DAYS = 7
    today = dt.date(2026, 5, 10)
    soon = make_lot(site=site, material_=vector, expiry=today + dt.timedelta(days=5),
                    supplier_lot="SOON1")
    make_lot(site=site, material_=vector, expiry=today + dt.timedelta(days=20),
             supplier_lot="LATER1")
    make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE,
             expiry=today + dt.timedelta(days=3), supplier_lot="QUAR1")
    with time_machine.travel(dt.datetime(2026, 5, 10, 6, tzinfo=dt.UTC)):
        daily_expiry_check()
        daily_expiry_check()
    notes = Notification.objects.filter(recipient__in=[qa_user, qa2])
    assert notes.count() == 2
    note = notes.first()
    assert "expire within 7 days" in note.subject
    assert soon.supplier_lot in note.body
    assert "LATER1" not in note.body and "QUAR1" not in note.body
    assert not Notification.objects.filter(recipient=operator).exists()


@pytest.mark.req("RGT-JOB-001:window")
def test_the_warning_window_defaults_to_30_days(db, settings):
    from reagents.services.status import expiry_warning_days

    if hasattr(settings, "REAGENTS_EXPIRY_WARNING_DAYS"):
        del settings.REAGENTS_EXPIRY_WARNING_DAYS
    assert expiry_warning_days() == 30


@pytest.mark.req("RGT-JOB-001:scheduled")
def test_the_job_is_in_the_beat_schedule(settings):
    from reagents.schedule import BEAT_SCHEDULE

    entry = BEAT_SCHEDULE["reagents-daily-expiry-check"]
    assert entry["task"] == "reagents.tasks.daily_expiry_check"
    assert settings.CELERY_BEAT_SCHEDULE["reagents-daily-expiry-check"] == entry


@pytest.mark.req("RGT-JOB-001:marks-expired")
def test_mark_expired_leaves_lots_in_date_alone(db, site, vector):
    lot = make_lot(site=site, material_=vector)
    assert mark_expired_lots(user=audit.system_user()) == []
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED
