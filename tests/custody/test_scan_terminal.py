"""The scan-first terminal: a scan finds the patient and the handoff expected next with its
site, shipment and container; the gap, the cold chain and every refusal but the password
are shown before the sign dialog; a refused password keeps the dialog."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from custody.models import CustodyEvent, Patient, ScanRefusal
from custody.next_handoff import find_patient, propose
from custody.services.coldchain import create_shipment, ingest_readings
from custody.services.events import Handoff, record_custody_event
from custody.services.orders import advance_order
from deviations.models import Deviation
from mes.models import ElectronicSignature
from tests.custody.factories import ContainerTypeFactory, order_for
from tests.mes.factories import person
from tests.refusals import refused

SCAN = reverse("custody:scan")


def record(actor, password, patient, site, kind, *, shipment=None, container="BAG-1"):
    return record_custody_event(
        actor=actor,
        password=password,
        handoff=Handoff(
            patient=patient,
            site=site,
            kind=kind,
            container_id=container,
            label_scan=patient.isbt.barcode_data,
            shipment=shipment,
            occurred_at=timezone.now() - timedelta(hours=1),
        ),
    )


@pytest.fixture
def plant_operator(site, roles):
    return person("Operator", sites=[site], username="plantop", full_name="Paula Plant")


@pytest.fixture
def shipped(operator, password, patient, site, clinical_site):
    """Collected, packed and shipped from the clinic to the plant in a dry shipper."""
    record(operator, password, patient, clinical_site, "collected")
    record(operator, password, patient, clinical_site, "packed")
    shipment = create_shipment(
        actor=operator,
        patient=patient,
        origin=clinical_site,
        destination=site,
        container_type=ContainerTypeFactory(),
        container_id="DS-1",
        carrier="Cryoport",
    )
    record(operator, password, patient, clinical_site, "shipped", shipment=shipment)
    shipment.refresh_from_db()
    return shipment


def text_of(html: str, element_id: str) -> str:
    """The text of the element with this id (tags stripped, spaces collapsed)."""
    inner = re.search(rf'id="{element_id}"[^>]*>(.*?)</(dd|span|div|p|h2)>', html, re.S)
    assert inner, f"no element #{element_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", inner.group(1)).split())


def shown(label, kind=None):
    return f"{SCAN}?{urlencode({'label': label, **({'kind': kind} if kind else {})})}"


def confirm_data(patient, kind, site, shipment=None, **typed):
    return {
        "label_scan": patient.isbt.barcode_data,
        "kind": kind,
        "site": site.pk,
        "shipment": shipment.pk if shipment else "",
        **typed,
    }


# --- Scan resolution ---------------------------------------------------------------------
@pytest.mark.req("COI-UI-002:resolve")
@pytest.mark.parametrize("how", ["scanner", "typed", "typed-with-check"])
def test_a_scan_finds_the_patient_however_the_label_was_entered(how, plant_operator, patient):
    grouped, flags, check = patient.isbt.eye_readable
    scan = {
        "scanner": patient.isbt.barcode_data,
        "typed": f"{grouped} {flags}",
        "typed-with-check": f"{grouped.lower()} {flags} {check}",
    }[how]
    assert find_patient(user=plant_operator, scan=scan) == patient


@pytest.mark.req("COI-UI-002:resolve")
def test_a_misread_or_a_label_of_no_patient_at_ones_sites_is_refused(
    plant_operator, patient, roles
):
    with refused("wrong_check_character"):
        find_patient(user=plant_operator, scan=patient.isbt.barcode_data + "Q")
    with refused("unknown_label", field="scan"):
        find_patient(user=plant_operator, scan="=G12342699999900")
    elsewhere = person("Operator", sites=[], username="nobody-here")
    with refused("unknown_label"):  # the patient exists, but not at this person's sites
        find_patient(user=elsewhere, scan=patient.isbt.barcode_data)


@pytest.mark.req("COI-UI-002:derive")
def test_a_scan_at_the_plant_offers_the_receipt_with_site_shipment_and_container(
    shipped, plant_operator, patient, site
):
    proposal = propose(user=plant_operator, patient=patient, label_scan=patient.isbt.barcode_data)
    assert proposal.expected == ["received"]
    assert (proposal.kind, proposal.site, proposal.shipment, proposal.container_id) == (
        "received",
        site,
        shipped,
        "BAG-1",
    )
    assert proposal.gap is None and proposal.refusal is None


@pytest.mark.req("COI-UI-002:derive")
def test_the_first_scan_offers_the_collection_at_the_treating_site_and_asks_the_bag(
    operator, patient, clinical_site
):
    proposal = propose(user=operator, patient=patient, label_scan=patient.isbt.barcode_data)
    assert (proposal.kind, proposal.site, proposal.shipment) == ("collected", clinical_site, None)
    assert proposal.needs_container and proposal.refusal is None


@pytest.mark.req("COI-UI-002:derive")
def test_after_storage_removal_is_offered_where_the_material_is(
    operator, password, patient, site, clinical_site
):
    record(operator, password, patient, site, "received")
    record_custody_event(
        actor=operator,
        password=password,
        handoff=Handoff(
            patient=patient,
            site=site,
            kind="stored",
            container_id="BAG-1",
            location="Tank 2",
            position="R1",
            label_scan=patient.isbt.barcode_data,
        ),
    )
    proposal = propose(user=operator, patient=patient, label_scan=patient.isbt.barcode_data)
    assert (proposal.expected[0], proposal.kind, proposal.site) == ("removed", "removed", site)
    assert proposal.expected[-1] == "stored"  # storing again is possible, but not first


@pytest.mark.req("COI-UI-002:page", "COI-UI-002:prg")
def test_the_scan_redirects_to_the_confirmation_which_shows_what_was_found(
    client, shipped, plant_operator, patient, site
):
    client.force_login(plant_operator)
    page = client.get(SCAN)
    html = page.content.decode()
    assert 'name="scan"' in html and "autofocus" in html and "<select" not in html
    response = client.post(SCAN, {"scan": patient.isbt.barcode_data + "\n"})
    assert response.status_code == 302
    assert response["Location"] == shown(patient.isbt.barcode_data)
    html = client.get(response["Location"]).content.decode()
    grouped, flags, check = patient.isbt.eye_readable
    assert grouped in html and f'title="check character">{check}<' in html
    assert text_of(html, "found-initials") == "JD"
    assert text_of(html, "found-dob") == "1971-03-14"
    assert "Shipped to the plant at CLINIC1" in html  # where the material is now
    assert 'id="found-expected">Received at the plant<' in html
    assert 'Record: <span class="event-name">Received at the plant</span>' in html
    assert str(site) in html and shipped.reference in html and "BAG-1" in html
    assert "<select" not in html
    # The scan field comes back empty for the next scan, and the other events are offered.
    assert (
        f'value="{patient.isbt.barcode_data}"'
        not in html.split('id="scan-form"')[1].split("</form>")[0]
    )
    assert (
        "Something else" in html
        and shown(patient.isbt.barcode_data, "stored").replace("&", "&amp;") in html
    )


# --- Before the password -----------------------------------------------------------------
@pytest.mark.req("COI-UI-002:gap")
def test_the_gap_warning_is_shown_before_signing(
    client, operator, password, patient, clinical_site
):
    record(operator, password, patient, clinical_site, "collected")
    client.force_login(operator)
    html = client.get(shown(patient.isbt.barcode_data, "shipped")).content.decode()
    assert 'id="gap-warning"' in html
    assert "expected “packed” in between" in html
    dialog = client.post(
        SCAN, confirm_data(patient, "shipped", clinical_site), HTTP_HX_REQUEST="true"
    )
    assert dialog.status_code == 200 and "sign-dialog" in dialog.content.decode()
    assert "expected “packed” in between" in dialog.content.decode()
    assert CustodyEvent.objects.count() == 1
    # The expected event opens no gap.
    html = client.get(shown(patient.isbt.barcode_data)).content.decode()
    assert 'Record: <span class="event-name">Packed</span>' in html
    assert 'id="gap-warning"' not in html


@pytest.mark.req("COI-UI-002:cold-chain")
def test_the_receipt_confirmation_shows_an_exceeded_budget_and_open_deviations(
    client, shipped, plant_operator, operator, patient
):
    start = timezone.now() - timedelta(minutes=50)
    ingest_readings(
        actor=operator,
        shipment=shipped,
        source="api",
        readings=[
            {
                "recorded_at": start + timedelta(minutes=5 * n),
                "celsius": "-120" if 1 <= n <= 8 else "-180",
                "logger_id": "L1",
            }
            for n in range(10)
        ],
    )
    deviation = Deviation.objects.filter(patient_coi=patient.coi).first()
    assert deviation is not None
    client.force_login(plant_operator)
    html = client.get(shown(patient.isbt.barcode_data)).content.decode()
    section = html.split('id="cold-chain-status"')[1].split("</section>")[0]
    assert "Budget of 30 min exceeded" in section
    assert "1 excursion" in section and "min out of range" in section
    assert deviation.number in section
    # Still signable: the receipt records what happened; the deviation decides the rest.
    assert 'id="confirm-form"' in html


@pytest.mark.req("COI-UI-002:cold-chain")
def test_a_receipt_within_the_budget_says_what_is_left(
    client, shipped, plant_operator, operator, patient
):
    ingest_readings(
        actor=operator,
        shipment=shipped,
        source="api",
        readings=[
            {
                "recorded_at": timezone.now() - timedelta(minutes=m),
                "celsius": "-180",
                "logger_id": "L1",
            }
            for m in range(3)
        ],
    )
    client.force_login(plant_operator)
    section = (
        client.get(shown(patient.isbt.barcode_data))
        .content.decode()
        .split('id="cold-chain-status"')[1]
    )
    assert "In range throughout" in section, section[:1500]
    assert "Budget left 30.0 of 30 min" in section, section[:1500]
    assert "exceeded" not in section.split("</section>")[0]


@pytest.mark.req("COI-UI-003:no-dialog")
@pytest.mark.parametrize("case", ["cancelled", "not-released", "no-site-access"])
def test_what_cannot_be_signed_says_why_instead_of_offering_the_dialog(
    case, client, operator, plant_operator, planner, password, patient, site, clinical_site
):
    user, kind, why, code = operator, None, "", ""
    if case == "cancelled":
        advance_order(
            actor=planner, order=patient.order, status="cancelled", reason="Patient withdrew"
        )
        kind, why, code, at = "collected", "is cancelled", "order_cancelled", clinical_site
    elif case == "not-released":
        record(operator, password, patient, site, "received")
        record(operator, password, patient, site, "transferred_to_suite")
        kind, why, code, at = "shipped_to_treating_site", "is not released", "not_released", site
    else:
        user, kind, why, code, at = (
            plant_operator,
            "collected",
            "has no access to site",
            "permission_denied",
            clinical_site,
        )
    patient = Patient.objects.get(pk=patient.pk)
    before = (CustodyEvent.objects.count(), ElectronicSignature.objects.count())
    proposal = propose(user=user, patient=patient, label_scan=patient.isbt.barcode_data, kind=kind)
    assert proposal.refusal is not None and proposal.refusal.code == code
    client.force_login(user)
    html = client.get(shown(patient.isbt.barcode_data, kind)).content.decode()
    assert 'id="cannot-sign"' in html and why in html
    assert 'id="confirm-form"' not in html  # no button that would open the dialog
    # Posting the confirmation anyway does not open the dialog either.
    response = client.post(SCAN, confirm_data(patient, kind, at), HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and response["HX-Retarget"] == "#scan-card"
    assert "sign-dialog" not in response.content.decode() and why in response.content.decode()
    assert (CustodyEvent.objects.count(), ElectronicSignature.objects.count()) == before


@pytest.mark.req("COI-UI-003:no-dialog")
def test_a_missing_storage_place_is_asked_at_the_field_before_the_dialog(
    client, operator, password, patient, site
):
    record(operator, password, patient, site, "received")
    client.force_login(operator)
    html = client.get(shown(patient.isbt.barcode_data, "stored")).content.decode()
    assert 'name="location"' in html and 'id="cannot-sign"' not in html
    response = client.post(SCAN, confirm_data(patient, "stored", site), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert 'id="id_location-error">Required for storage.<' in response.content.decode()
    assert "sign-dialog" not in response.content.decode()


@pytest.mark.req("COI-UI-003:stale")
def test_a_confirmation_overtaken_by_another_handoff_is_refused_before_the_dialog(
    client, shipped, plant_operator, operator, password, patient, site
):
    client.force_login(plant_operator)
    data = confirm_data(patient, "received", site, shipped)
    record(operator, password, patient, site, "received", shipment=shipped)  # meanwhile
    response = client.post(SCAN, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "The chain changed since this was shown" in response.content.decode()
    assert "sign-dialog" not in response.content.decode()
    assert CustodyEvent.objects.filter(performed_by=plant_operator).count() == 0


# --- Signing -----------------------------------------------------------------------------
@pytest.mark.req("COI-UI-003:password", "COI-EVT-001:terminal")
@pytest.mark.parametrize("debug", [False, True])
def test_a_refused_password_keeps_the_dialog_and_never_a_status_that_replaces_the_page(
    debug, settings, client, shipped, plant_operator, patient, site
):
    settings.DEBUG = debug
    client.force_login(plant_operator)
    data = confirm_data(patient, "received", site, shipped)
    dialog = client.post(SCAN, data, HTTP_HX_REQUEST="true")
    assert dialog.status_code == 200 and "sign-dialog" in dialog.content.decode()
    wrong = client.post(SCAN, {**data, "password": "nope"}, HTTP_HX_REQUEST="true")
    # django-htmx's debug script replaces the whole page on 400, 403, 404 and 500.
    assert wrong.status_code == 422
    html = wrong.content.decode()
    assert "sign-dialog" in html and "The password is not correct." in html
    assert "<html" not in html  # the dialog alone, not a page
    assert not CustodyEvent.objects.filter(performed_by=plant_operator).exists()


@pytest.mark.req("COI-UI-003:password", "COI-UI-002:prg", "COI-EVT-001:terminal")
def test_signing_records_the_derived_handoff_and_redirects_to_the_chain(
    client, shipped, plant_operator, password, patient, site
):
    client.force_login(plant_operator)
    data = confirm_data(patient, "received", site, shipped)
    done = client.post(SCAN, {**data, "password": password}, HTTP_HX_REQUEST="true")
    assert done.status_code == 204
    assert done["HX-Redirect"] == reverse("custody:patient-detail", args=[patient.pk]) + "#chain"
    event = CustodyEvent.objects.get(performed_by=plant_operator)
    assert (event.kind, event.site, event.shipment, event.container_id, event.label_scan) == (
        "received",
        site,
        shipped,
        "BAG-1",
        patient.isbt.barcode_data,
    )
    shipped.refresh_from_db()
    assert shipped.status == "delivered"


@pytest.mark.req("COI-UI-002:prg")
def test_without_javascript_the_signature_redirects_too(
    client, shipped, plant_operator, password, patient, site
):
    client.force_login(plant_operator)
    data = confirm_data(patient, "received", site, shipped)
    page = client.post(SCAN, data)
    assert page.status_code == 200 and "sign-dialog" in page.content.decode()
    done = client.post(SCAN, {**data, "password": password})
    assert done.status_code == 302
    assert done["Location"] == reverse("custody:patient-detail", args=[patient.pk]) + "#chain"


# --- A wrong label -------------------------------------------------------------------------
@pytest.mark.req("COI-UI-002:wrong-scan")
def test_an_unreadable_scan_is_refused_at_the_field_and_the_field_is_emptied(
    client, plant_operator, patient
):
    client.force_login(plant_operator)
    response = client.post(SCAN, {"scan": patient.isbt.barcode_data + "Q"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_scan-error">Refused: rescan the label.<' in html
    assert "check character" in html.split('id="scan-refused"')[1]
    assert 'aria-invalid="true"' in html
    assert patient.isbt.barcode_data + "Q" not in html
    unknown = client.post(SCAN, {"scan": "=G12342699999900"})
    assert unknown.status_code == 404
    assert "Not a patient at your sites: check the label." in unknown.content.decode()
    assert not ScanRefusal.objects.exists()


@pytest.mark.req(
    "COI-UI-002:wrong-scan", "COI-EVT-002:terminal-field", "COI-EVT-002:mismatch-logged"
)
def test_another_patients_label_on_a_patients_page_raises_the_alarm(
    client, operator, planner, patient, site, clinical_site
):
    other = order_for(
        planner, manufacturing_site=site, ordering_site=clinical_site, hospital_record_number="H-2"
    ).patient
    client.force_login(operator)
    page = client.get(f"{SCAN}?patient={patient.pk}")
    assert f'name="patient" value="{patient.pk}"' in page.content.decode()
    response = client.post(SCAN, {"patient": patient.pk, "scan": other.isbt.barcode_data})
    assert response.status_code == 409
    html = response.content.decode()
    assert 'role="alertdialog"' in html and "WRONG PATIENT" in html
    assert (
        'id="id_scan-error">Refused: not this patient&#x27;s label. Scan this '
        "patient&#x27;s label.<"
    ) in html
    assert f'value="{other.isbt.barcode_data}"' not in html
    refusal = ScanRefusal.objects.get()
    assert (refusal.patient, refusal.matched_patient) == (patient, other)
    assert Deviation.objects.get().classification == "critical"
    right = client.post(SCAN, {"patient": patient.pk, "scan": patient.isbt.barcode_data})
    assert right.status_code == 302 and right["Location"] == shown(patient.isbt.barcode_data)
    assert not CustodyEvent.objects.exists()


@pytest.mark.req("COI-UI-002:page")
def test_the_confirmation_keeps_a_constant_number_of_queries(
    client, shipped, plant_operator, operator, patient, site, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.custody.test_pages import add_events

    client.force_login(plant_operator)
    url = shown(patient.isbt.barcode_data, "received")
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    add_events(patient, operator, site, 60)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


@pytest.mark.req("COI-UI-002:derive")
def test_another_event_chosen_behind_something_else_derives_its_own_site_and_shipment(
    shipped, operator, patient, site, clinical_site
):
    # The material is on its way to the plant; the person picks the treating site's receipt.
    proposal = propose(
        user=operator,
        patient=patient,
        label_scan=patient.isbt.barcode_data,
        kind="received_at_treating_site",
    )
    assert (proposal.site, proposal.shipment) == (clinical_site, None)
    assert not proposal.is_expected and "Receipt without a shipment" in proposal.gap
    receipt = propose(
        user=operator, patient=patient, label_scan=patient.isbt.barcode_data, kind="received"
    )
    assert (receipt.site, receipt.shipment, receipt.is_expected) == (site, shipped, True)


@pytest.mark.req("COI-UI-002:derive")
def test_every_demo_patient_scanned_at_the_plant_and_the_clinic_gets_a_confirmation(db):
    from custody import demo
    from mes import demo as kernel_demo
    from mes.models import User

    kernel_demo.load()
    demo.load()
    offered = {}
    for username in ("operator", "operator2"):
        user = User.objects.get(username=username)
        for patient in Patient.objects.exclude(din=""):
            proposal = propose(user=user, patient=patient, label_scan=patient.isbt.barcode_data)
            offered[username, patient.initials] = (proposal.kind, proposal.refusal is None)
    client = Client()
    client.force_login(User.objects.get(username="operator"))
    for patient in Patient.objects.exclude(din=""):
        assert client.get(shown(patient.isbt.barcode_data)).status_code == 200
    # In transit to the plant: the plant's operator is offered the receipt, signable.
    assert offered["operator", "DE"] == ("received", True)
    # Stored at the plant: removal. In manufacturing, not released: the shipment to the
    # treating site is offered with the reason it cannot be signed yet.
    assert offered["operator", "FG"] == ("removed", True)
    assert offered["operator", "GH"] == ("shipped_to_treating_site", False)
    # At the hospital: the first collection; after delivery, storage until the infusion day
    # (the bedside check is the other expected event, behind "something else").
    assert offered["operator2", "BK"] == ("collected", True)
    assert offered["operator2", "KL"] == ("stored", True)
