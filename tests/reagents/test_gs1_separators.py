"""A scanner that drops the GS separator after a variable-length field makes the lot (or
serial) swallow whatever followed it. Such a scan is read only as the receiver confirms."""

import datetime as dt

import pytest
from django.urls import reverse

from mes.errors import DomainError
from reagents.gs1 import parse_label, read_label
from reagents.models import LotStatusChange, ReagentLot, StockEntry
from reagents.services import receive_lot
from tests.permission_matrix import api_client
from tests.reagents.factories import gtin14, material

GS = "\x1d"
GTIN = "09501101020917"  # GS1's example GTIN, as printed in the brief's strings
# The brief's own strings: expiry 2025-12-31, lot LOT42 followed by serial XYZ
SWALLOWED_SERIAL = "01095011010209171725123110LOT4221XYZ"
WITH_SEPARATOR = "01095011010209171725123110LOT42\x1d21XYZ"
SWALLOWED_EXPIRY = "010950110102091710ABC17251231"
EXPIRY = (dt.date.today() + dt.timedelta(days=400)).replace(day=15)
YYMMDD = EXPIRY.strftime("%y%m%d")
# The same, received in date at the plant
AMBIGUOUS = f"]d201{GTIN}17{YYMMDD}10LOT4221XYZ"
AS_SCANNED = f"(01){GTIN}(17){YYMMDD}(10)LOT4221XYZ"
SPLIT = f"(01){GTIN}(17){YYMMDD}(10)LOT42(21)XYZ"


@pytest.fixture
def example(db):
    assert gtin14(GTIN[:13]) == GTIN
    return material("EX-1", gtin=GTIN, name="Example reagent", unit="vial")


def ledger():
    return (ReagentLot.objects.count(), StockEntry.objects.count(),
            LotStatusChange.objects.count(), ReagentLot.history.model.objects.count())


NOTHING = (0, 0, 0, 0)


@pytest.mark.req("RGT-RCV-004:detected")
def test_a_lot_that_swallowed_the_serial_is_reported_with_both_readings():
    label = parse_label(SWALLOWED_SERIAL)
    assert label.ambiguous
    assert [(r.lot, r.serial_number, r.expiry_date) for r in label.readings] == [
        ("LOT4221XYZ", "", dt.date(2025, 12, 31)), ("LOT42", "XYZ", dt.date(2025, 12, 31))]


@pytest.mark.req("RGT-RCV-004:detected")
def test_a_lot_that_swallowed_the_expiry_is_reported_with_both_readings():
    label = parse_label(SWALLOWED_EXPIRY)
    assert label.ambiguous
    assert [(r.lot, r.expiry_date) for r in label.readings] == [
        ("ABC17251231", None), ("ABC", dt.date(2025, 12, 31))]


@pytest.mark.req("RGT-RCV-004:detected")
def test_a_serial_that_swallowed_the_lot_is_reported_although_the_label_seems_lotless():
    label = parse_label(f"01{GTIN}21SN0710ABC")
    assert label.ambiguous
    assert [(r.lot, r.serial_number) for r in label.readings] == [("ABC", "SN07")]


@pytest.mark.req("RGT-RCV-004:two-dropped")
@pytest.mark.parametrize(("scan", "right"), [
    (f"01{GTIN}10LOT21SER17251231", ("LOT", "SER", dt.date(2025, 12, 31))),
    (f"01{GTIN}21SER10LOT17251231", ("LOT", "SER", dt.date(2025, 12, 31))),
])
def test_when_two_separators_were_dropped_the_right_reading_is_offered(scan, right):
    label = parse_label(scan)
    readings = [(r.lot, r.serial_number, r.expiry_date) for r in label.readings]
    assert label.ambiguous
    assert right in readings
    assert len(readings) == len(set(readings))  # each reading offered once


@pytest.mark.req("RGT-RCV-004:detected")
@pytest.mark.parametrize("tail", [
    "1713", "17251331",        # 17 needs six digits of a real date
    f"01{GTIN[:-1]}8",         # 01 needs its check digit
])
def test_only_valid_elements_count_as_swallowed(tail):
    assert not parse_label(f"01{GTIN}17{YYMMDD}10LOT{tail}").ambiguous


@pytest.mark.req("RGT-RCV-004:read-as-is")
@pytest.mark.parametrize("scan", [
    WITH_SEPARATOR,                                   # the scanner sends GS
    f"{GS}01{GTIN}17251231" + "10LOT4221XYZ",         # it sends FNC1 in first position: all
    "(01)09501101020917(17)251231(10)LOT4221XYZ",     # human-readable, unambiguous
    f"01{GTIN}17251231" + "10VV24-0999",              # digits, but no element in them
    f"01{GTIN}17251231" + "10LOT2024A",               # 20, 24, 240... are not on the label
    f"01{GTIN}17251231" + "10TX1799",                 # 17 but no date after it
    f"01{GTIN}17251231" + "10IL2-5521",               # ends in 21 with nothing after it
])
def test_an_unambiguous_scan_is_read_as_it_is(scan):
    label = parse_label(scan)
    assert not label.ambiguous and label.readings == (label,)
    assert read_label(scan) == label


@pytest.mark.req("RGT-RCV-004:read-as-is")
def test_a_lot_whose_tail_repeats_an_identifier_the_label_has_is_read_as_it_is():
    # the label already has its expiry (17): a second one is no element of it
    label = parse_label(f"01{GTIN}17{YYMMDD}10LOT17{YYMMDD}")
    assert not label.ambiguous and label.lot == f"LOT17{YYMMDD}"


@pytest.mark.req("RGT-RCV-004:refused-unconfirmed")
def test_an_ambiguous_scan_is_not_received_without_a_confirmed_reading(operator, site,
                                                                        example):
    with pytest.raises(DomainError) as refused:
        receive_lot(user=operator, site=site, scan=AMBIGUOUS, quantity=1,
                    storage_location="F1")
    assert refused.value.code == "gs1_separator_missing"
    assert refused.value.status == 400
    assert refused.value.fields["reading"] == [AS_SCANNED, SPLIT]
    assert SPLIT in refused.value.message
    assert ledger() == NOTHING


@pytest.mark.req("RGT-RCV-004:refused-unconfirmed")
def test_a_reading_that_is_not_one_of_the_scan_is_refused(operator, site, example):
    for scan, reading in ((AMBIGUOUS, f"(01){GTIN}(17){YYMMDD}(10)LOT(21)42XYZ"),
                          (f"01{GTIN}17{YYMMDD}10OK1", SPLIT)):
        with pytest.raises(DomainError) as refused:
            receive_lot(user=operator, site=site, scan=scan, quantity=1,
                        storage_location="F1", reading=reading)
        assert refused.value.code == "reading_mismatch"
    assert ledger() == NOTHING


@pytest.mark.req("RGT-RCV-004:confirmed-recorded")
@pytest.mark.parametrize("reading, lot_and_serial", [(SPLIT, ("LOT42", "XYZ")),
                                                     (AS_SCANNED, ("LOT4221XYZ", ""))])
def test_the_confirmed_reading_is_received_and_the_confirmation_recorded(
        operator, site, example, reading, lot_and_serial):
    lot = receive_lot(user=operator, site=site, scan=AMBIGUOUS, quantity=2,
                      storage_location="F1", reading=reading)
    assert (lot.supplier_lot, lot.serial_number, lot.expiry_date) == (*lot_and_serial, EXPIRY)
    other = AS_SCANNED if reading == SPLIT else SPLIT
    confirmation = (f"Received by scan of {reading}; the scan had no separators and the "
                    f"receiver confirmed this reading against the printed label (not {other})")
    entry = StockEntry.objects.get()
    assert (entry.reason, entry.entered_by) == (confirmation, operator)
    assert lot.history.get().history_change_reason == confirmation


@pytest.mark.req("RGT-RCV-004:confirmed-recorded")
def test_an_unambiguous_receipt_records_no_confirmation(operator, site, example):
    lot = receive_lot(user=operator, site=site, scan=f"01{GTIN}17{YYMMDD}10LOT42{GS}21XYZ",
                      quantity=2, storage_location="F1")
    assert StockEntry.objects.get(lot=lot).reason == f"Received by scan of {SPLIT}"


@pytest.mark.req("RGT-RCV-004:refused-unconfirmed", "RGT-API-001:receive")
def test_the_api_refuses_an_ambiguous_scan_then_receives_the_confirmed_reading(
        operator, site, example):
    api = api_client(operator)
    body = {"site": site.code, "scan": AMBIGUOUS, "quantity": "2", "storage_location": "F1"}
    refused = api.post("/api/v1/reagents/lots/receive/", body, format="json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "gs1_separator_missing"
    assert refused.json()["fields"]["reading"] == [AS_SCANNED, SPLIT]
    wrong = api.post("/api/v1/reagents/lots/receive/", {**body, "reading": "(01)1"},
                     format="json")
    assert wrong.status_code == 400 and wrong.json()["code"] == "reading_mismatch"
    assert ledger() == NOTHING
    done = api.post("/api/v1/reagents/lots/receive/", {**body, "reading": SPLIT},
                    format="json")
    assert done.status_code == 201
    assert (done.json()["supplier_lot"], done.json()["serial_number"]) == ("LOT42", "XYZ")


@pytest.mark.req("RGT-RCV-004:refused-unconfirmed", "RGT-UI-001:receiving")
def test_the_receiving_page_refuses_an_ambiguous_scan_without_a_reading(client, operator,
                                                                         site, example):
    client.force_login(operator)
    page = client.post(reverse("reagents:receive"), {
        "site": site.pk, "scan": AMBIGUOUS, "quantity": "2", "storage_location": "F1"})
    assert page.status_code == 400
    assert "sent no separators" in page.content.decode()
    assert ledger() == NOTHING
