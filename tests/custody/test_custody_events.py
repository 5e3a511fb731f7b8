"""Custody events: signed handoffs, label scans proving identity, breaks in the chain."""

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from custody import din as isbt
from custody.chain import chain_breaks
from custody.models import CustodyEvent, Order, ScanRefusal
from custody.services.events import Handoff, record_custody_event
from custody.services.scans import LabelMismatch
from deviations.models import Deviation
from mes.errors import PermissionRefused, SignatureRefused
from mes.models import ElectronicSignature
from tests.custody.factories import order_for


def scan_of(patient, check=True):
    number = patient.isbt
    return number.barcode_data + (number.check if check else "")


def handoff(patient, site, kind="collected", scan=None, **extra):
    return Handoff(patient=patient, site=site, kind=kind, container_id="BAG-1",
                   label_scan=scan if scan is not None else scan_of(patient), **extra)


def record(actor, password, patient, site, kind="collected", scan=None, **extra):
    return record_custody_event(actor=actor, password=password,
                                handoff=handoff(patient, site, kind, scan, **extra))


@pytest.mark.req("COI-EVT-001:recorded", "COI-EVT-001:signed")
def test_a_handoff_is_recorded_and_signed_as_performed(operator, password, patient,
                                                       clinical_site):
    event = record(operator, password, patient, clinical_site)
    signature = ElectronicSignature.objects.get(
        content_type=ContentType.objects.get_for_model(CustodyEvent), object_id=event.pk)
    assert (signature.signer, signature.meaning) == (operator, "performed")
    assert (event.performed_by, event.site, event.label_scan) == (
        operator, clinical_site, scan_of(patient))
    assert Order.objects.get(patient=patient).status == "collected"
    history = event.history.get()
    assert (history.history_user, history.history_change_reason) == (
        operator, "Collected (apheresis) recorded")


@pytest.mark.req("COI-EVT-001:signed")
def test_a_wrong_password_records_nothing(operator, patient, clinical_site):
    with pytest.raises(SignatureRefused) as refused:
        record(operator, "wrong", patient, clinical_site)
    assert refused.value.code == "wrong_password"
    assert not CustodyEvent.objects.exists() and not ElectronicSignature.objects.exists()
    assert not ScanRefusal.objects.exists()


@pytest.mark.req("COI-EVT-001:authorised")
def test_only_people_with_the_permission_at_the_site_record_handoffs(qa_user, password,
                                                                    patient, site):
    with pytest.raises(PermissionRefused) as refused:
        record(qa_user, password, patient, site, kind="received")
    assert refused.value.code == "permission_denied"
    assert not CustodyEvent.objects.exists() and not ScanRefusal.objects.exists()
    assert not ElectronicSignature.objects.exists()
    assert Order.objects.get(patient=patient).status == "ordered"


@pytest.mark.req("COI-EVT-002:misread", "COI-DIN-002:wrong-check")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_wrong_check_character_is_refused_and_logged_without_a_deviation(
        operator, password, patient, clinical_site):
    wrong = patient.isbt.barcode_data + ("A" if patient.isbt.check != "A" else "B")
    with pytest.raises(isbt.InvalidScan, match="check character") as refused:
        record(operator, password, patient, clinical_site, scan=wrong)
    assert refused.value.code == "wrong_check_character"
    refusal = ScanRefusal.objects.get()
    assert (refusal.reason, refusal.scanned, refusal.scanned_by) == (
        "wrong_check_character", wrong, operator)
    assert not CustodyEvent.objects.exists() and not Deviation.objects.exists()


@pytest.mark.req("COI-EVT-002:mismatch-refused", "COI-EVT-002:mismatch-logged")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_another_patients_label_is_refused_and_raises_a_critical_deviation(
        operator, planner, password, patient, site, clinical_site):
    other = order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                      full_name="John Roe", hospital_record_number="H-0002").patient
    with pytest.raises(LabelMismatch, match="WRONG PATIENT") as refused:
        record(operator, password, patient, clinical_site, scan=scan_of(other))
    assert (refused.value.code, refused.value.status) == ("label_mismatch", 409)
    # The refusal and the deviation were committed although the handoff was refused.
    refusal = ScanRefusal.objects.get()
    assert (refusal.reason, refusal.matched_patient, refusal.patient) == (
        "other_patient", other, patient)
    deviation = Deviation.objects.get()
    assert (deviation.classification, deviation.patient_impact, deviation.patient_coi) == (
        "critical", "yes", patient.coi)
    assert deviation.subject == refusal
    assert not CustodyEvent.objects.exists() and not ElectronicSignature.objects.exists()
    assert Order.objects.get(patient=patient).status == "ordered"


@pytest.mark.req("COI-EVT-002:mismatch-refused", "COI-EVT-002:mismatch-logged")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_identifier_that_is_not_this_patients_is_a_mismatch_too(
        operator, password, patient, clinical_site):
    stranger = isbt.DIN(isbt.compose("G1234", 26, 999_999))
    with pytest.raises(LabelMismatch, match="WRONG LABEL") as refused:
        record(operator, password, patient, clinical_site, scan=stranger.barcode_data)
    assert refused.value.code == "label_mismatch"
    assert ScanRefusal.objects.get().reason == "unknown_identifier"
    assert Deviation.objects.get().classification == "critical"
    assert not CustodyEvent.objects.exists() and not ElectronicSignature.objects.exists()
    assert Order.objects.get(patient=patient).status == "ordered"


@pytest.mark.req("COI-EVT-003:receipt-without-shipment")
def test_a_receipt_without_a_shipment_is_a_visible_break(operator, password, patient, site,
                                                         clinical_site):
    now = timezone.now()
    record(operator, password, patient, clinical_site, occurred_at=now - timedelta(hours=3))
    receipt = record(operator, password, patient, site, kind="received",
                     occurred_at=now - timedelta(hours=1))
    events = list(CustodyEvent.objects.filter(patient=patient))
    assert chain_breaks(events) == {
        receipt.pk: "Receipt without a shipment: no “shipped to the plant” event comes "
                    "before it."}


@pytest.mark.req("COI-EVT-003:missing-step", "COI-EVT-003:site-change")
def test_a_missing_step_and_a_change_of_site_are_breaks(operator, password, patient, site,
                                                        clinical_site):
    now = timezone.now()
    collected = record(operator, password, patient, clinical_site,
                       occurred_at=now - timedelta(hours=5))
    packed = record(operator, password, patient, site, kind="packed",
                    occurred_at=now - timedelta(hours=4))
    # (an infusion here would be refused: the product is not released)
    stored = record(operator, password, patient, site, kind="stored", location="Tank 2",
                    occurred_at=now - timedelta(hours=3))
    breaks = chain_breaks(list(CustodyEvent.objects.filter(patient=patient)))
    assert collected.pk not in breaks
    assert breaks[packed.pk] == "The material changed site without a shipment and receipt."
    assert breaks[stored.pk].startswith("Gap: “packed” is followed by")


@pytest.mark.req("COI-EVT-003:complete")
def test_a_complete_journey_has_no_break(operator, password, patient, site, clinical_site):
    start = timezone.now() - timedelta(days=20)
    steps = [(clinical_site, "collected"), (clinical_site, "packed"),
             (clinical_site, "shipped"), (site, "received"), (site, "stored"),
             (site, "removed"), (site, "transferred_to_suite"),
             (site, "shipped_to_treating_site"), (clinical_site, "received_at_treating_site"),
             (clinical_site, "bedside_verified"), (clinical_site, "infused")]
    from custody.services.orders import advance_order_from_batch

    for hours, (where, kind) in enumerate(steps):
        record(operator, password, patient, where, kind=kind, location="Tank 2",
               occurred_at=start + timedelta(hours=hours))
        if kind == "transferred_to_suite":  # the batch is made and the QP releases it
            advance_order_from_batch(actor=operator, order=Order.objects.get(patient=patient),
                                     status="released", reason="Batch B-1 certified")
    assert chain_breaks(list(CustodyEvent.objects.filter(patient=patient))) == {}
    order = Order.objects.get(patient=patient)
    assert order.status == "infused"
    assert [c.status for c in order.timeline.all()] == [
        "ordered", "collected", "in_transit", "received", "in_manufacturing", "released",
        "shipped", "delivered", "infused"]


@pytest.mark.req("COI-EVT-001:label", "COI-EVT-002:mismatch-refused",
                 "COI-DIN-003:sponsor-scan")
def test_a_sponsor_assigned_coi_is_scanned_as_it_is(operator, planner, password, site,
                                                    clinical_site):
    from tests.custody.factories import ProductFactory

    product = ProductFactory(code="SPX", coi_scheme="external",
                             external_coi_pattern=r"SPX-\d{4}-[A-Z]{2}")
    patient = order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                        product=product, external_coi="SPX-0007-AB").patient
    event = record(operator, password, patient, clinical_site, scan=" spx-0007-ab\n")
    assert event.kind == "collected"
    with pytest.raises(LabelMismatch) as refused:
        record(operator, password, patient, clinical_site, scan="SPX-0008-AB")
    assert refused.value.code == "label_mismatch"
    assert list(CustodyEvent.objects.all()) == [event]
    assert ElectronicSignature.objects.count() == 1
