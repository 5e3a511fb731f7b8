"""Consumption at the point of use, its reversal and stock adjustments."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.urls import reverse

from mes.errors import DomainError
from reagents.models import LotStatus, LotStatusChange, ReagentLot, StockEntry
from reagents.services import adjust_stock, consume_lot, reverse_consumption
from tests.reagents.factories import lot as make_lot

JANUARY = dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)


def use(lot, user, *, quantity="2", material=None, purpose=None, at=None,
        batch="B-0001", coi="G123426000001"):
    return consume_lot(user=user, lot=lot, quantity=quantity, material=material or lot.material,
                       purpose=purpose if purpose is not None else user, batch_number=batch,
                       patient_coi=coi, at=at)


def snapshot(lot):
    lot = ReagentLot.objects.get(pk=lot.pk)
    return (lot.quantity_on_hand, lot.status, StockEntry.objects.count(),
            lot.history.count(), LotStatusChange.objects.count())


@pytest.mark.req("RGT-USE-002:record", "RGT-USE-002:balance")
def test_a_consumption_records_who_when_what_for_and_the_batch_and_patient(
        db, site, operator, vector):
    lot = make_lot(site=site, material_=vector, quantity="10", received_at=JANUARY)
    purpose = site  # any saved record stands in for the batch step execution
    at = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    with time_machine.travel(at + dt.timedelta(minutes=5), tick=False):
        entry = use(lot, operator, quantity="2.5", purpose=purpose, at=at)
    assert (entry.kind, entry.quantity, entry.balance_after) == (
        StockEntry.Kind.CONSUMPTION, Decimal("-2.5"), Decimal("7.5"))
    assert (entry.entered_by, entry.occurred_at) == (operator, at)
    assert entry.recorded_at == at + dt.timedelta(minutes=5)
    assert entry.purpose == purpose
    assert entry.purpose_type == ContentType.objects.get_for_model(purpose)
    assert (entry.batch_number, entry.patient_coi) == ("B-0001", "G123426000001")
    lot.refresh_from_db()
    assert lot.quantity_on_hand == Decimal("7.5")
    latest = lot.history.order_by("-history_id").first()
    assert (latest.history_user, latest.quantity_on_hand) == (operator, Decimal("7.5"))
    assert latest.history_change_reason == "Consumed for batch B-0001"
    assert entry.history.get().history_user == operator


@pytest.mark.req("RGT-USE-002:balance")
def test_taking_the_last_of_a_lot_depletes_it(db, site, operator, vector):
    lot = make_lot(site=site, material_=vector, quantity="2")
    use(lot, operator, quantity="2")
    lot.refresh_from_db()
    assert (lot.quantity_on_hand, lot.status) == (Decimal("0"), LotStatus.DEPLETED)
    assert lot.status_changes.last().to_status == LotStatus.DEPLETED


REFUSALS = {
    LotStatus.QUARANTINE: ("lot_quarantined", "is in quarantine and not released by QA"),
    LotStatus.REJECTED: ("lot_rejected", "was rejected by QA"),
    LotStatus.ON_HOLD: ("lot_on_hold", "is on hold by QA"),
    LotStatus.EXPIRED: ("lot_expired", "has expired"),
}


@pytest.mark.req("RGT-USE-001:not-released")
@pytest.mark.parametrize("status", list(REFUSALS))
def test_a_lot_not_released_is_refused_with_its_own_message(db, site, operator, vector, status):
    lot = make_lot(site=site, material_=vector, status=status)
    before = snapshot(lot)
    with pytest.raises(DomainError) as refused:
        use(lot, operator)
    code, message = REFUSALS[status]
    assert refused.value.code == code
    assert message in refused.value.message and lot.supplier_lot in refused.value.message
    assert snapshot(lot) == before


@pytest.mark.req("RGT-USE-001:expired")
def test_expiry_is_judged_by_the_sites_calendar_at_the_moment_of_use(db, site, operator,
                                                                     vector):
    # Given a released lot expiring on 2 March at a plant in Amsterdam (UTC+1 in March)
    lot = make_lot(site=site, material_=vector, expiry=dt.date(2026, 3, 2), received_at=JANUARY)
    with time_machine.travel(dt.datetime(2026, 3, 3, 6, tzinfo=dt.UTC)):
        # 23:30 UTC on 2 March is 00:30 on 3 March in Amsterdam: past expiry there
        late = dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC)
        before = snapshot(lot)
        with pytest.raises(DomainError) as refused:
            use(lot, operator, at=late)
        assert refused.value.code == "lot_expired"
        assert "expired on 2026-03-02 (Europe/Amsterdam)" in refused.value.message
        assert snapshot(lot) == before
        # while 22:30 UTC is 23:30 on 2 March there: the lot may still be used
        entry = use(lot, operator, at=dt.datetime(2026, 3, 2, 22, 30, tzinfo=dt.UTC))
    assert entry.quantity == Decimal("-2")


@pytest.mark.req("RGT-USE-001:wrong-material")
def test_the_wrong_material_is_refused(db, site, operator, vector, medium):
    lot = make_lot(site=site, material_=medium)
    before = snapshot(lot)
    with pytest.raises(DomainError) as refused:
        use(lot, operator, material=vector)
    assert refused.value.code == "wrong_material"
    assert "is not LV-CD19" in refused.value.message
    assert snapshot(lot) == before


@pytest.mark.req("RGT-USE-001:insufficient")
def test_more_than_is_on_hand_is_refused(db, site, operator, vector):
    lot = make_lot(site=site, material_=vector, quantity="3")
    before = snapshot(lot)
    with pytest.raises(DomainError) as refused:
        use(lot, operator, quantity="3.001")
    assert refused.value.code == "insufficient_quantity"
    assert "has 3.000 mL on hand" in refused.value.message
    assert snapshot(lot) == before


@pytest.mark.req("RGT-USE-001:authorised")
def test_consumption_needs_the_permission_the_site_and_a_batch(db, site, other_site, vector,
                                                               operator, qa_user):
    here = make_lot(site=site, material_=vector)
    there = make_lot(site=other_site, material_=vector)
    before = (snapshot(here), snapshot(there))
    for code, consume in (("permission_denied", lambda: use(here, qa_user)),
                          ("permission_denied", lambda: use(there, operator)),
                          ("batch_required", lambda: use(here, operator, batch=" "))):
        with pytest.raises(DomainError) as refused:
            consume()
        assert refused.value.code == code
        assert (snapshot(here), snapshot(there)) == before


@pytest.mark.req("RGT-USE-003:constraint")
def test_the_database_refuses_a_negative_on_hand_quantity(db, site, vector):
    lot = make_lot(site=site, material_=vector, quantity="1")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE reagents_reagentlot SET quantity_on_hand = -1 WHERE id = %s",
                       [lot.pk])
    lot.quantity_on_hand = Decimal("-0.001")
    lot._change_reason = "Trying to go below zero"
    with pytest.raises(IntegrityError), transaction.atomic():
        lot.save()


@pytest.mark.req("RGT-LED-001:reversal")
def test_a_reversal_restores_stock_and_keeps_the_original(db, site, operator, supervisor,
                                                          vector):
    lot = make_lot(site=site, material_=vector, quantity="2")
    original = use(lot, operator, quantity="2")
    reversal = reverse_consumption(user=supervisor, entry=original,
                                   reason="Scanned the wrong lot at step 4")
    assert (reversal.kind, reversal.quantity, reversal.reverses) == (
        StockEntry.Kind.REVERSAL, Decimal("2"), original)
    assert (reversal.batch_number, reversal.patient_coi) == ("B-0001", "G123426000001")
    original.refresh_from_db()
    assert original.quantity == Decimal("-2") and original.kind == StockEntry.Kind.CONSUMPTION
    lot.refresh_from_db()
    assert (lot.quantity_on_hand, lot.status) == (Decimal("2"), LotStatus.RELEASED)
    assert list(lot.entries.values_list("kind", flat=True)) == ["receipt", "consumption",
                                                                "reversal"]
    before = snapshot(lot)
    with pytest.raises(DomainError, match="already reversed") as refused:
        reverse_consumption(user=supervisor, entry=original, reason="Again")
    assert refused.value.code == "already_reversed"
    with pytest.raises(DomainError, match="Only a consumption") as refused:
        reverse_consumption(user=supervisor, entry=reversal, reason="Undo the undo")
    assert refused.value.code == "not_a_consumption"
    assert snapshot(lot) == before and StockEntry.objects.count() == 3


@pytest.mark.req("RGT-LED-001:reversal")
def test_a_reversal_needs_a_reason_and_the_permission(db, site, operator, supervisor, vector):
    lot = make_lot(site=site, material_=vector)
    original = use(lot, operator)
    before = snapshot(lot)
    with pytest.raises(DomainError) as refused:
        reverse_consumption(user=supervisor, entry=original, reason=" ")
    assert refused.value.code == "reason_required"
    with pytest.raises(DomainError) as refused:
        reverse_consumption(user=operator, entry=original, reason="Mine, sorry")
    assert refused.value.code == "permission_denied"
    assert snapshot(lot) == before and StockEntry.objects.count() == 2


@pytest.mark.req("RGT-LED-001:adjustment")
def test_an_adjustment_needs_a_reason_and_cannot_go_negative(db, site, supervisor, vector):
    lot = make_lot(site=site, material_=vector, quantity="5")
    entry = adjust_stock(user=supervisor, lot=lot, quantity="-1", reason="Vial broken")
    assert (entry.kind, entry.quantity, entry.balance_after, entry.reason) == (
        StockEntry.Kind.ADJUSTMENT, Decimal("-1"), Decimal("4"), "Vial broken")
    before = snapshot(lot)
    with pytest.raises(DomainError, match="would make it negative") as refused:
        adjust_stock(user=supervisor, lot=lot, quantity="-4.5", reason="Count")
    assert refused.value.code == "insufficient_quantity"
    with pytest.raises(DomainError) as refused:
        adjust_stock(user=supervisor, lot=lot, quantity="1", reason="")
    assert refused.value.code == "reason_required"
    assert snapshot(lot) == before


@pytest.mark.req("RGT-LED-001:adjustment")
def test_an_adjustment_beyond_what_a_quantity_can_hold_is_refused_not_a_500(
        db, client, site, supervisor, vector):
    # Given a lot of 10: adding 999,999,999 would need ten digits before the decimal point
    lot = make_lot(site=site, material_=vector, quantity="10")
    before = snapshot(lot)
    with pytest.raises(DomainError, match="nine digits") as refused:
        adjust_stock(user=supervisor, lot=lot, quantity="999999999", reason="Recount")
    assert refused.value.code == "invalid_quantity"
    client.force_login(supervisor)
    page = client.post(reverse("reagents:lot-adjust", args=[lot.pk]),
                       {"quantity": "999999999", "reason": "Recount"})
    assert page.status_code == 302
    assert snapshot(lot) == before


@pytest.mark.req("RGT-LED-001:append-only")
def test_ledger_entries_cannot_be_edited_or_deleted(db, site, operator, vector):
    lot = make_lot(site=site, material_=vector)
    entry = use(lot, operator)
    refused = pytest.raises(DatabaseError, match="append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE reagents_stockentry SET quantity = -1 WHERE id = %s",
                       [entry.pk])
    with pytest.raises(DomainError) as deletion:
        entry.delete()
    assert deletion.value.code == "deletion_refused"
    entry.refresh_from_db()
    assert entry.quantity == Decimal("-2") and StockEntry.objects.count() == 2


@pytest.mark.req("RGT-USE-002:moment")
def test_the_moment_of_use_cannot_be_in_the_future_or_before_receipt(db, site, operator,
                                                                     vector):
    from django.utils import timezone

    lot = make_lot(site=site, material_=vector)
    before = snapshot(lot)
    with pytest.raises(DomainError, match="in the future") as refused:
        use(lot, operator, at=timezone.now() + dt.timedelta(hours=1))
    assert refused.value.code == "invalid_time"
    with pytest.raises(DomainError, match="cannot have been used before") as refused:
        use(lot, operator, at=lot.received_at - dt.timedelta(days=1))
    assert refused.value.code == "invalid_time"
    assert snapshot(lot) == before
