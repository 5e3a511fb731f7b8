"""Orders create the patient, the COI and the clinical identity; the order's timeline."""

import datetime as dt
import threading

import pytest
from django.db import connection

from custody import din as isbt
from custody.models import ClinicalIdentity, DinCounter, Order, OrderStatusChange, Patient
from custody.services import orders
from mes.errors import DomainError, PermissionRefused
from tests.custody.factories import ProductFactory, clinic, order_for, plant
from tests.mes.factories import person


@pytest.mark.req("COI-ORD-001", "COI-DIN-003")
def test_an_order_creates_patient_coi_identity_and_timeline(planner, site, clinical_site):
    order = order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                      initials="j d")
    patient = order.patient
    year = dt.datetime.now(site.zone).year % 100
    assert patient.din == f"G1234{year:02d}000001"
    assert patient.coi == patient.din and patient.din_flags == "00"
    assert (patient.initials, patient.site, patient.treating_site) == ("JD", site, clinical_site)
    assert ClinicalIdentity.objects.get(patient=patient).full_name == "Jane Doe"
    assert order.status == Order.Status.ORDERED
    assert [c.status for c in order.timeline.all()] == ["ordered"]
    history = patient.history.get()
    assert (history.history_user, history.history_change_reason) == (
        planner, "Order from CLINIC1")


@pytest.mark.req("COI-DIN-003")
def test_sequences_follow_each_other_per_facility_and_year(planner, site, clinical_site):
    numbers = [order_for(planner, manufacturing_site=site, ordering_site=clinical_site)
               .patient.din[-6:] for _ in range(3)]
    assert numbers == ["000001", "000002", "000003"]
    assert DinCounter.objects.get().last_sequence == 3


@pytest.mark.req("COI-DIN-003")
def test_a_refused_order_gives_its_number_back(planner, site, clinical_site):
    with pytest.raises(DomainError):
        order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                  full_name=" ")
    assert not Patient.objects.exists()
    order = order_for(planner, manufacturing_site=site, ordering_site=clinical_site)
    assert order.patient.din.endswith("000001")


@pytest.mark.req("COI-DIN-003")
def test_an_external_coi_must_match_the_products_sponsor_format(planner, site, clinical_site):
    product = ProductFactory(code="SPONSOR-X", coi_scheme="external",
                             external_coi_pattern=r"SPX-\d{4}-[A-Z]{2}",
                             external_coi_example="SPX-0001-AB")
    with pytest.raises(DomainError, match="sponsor format.*SPX-0001-AB"):
        order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                  product=product, external_coi="SPX-12-AB")
    assert not Patient.objects.exists()
    order = order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                      product=product, external_coi="SPX-0042-CD")
    assert (order.patient.coi, order.patient.din) == ("SPX-0042-CD", "")
    with pytest.raises(DomainError, match="already assigned"):
        order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                  product=product, external_coi="SPX-0042-CD")


@pytest.mark.req("COI-ORD-001")
def test_ordering_needs_the_permission_and_the_ordering_site(operator, planner, site,
                                                             clinical_site, roles):
    with pytest.raises(PermissionRefused):
        order_for(operator, manufacturing_site=site, ordering_site=clinical_site)
    elsewhere = clinic("CLINIC2")
    with pytest.raises(PermissionRefused):
        order_for(planner, manufacturing_site=site, ordering_site=elsewhere)
    assert not Patient.objects.exists() and not DinCounter.objects.exists()


@pytest.mark.req("COI-ORD-001")
def test_the_order_moves_forward_and_is_cancelled_with_a_reason(planner, order):
    orders.advance_order(actor=planner, order=order, status="collection_scheduled",
                         reason="Apheresis booked for 10 January")
    with pytest.raises(DomainError, match="cannot become"):
        orders.advance_order(actor=planner, order=order, status="ordered", reason="Back")
    with pytest.raises(DomainError, match="reason"):
        orders.advance_order(actor=planner, order=order, status="cancelled", reason=" ")
    orders.advance_order(actor=planner, order=order, status="cancelled",
                         reason="Patient no longer eligible")
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == ("cancelled", "Patient no longer eligible")
    assert order.patient.status == Patient.Status.WITHDRAWN
    assert [c.status for c in OrderStatusChange.objects.filter(order=order)] == [
        "ordered", "collection_scheduled", "cancelled"]
    with pytest.raises(DomainError, match="cancelled"):
        orders.advance_order(actor=planner, order=order, status="collected", reason="Oops")


@pytest.mark.req("COI-PAT-001")
def test_the_clinical_identity_needs_the_permission_and_every_view_is_logged(
        planner, qa_user, patient):
    with pytest.raises(PermissionRefused):
        orders.reveal_clinical_identity(actor=planner, patient=patient, purpose="Curious")
    assert not patient.clinical_identity.accesses.exists()
    qa = person("QA Reviewer", sites=[patient.treating_site], username="qa2",
                full_name="Quinn Other")
    identity = orders.reveal_clinical_identity(actor=qa, patient=patient,
                                               purpose="Mix-up investigation DEV-1")
    orders.reveal_clinical_identity(actor=qa, patient=patient, purpose="Second look")
    assert identity.full_name == "Jane Doe"
    accesses = list(identity.accesses.order_by("pk"))
    assert [(a.user, a.purpose) for a in accesses] == [
        (qa, "Mix-up investigation DEV-1"), (qa, "Second look")]
    stranger = person("QA Reviewer", sites=[plant("PLANT9", "H9999")], username="qa3")
    with pytest.raises(PermissionRefused):
        orders.reveal_clinical_identity(actor=stranger, patient=patient, purpose="Audit")
    assert identity.accesses.count() == 2


@pytest.mark.req("COI-DIN-003")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_orders_get_consecutive_dins_without_gap_or_duplicate(roles):
    site, clinical_site = plant(), clinic()
    planner = person("Planner", sites=[site, clinical_site], username="planner1")
    product = ProductFactory()
    dins, errors = [], []
    barrier = threading.Barrier(24)

    def place(n: int) -> None:
        try:
            barrier.wait()
            order = order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                              product=product, hospital_record_number=f"H-{n}")
            dins.append(order.patient.din)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sequences = sorted(int(d[-6:]) for d in dins)
    assert sequences == list(range(1, 25))
    assert all(isbt.parse(d).din == d for d in dins)
    assert DinCounter.objects.get().last_sequence == 24
