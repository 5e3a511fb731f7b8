"""Orders create the patient, the COI and the clinical identity; the order's timeline."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from custody import din as isbt
from custody.models import (
    ClinicalIdentity,
    ClinicalIdentityAccess,
    DinCounter,
    Order,
    OrderStatusChange,
    Patient,
)
from custody.services import orders
from custody.services.events import Handoff, record_custody_event
from mes.errors import DomainError, PermissionRefused
from mes.services.sites import site_today
from tests.custody.factories import ProductFactory, clinic, order_for, plant
from tests.mes.factories import person


@pytest.mark.req("COI-ORD-001:creates-all", "COI-ORD-001:timeline", "COI-DIN-003:sequence",
                 "COI-DIN-001:format", "COI-PAT-001:pseudonymised")
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
    assert [(c.status, c.changed_by, c.reason) for c in order.timeline.all()] == [
        ("ordered", planner, "Order from CLINIC1")]
    assert order.planned_collection_date == site_today(clinical_site) + dt.timedelta(days=14)
    # the patient record is pseudonymised: the name and hospital number live apart
    assert {f.name for f in Patient._meta.concrete_fields} == {
        "id", "coi", "din", "din_flags", "product", "site", "treating_site", "initials",
        "date_of_birth", "status"}
    history = patient.history.get()
    assert (history.history_user, history.history_change_reason) == (
        planner, "Order from CLINIC1")


@pytest.mark.req("COI-DIN-003:sequence")
def test_sequences_follow_each_other_per_facility_and_year(planner, site, clinical_site):
    numbers = [order_for(planner, manufacturing_site=site, ordering_site=clinical_site)
               .patient.din[-6:] for _ in range(3)]
    assert numbers == ["000001", "000002", "000003"]
    assert DinCounter.objects.get().last_sequence == 3


@pytest.mark.req("COI-DIN-003:no-gap", "COI-ORD-001:creates-all")
def test_a_refused_order_gives_its_number_back(planner, site, clinical_site):
    with pytest.raises(DomainError) as refused:
        order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                  full_name=" ")
    assert refused.value.code == "invalid"
    assert refused.value.fields == {"full_name": ["Required."],
                                    "hospital_record_number": ["Required."]}
    _nothing_ordered()
    order = order_for(planner, manufacturing_site=site, ordering_site=clinical_site)
    assert order.patient.din.endswith("000001")


@pytest.mark.req("COI-DIN-003:sponsor-format")
def test_an_external_coi_must_match_the_products_sponsor_format(planner, site, clinical_site):
    product = ProductFactory(code="SPONSOR-X", coi_scheme="external",
                             external_coi_pattern=r"SPX-\d{4}-[A-Z]{2}",
                             external_coi_example="SPX-0001-AB")
    with pytest.raises(DomainError, match="sponsor format.*SPX-0001-AB") as refused:
        order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                  product=product, external_coi="SPX-12-AB")
    assert refused.value.code == "invalid_external_coi"
    _nothing_ordered()
    order = order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                      product=product, external_coi="SPX-0042-CD")
    assert (order.patient.coi, order.patient.din) == ("SPX-0042-CD", "")
    with pytest.raises(DomainError, match="already assigned") as refused:
        order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                  product=product, external_coi="SPX-0042-CD")
    assert refused.value.code == "coi_taken"
    assert (Patient.objects.count(), Order.objects.count(),
            OrderStatusChange.objects.count()) == (1, 1, 1)


@pytest.mark.req("COI-ORD-001:authority")
def test_ordering_needs_the_permission_and_the_ordering_site(operator, planner, site,
                                                             clinical_site, roles):
    with pytest.raises(PermissionRefused) as refused:
        order_for(operator, manufacturing_site=site, ordering_site=clinical_site)
    assert refused.value.code == "permission_denied" and "place orders" in refused.value.message
    elsewhere = clinic("CLINIC2")
    with pytest.raises(PermissionRefused) as refused:
        order_for(planner, manufacturing_site=site, ordering_site=elsewhere)
    assert refused.value.code == "permission_denied" and "CLINIC2" in refused.value.message
    _nothing_ordered()


def _stage_of(order) -> tuple:
    """Everything a refused move must leave as it was: the order, its timeline, the patient
    and their history."""
    order = Order.objects.get(pk=order.pk)
    return (order.status, order.cancel_reason, order.patient.status,
            list(OrderStatusChange.objects.filter(order=order).values_list("status", "reason")),
            order.history.count(), order.patient.history.count())


@pytest.mark.req("COI-ORD-003:manual-stages")
def test_by_hand_the_collection_is_scheduled_and_the_order_cancelled_with_a_reason(planner,
                                                                                  order):
    orders.advance_order(actor=planner, order=order, status="collection_scheduled",
                         reason="Apheresis booked for 10 January")
    orders.advance_order(actor=planner, order=order, status="cancelled",
                         reason="Patient no longer eligible")
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == ("cancelled", "Patient no longer eligible")
    assert order.patient.status == Patient.Status.WITHDRAWN
    assert [(c.status, c.changed_by, c.reason)
            for c in OrderStatusChange.objects.filter(order=order)] == [
        ("ordered", planner, "Order from CLINIC1"),
        ("collection_scheduled", planner, "Apheresis booked for 10 January"),
        ("cancelled", planner, "Patient no longer eligible")]


@pytest.mark.req("COI-ORD-003:manual-stages")
@pytest.mark.parametrize("status", ["collection_scheduled", "cancelled"])
def test_a_manual_stage_needs_a_reason(planner, order, status):
    before = _stage_of(order)
    with pytest.raises(DomainError) as refused:
        orders.advance_order(actor=planner, order=order, status=status, reason=" ")
    assert refused.value.code == "reason_required"
    assert _stage_of(order) == before


@pytest.mark.req("COI-ORD-003:no-free-moves")
@pytest.mark.parametrize("scheduled", [False, True])
@pytest.mark.parametrize("status", ["ordered", "collected", "in_transit", "received",
                                    "in_manufacturing", "released", "shipped", "delivered",
                                    "infused"])
def test_no_stage_with_an_event_or_batch_behind_it_is_set_by_hand(planner, order, status,
                                                                  scheduled):
    if scheduled:
        orders.advance_order(actor=planner, order=order, status="collection_scheduled",
                             reason="Slot booked")
    before = _stage_of(order)
    with pytest.raises(DomainError) as refused:
        orders.advance_order(actor=planner, order=order, status=status,
                             reason="The ward says so")
    assert refused.value.code == "stage_not_manual"
    assert refused.value.fields == {"status": ["Not a manual stage."]}
    assert _stage_of(order) == before


@pytest.mark.req("COI-ORD-001:sites")
def test_an_order_is_not_manufactured_at_a_clinical_site(planner, site, clinical_site):
    with pytest.raises(DomainError) as refused:
        orders.place_order(actor=planner, request=_request(
            site, clinical_site, manufacturing_site=clinical_site))
    assert refused.value.code == "invalid"
    assert refused.value.fields == {"manufacturing_site": ["Not a manufacturing site."]}
    _nothing_ordered()


@pytest.mark.req("COI-ORD-001:transitions")
def test_a_manual_stage_follows_the_transition_table(planner, order):
    orders.advance_order(actor=planner, order=order, status="cancelled", reason="Withdrawn")
    for status in ("collection_scheduled", "cancelled"):
        before = _stage_of(order)
        with pytest.raises(DomainError) as refused:
            orders.advance_order(actor=planner, order=order, status=status, reason="Oops")
        assert refused.value.code == "invalid_transition"
        assert _stage_of(order) == before
    with pytest.raises(DomainError) as refused:
        orders.advance_order(actor=planner, order=order, status="teleported", reason="?")
    assert refused.value.code == "invalid" and _stage_of(order) == before


@pytest.mark.req("COI-ORD-003:no-free-moves")
def test_an_operator_cannot_move_an_order(operator, order):
    before = _stage_of(order)
    with pytest.raises(PermissionRefused) as refused:
        orders.advance_order(actor=operator, order=order, status="cancelled", reason="No")
    assert refused.value.code == "permission_denied" and _stage_of(order) == before


@pytest.mark.req("COI-ORD-003:events")
def test_recording_a_custody_event_advances_the_order_in_the_same_transaction(
        operator, password, order, clinical_site):
    patient = order.patient
    event = record_custody_event(actor=operator, password=password, handoff=Handoff(
        patient=patient, site=clinical_site, kind="collected", container_id="BAG-1",
        label_scan=patient.isbt.barcode_data))
    order.refresh_from_db()
    assert order.status == "collected"
    last = OrderStatusChange.objects.filter(order=order).last()
    assert (last.status, last.changed_by, last.reason) == (
        "collected", operator, f"Collected (apheresis) (custody event {event.pk})")
    # an event that proves no new stage leaves the order where it is
    record_custody_event(actor=operator, password=password, handoff=Handoff(
        patient=patient, site=clinical_site, kind="packed", container_id="BAG-1",
        label_scan=patient.isbt.barcode_data))
    order.refresh_from_db()
    assert order.status == "collected" and order.timeline.count() == 2


@pytest.mark.req("COI-ORD-003:events")
def test_the_order_moves_only_if_the_event_is_recorded(operator, password, order,
                                                       clinical_site):
    patient = order.patient
    before = _stage_of(order)
    with pytest.raises(DomainError) as refused:
        record_custody_event(actor=operator, password="wrong", handoff=Handoff(
            patient=patient, site=clinical_site, kind="collected", container_id="BAG-1",
            label_scan=patient.isbt.barcode_data))
    assert refused.value.code == "wrong_password"
    assert _stage_of(order) == before


def _received_at_the_plant(order):
    """Bring the order to where a batch can start: its material received at the plant."""
    from tests.custody.test_custody_events import record
    from tests.mes.factories import PASSWORD

    courier = person("Operator", sites=[order.site, order.ordering_site], username="courier")
    for kind, where in (("collected", order.ordering_site), ("shipped", order.ordering_site),
                        ("received", order.site)):
        record(courier, PASSWORD, order.patient, where, kind)
    order.refresh_from_db()
    return order


@pytest.mark.req("COI-ORD-003:batch")
def test_the_batch_record_moves_the_order_into_manufacturing_and_to_release(qa_user, order):
    order = _received_at_the_plant(order)
    orders.advance_order_from_batch(actor=qa_user, order=order, status="in_manufacturing",
                                    reason="Batch record EBR-1 started")
    orders.advance_order_from_batch(actor=qa_user, order=order, status="released",
                                    reason="Batch EBR-1 certified by the QP")
    assert [(c.status, c.reason) for c in order.timeline.all()][4:] == [
        ("in_manufacturing", "Batch record EBR-1 started"),
        ("released", "Batch EBR-1 certified by the QP")]


@pytest.mark.req("COI-ORD-003:batch")
@pytest.mark.parametrize(("status", "code"), [
    ("infused", "stage_not_from_batch"), ("shipped", "stage_not_from_batch"),
    ("cancelled", "stage_not_from_batch"), ("nonsense", "stage_not_from_batch"),
    ("in_manufacturing", "stage_out_of_sequence"),
])
def test_the_batch_record_cannot_move_the_order_elsewhere(qa_user, order, status, code):
    order = _received_at_the_plant(order)
    orders.advance_order_from_batch(actor=qa_user, order=order, status="in_manufacturing",
                                    reason="Batch EBR-1 started")
    orders.advance_order_from_batch(actor=qa_user, order=order, status="released",
                                    reason="Batch EBR-1 certified by the QP")
    before = _stage_of(order)
    with pytest.raises(DomainError) as refused:
        orders.advance_order_from_batch(actor=qa_user, order=order, status=status,
                                        reason="Batch EBR-1")
    assert refused.value.code == code
    assert _stage_of(order) == before


@pytest.mark.req("COI-ORD-003:page")
def test_the_patient_page_offers_only_the_manual_stages(client, planner, order):
    client.force_login(planner)
    page = client.get(reverse("custody:patient-detail", args=[order.patient.pk]))
    options = page.context["advance_form"].fields["status"].choices
    assert [value for value, _ in options] == ["collection_scheduled", "cancelled"]
    assert 'value="infused"' not in page.content.decode()
    before = _stage_of(order)
    refused = client.post(reverse("custody:order-advance", args=[order.patient.pk]),
                          {"status": "infused", "reason": "The ward says so"}, follow=True)
    assert "cannot be set by hand" in refused.content.decode()
    assert _stage_of(order) == before
    client.post(reverse("custody:order-advance", args=[order.patient.pk]),
                {"status": "cancelled", "reason": "Withdrawn"})
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    after = client.get(reverse("custody:patient-detail", args=[order.patient.pk]))
    assert after.context["can_advance"] is False


@pytest.mark.req("COI-PAT-001:permission", "COI-PAT-001:logged")
def test_the_clinical_identity_needs_the_permission_and_every_view_is_logged(
        planner, qa_user, patient):
    with pytest.raises(PermissionRefused) as refused:
        orders.reveal_clinical_identity(actor=planner, patient=patient, purpose="Curious")
    assert refused.value.code == "permission_denied"
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
    with pytest.raises(PermissionRefused) as refused:
        orders.reveal_clinical_identity(actor=stranger, patient=patient, purpose="Audit")
    assert refused.value.code == "permission_denied"
    assert identity.accesses.count() == 2


@pytest.mark.req("COI-PAT-001:purpose")
def test_the_clinical_identity_is_not_shown_without_a_purpose(qa_user, patient):
    with pytest.raises(DomainError) as refused:
        orders.reveal_clinical_identity(actor=qa_user, patient=patient, purpose="  ")
    assert refused.value.code == "invalid"
    assert refused.value.fields == {"purpose": ["Required."]}
    assert not ClinicalIdentityAccess.objects.exists()


@pytest.mark.req("COI-DIN-003:concurrent")
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


# Plausible dates -----------------------------------------------------------------------


def _request(site, clinical_site, **changes) -> orders.OrderRequest:
    fields = {"product": ProductFactory(), "manufacturing_site": site,
              "ordering_site": clinical_site, "initials": "JD",
              "date_of_birth": dt.date(1971, 3, 14),
              "planned_collection_date": site_today(clinical_site) + dt.timedelta(days=14),
              "full_name": "Jane Doe", "hospital_record_number": "H-0001"}
    return orders.OrderRequest(**{**fields, **changes})


def _nothing_ordered() -> None:
    assert (Patient.objects.count(), ClinicalIdentity.objects.count(), Order.objects.count(),
            OrderStatusChange.objects.count(), DinCounter.objects.count()) == (0, 0, 0, 0, 0)


DAY = dt.timedelta(days=1)


@pytest.mark.req("COI-ORD-002:date-of-birth")
@pytest.mark.parametrize(("born", "code"), [
    (lambda today: dt.date(1899, 12, 31), "date_of_birth_too_early"),
    (lambda today: dt.date(1, 1, 1), "date_of_birth_too_early"),
    (lambda today: today + DAY, "date_of_birth_in_future"),
    (lambda today: dt.date(9999, 12, 31), "date_of_birth_in_future"),
])
def test_an_implausible_date_of_birth_is_refused(planner, site, clinical_site, born, code):
    request = _request(site, clinical_site, date_of_birth=born(site_today(clinical_site)))
    with pytest.raises(DomainError) as refused:
        orders.place_order(actor=planner, request=request)
    assert refused.value.code == code
    assert list(refused.value.fields) == ["date_of_birth"]
    _nothing_ordered()


@pytest.mark.req("COI-ORD-002:date-of-birth")
@pytest.mark.parametrize("born", [lambda today: dt.date(1900, 1, 1), lambda today: today])
def test_a_date_of_birth_from_1900_to_today_is_accepted(planner, site, clinical_site, born):
    born = born(site_today(clinical_site))
    order = orders.place_order(actor=planner,
                               request=_request(site, clinical_site, date_of_birth=born))
    assert order.patient.date_of_birth == born


@pytest.mark.req("COI-ORD-002:collection-date")
@pytest.mark.parametrize(("planned", "code"), [
    (lambda today: today - DAY, "collection_date_in_past"),
    (lambda today: dt.date(2000, 1, 1), "collection_date_in_past"),
    (lambda today: today + dt.timedelta(days=366), "collection_date_too_far"),
    (lambda today: dt.date(9999, 12, 31), "collection_date_too_far"),
])
def test_an_implausible_collection_date_is_refused(planner, site, clinical_site, planned,
                                                   code):
    request = _request(site, clinical_site,
                       planned_collection_date=planned(site_today(clinical_site)))
    with pytest.raises(DomainError) as refused:
        orders.place_order(actor=planner, request=request)
    assert refused.value.code == code
    assert list(refused.value.fields) == ["planned_collection_date"]
    _nothing_ordered()


@pytest.mark.req("COI-ORD-002:collection-date")
@pytest.mark.parametrize("days", [0, 365])
def test_a_collection_from_today_to_the_horizon_is_accepted(planner, site, clinical_site,
                                                            days):
    planned = site_today(clinical_site) + dt.timedelta(days=days)
    order = orders.place_order(actor=planner, request=_request(
        site, clinical_site, planned_collection_date=planned))
    assert order.planned_collection_date == planned


@pytest.mark.req("COI-ORD-002:horizon-setting")
def test_the_collection_horizon_is_a_setting(planner, site, clinical_site, settings):
    settings.CUSTODY_COLLECTION_HORIZON_DAYS = 30
    today = site_today(clinical_site)
    with pytest.raises(DomainError) as refused:
        orders.place_order(actor=planner, request=_request(
            site, clinical_site, planned_collection_date=today + dt.timedelta(days=31)))
    assert refused.value.code == "collection_date_too_far"
    _nothing_ordered()
    order = orders.place_order(actor=planner, request=_request(
        site, clinical_site, planned_collection_date=today + dt.timedelta(days=30)))
    assert order.planned_collection_date == today + dt.timedelta(days=30)


@pytest.mark.req("COI-ORD-002:site-local")
def test_dates_are_checked_against_the_treating_sites_local_today(planner, site,
                                                                  clinical_site):
    # 23:30 UTC on 30 November is already 1 December in Amsterdam (the clinic's zone).
    with time_machine.travel(dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC), tick=False):
        assert site_today(clinical_site) == dt.date(2026, 12, 1)
        with pytest.raises(DomainError) as refused:
            orders.place_order(actor=planner, request=_request(
                site, clinical_site, planned_collection_date=dt.date(2026, 11, 30)))
        assert refused.value.code == "collection_date_in_past"
        _nothing_ordered()
        born_today = orders.place_order(actor=planner, request=_request(
            site, clinical_site, date_of_birth=dt.date(2026, 12, 1),
            planned_collection_date=dt.date(2026, 12, 1)))
    assert born_today.patient.date_of_birth == dt.date(2026, 12, 1)


ORDER_FORM = {"initials": "AB", "date_of_birth": "1980-02-02", "full_name": "Anna Bell",
              "hospital_record_number": "H-9"}


@pytest.mark.req("COI-ORD-002:date-of-birth", "COI-ORD-002:collection-date",
                 "COI-ORD-001:form")
@pytest.mark.parametrize(("field", "value", "words"), [
    ("date_of_birth", "9999-12-31", "Must not be after"),
    ("date_of_birth", "1899-12-31", "Must be 1900-01-01 or later."),
    ("planned_collection_date", "9999-12-31", "or earlier."),
    ("planned_collection_date", "2000-01-01", "or later."),
])
def test_the_order_form_refuses_implausible_dates_at_the_field(client, planner, site,
                                                               clinical_site, field, value,
                                                               words):
    product = ProductFactory()
    soon = (site_today(clinical_site) + dt.timedelta(days=7)).isoformat()
    client.force_login(planner)
    response = client.post(reverse("custody:order-create"), {
        **ORDER_FORM, "product": product.pk, "ordering_site": clinical_site.pk,
        "manufacturing_site": site.pk, "planned_collection_date": soon, field: value})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["__all__", field] and words in errors[field][0]
    _nothing_ordered()
