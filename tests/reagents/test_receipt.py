"""Receiving a lot by scanning its GS1 label, in every form scanners really send."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from mes.errors import DomainError
from mes.models import ElectronicSignature
from reagents.gs1 import parse_label
from reagents.models import (
    LotStatus,
    LotStatusChange,
    Material,
    MaterialGtin,
    ReagentLot,
    StockEntry,
)
from reagents.services import create_material, receive_lot
from tests.reagents.factories import VECTOR_GTIN, material

GS = "\x1d"
EXPIRY = (dt.date.today() + dt.timedelta(days=400)).replace(day=15)
YYMMDD = EXPIRY.strftime("%y%m%d")

FORMS = {
    "human-readable": f"(01){VECTOR_GTIN}(17){YYMMDD}(10)VV2401(21)SN0042",
    "raw with GS": f"01{VECTOR_GTIN}17{YYMMDD}10VV2401{GS}21SN0042",
    "DataMatrix AIM prefix": f"]d201{VECTOR_GTIN}17{YYMMDD}10VV2401{GS}21SN0042",
    "GS1-128 AIM prefix": f"]C101{VECTOR_GTIN}17{YYMMDD}10VV2401{GS}21SN0042",
    "leading FNC1 as GS": f"{GS}01{VECTOR_GTIN}17{YYMMDD}10VV2401{GS}21SN0042",
    "substitute separator": f"01{VECTOR_GTIN}17{YYMMDD}10VV2401|21SN0042",
}


def nothing_written():
    return not (ReagentLot.objects.exists() or StockEntry.objects.exists()
                or LotStatusChange.objects.exists()
                or ReagentLot.history.model.objects.exists())


@pytest.mark.req("RGT-RCV-001:scan-forms")
@pytest.mark.parametrize("form", list(FORMS))
def test_every_real_world_scan_form_is_read(settings, form):
    settings.REAGENTS_GS1_SUBSTITUTE_SEPARATORS = "|"
    label = parse_label(FORMS[form])
    assert (label.gtin, label.lot, label.expiry_date, label.serial_number) == (
        VECTOR_GTIN, "VV2401", EXPIRY, "SN0042")


@pytest.mark.req("RGT-RCV-001:scan-forms")
def test_without_the_substitute_configured_the_lot_swallows_the_rest(settings):
    settings.REAGENTS_GS1_SUBSTITUTE_SEPARATORS = ""
    # "|" is outside GS1's character set, so the lot (10) cannot absorb it: a clear refusal
    with pytest.raises(DomainError) as refused:
        parse_label(FORMS["substitute separator"])
    assert refused.value.code == "label_unreadable"


@pytest.mark.req("RGT-RCV-001:quarantine-receipt")
def test_receiving_a_lot_by_scan_puts_it_in_quarantine_with_its_receipt(db, operator, site,
                                                                        vector):
    lot = receive_lot(user=operator, site=site, scan=FORMS["raw with GS"], quantity="12.5",
                      storage_location="LN2 freezer 1, rack C")
    assert (lot.material, lot.supplier_lot, lot.serial_number, lot.expiry_date) == (
        vector, "VV2401", "SN0042", EXPIRY)
    assert lot.status == LotStatus.QUARANTINE
    assert (lot.quantity_received, lot.quantity_on_hand) == (Decimal("12.5"), Decimal("12.5"))
    assert lot.received_by == operator
    entry = StockEntry.objects.get()
    assert (entry.kind, entry.quantity, entry.balance_after, entry.entered_by) == (
        StockEntry.Kind.RECEIPT, Decimal("12.5"), Decimal("12.5"), operator)
    change = LotStatusChange.objects.get()
    assert (change.from_status, change.to_status, change.decided_by) == (
        "", LotStatus.QUARANTINE, operator)
    history = lot.history.get()
    assert history.history_user == operator
    assert "(10)VV2401" in history.history_change_reason


@pytest.mark.req("RGT-RCV-003:no-qa-release")
def test_a_material_without_qa_release_is_released_on_receipt(db, operator, site):
    material("BUF-PBS", gtin="04012345000023", requires_qa_release=False, is_critical=False)
    lot = receive_lot(user=operator, site=site, scan=f"(01)04012345000023(17){YYMMDD}(10)P1",
                      quantity=5, storage_location="Store room")
    assert lot.status == LotStatus.RELEASED
    assert list(lot.status_changes.values_list("to_status", flat=True)) == [
        LotStatus.QUARANTINE, LotStatus.RELEASED]
    assert not ElectronicSignature.objects.exists()


BAD_SCANS = {
    "unparseable": ("hello world", "not a readable GS1 label"),
    "wrong check digit": (f"(01)09506000134353(17){YYMMDD}(10)VV1", "not valid"),
    "bad date": (f"(01){VECTOR_GTIN}(17)271331(10)VV1", "not a valid YYMMDD date"),
    "impossible day": (f"01{VECTOR_GTIN}17270230" + "10VV1", "not a valid YYMMDD date"),
    "unknown AI (HRI)": (f"(01){VECTOR_GTIN}(23)1234(10)VV1", "unknown GS1 application"),
    "unknown AI (raw)": (f"01{VECTOR_GTIN}231234", "unknown GS1 application"),
    "unknown GTIN": (f"(01)04012345000092(17){YYMMDD}(10)VV1", "No material has the GTIN"),
    "missing lot": (f"(01){VECTOR_GTIN}(17){YYMMDD}(21)S1", "no lot number (10)"),
    "no GTIN": (f"(10)VV1(17){YYMMDD}", "no GTIN (01)"),
    "not a GS1 symbology": (f"]C001{VECTOR_GTIN}10VV1", "not a GS1 barcode"),
    "empty": ("   ", "scan is empty"),
}
BAD_SCAN_CODES = {"unknown GTIN": "unknown_gtin"}  # every other one: label_unreadable


@pytest.mark.req("RGT-RCV-002:bad-label")
@pytest.mark.parametrize("case", list(BAD_SCANS))
def test_a_bad_scan_gets_a_clear_message_and_writes_nothing(db, operator, site, vector, case):
    scan, message = BAD_SCANS[case]
    with pytest.raises(DomainError, match=re.escape(message)) as refused:
        receive_lot(user=operator, site=site, scan=scan, quantity=1, storage_location="F1")
    assert refused.value.code == BAD_SCAN_CODES.get(case, "label_unreadable")
    assert refused.value.status == 400
    assert nothing_written()


@pytest.mark.req("RGT-RCV-003:once")
def test_the_same_label_cannot_be_received_twice(db, operator, site, vector):
    receive_lot(user=operator, site=site, scan=FORMS["human-readable"], quantity=1,
                storage_location="F1")
    before = (ReagentLot.objects.count(), StockEntry.objects.count(),
              LotStatusChange.objects.count(), ReagentLot.history.model.objects.count())
    with pytest.raises(DomainError, match="already received") as refused:
        receive_lot(user=operator, site=site, scan=FORMS["raw with GS"], quantity=1,
                    storage_location="F1")
    assert refused.value.code == "already_received"
    assert before == (1, 1, 1, 1) == (
        ReagentLot.objects.count(), StockEntry.objects.count(),
        LotStatusChange.objects.count(), ReagentLot.history.model.objects.count())


@pytest.mark.req("RGT-RCV-003:expired")
def test_an_expired_lot_is_not_received(db, operator, site, vector):
    with pytest.raises(DomainError, match="expired on 2020-01-31") as refused:
        receive_lot(user=operator, site=site, scan=f"(01){VECTOR_GTIN}(17)200131(10)OLD",
                    quantity=1, storage_location="F1")
    assert refused.value.code == "lot_expired"
    assert nothing_written()


@pytest.mark.req("RGT-RCV-003:expiry-entered")
def test_a_label_without_expiry_needs_the_date_entered(db, operator, site, vector):
    scan = f"(01){VECTOR_GTIN}(10)NOEXP"
    with pytest.raises(DomainError, match="no expiry date") as refused:
        receive_lot(user=operator, site=site, scan=scan, quantity=1, storage_location="F1")
    assert refused.value.code == "expiry_required"
    assert nothing_written()
    lot = receive_lot(user=operator, site=site, scan=scan, quantity=1, storage_location="F1",
                      expiry_date=EXPIRY)
    assert lot.expiry_date == EXPIRY


@pytest.mark.req("RGT-RCV-002:bad-quantity")
@pytest.mark.parametrize("quantity", ["0", "-1", "abc", "1.0001"])
def test_a_bad_quantity_is_refused(db, operator, site, vector, quantity):
    with pytest.raises(DomainError) as refused:
        receive_lot(user=operator, site=site, scan=FORMS["human-readable"], quantity=quantity,
                    storage_location="F1")
    assert refused.value.code == "invalid_quantity"
    assert nothing_written()


@pytest.mark.req("RGT-RCV-001:authorised")
def test_receiving_needs_the_permission_and_the_site(db, site, other_site, vector, qa_user,
                                                     operator):
    for user, at in ((qa_user, site), (operator, other_site)):
        with pytest.raises(DomainError) as refused:
            receive_lot(user=user, site=at, scan=FORMS["human-readable"], quantity=1,
                        storage_location="F1")
        assert refused.value.code == "permission_denied"
        assert nothing_written()


@pytest.mark.req("RGT-MAT-001:gtins-normalised", "RGT-MAT-001:gtin-unique")
def test_qa_adds_a_material_with_gtins_normalised_to_14_digits(db, qa_user):
    made = create_material(user=qa_user, code="il-2", name="Interleukin-2", unit="µg",
                           storage_condition="-20", gtins=["4012345000030", "04012345000047"])
    assert made.code == "IL-2"
    assert sorted(made.gtins.values_list("gtin", flat=True)) == [
        "04012345000030", "04012345000047"]
    materials = (Material.objects.count(), MaterialGtin.objects.count())
    with pytest.raises(DomainError, match="already belongs") as refused:
        create_material(user=qa_user, code="IL-7", name="Interleukin-7", unit="µg",
                        storage_condition="-20", gtins=["04012345000030"])
    assert refused.value.code == "gtin_taken"
    with pytest.raises(DomainError, match="check digit") as refused:
        create_material(user=qa_user, code="IL-15", name="Interleukin-15", unit="µg",
                        storage_condition="-20", gtins=["04012345000031"])
    assert refused.value.code == "invalid_gtin"
    assert (Material.objects.count(), MaterialGtin.objects.count()) == materials
