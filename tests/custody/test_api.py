"""The custody API: orders with Idempotency-Key, patients without the clinical identity,
custody events, shipments and reading batches; scoped, with the one error body."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from custody.models import (
    CustodyEvent,
    DinCounter,
    Patient,
    ScanRefusal,
    TemperatureReading,
)
from custody.services.coldchain import create_shipment
from tests.custody.factories import ContainerTypeFactory, ProductFactory, plant
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    API,
    NO_PERMISSION,
    OTHER_SITE,
    api_client,
    assert_permission_matrix,
    error_body_problem,
)

ORDER = {"product": "CART-19", "manufacturing_site": "PLANT1", "ordering_site": "CLINIC1",
         "initials": "KL", "date_of_birth": "1965-05-05",
         "planned_collection_date": (date.today() + timedelta(days=30)).isoformat(),
         "full_name": "Karl Lang",
         "hospital_record_number": "UMC-778", "external_reference": "CL-42"}


def post(client, url, data, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(url, json.dumps(data), content_type="application/json", **headers)


@pytest.mark.req("COI-ORD-001:api-idempotent", "COI-API-001:resources",
                 "COI-API-001:no-identity", "COI-PAT-001:never-in-api")
def test_an_order_by_api_is_idempotent_and_never_returns_the_identity(planner, site,
                                                                      clinical_site):
    ProductFactory()
    client = api_client(planner)
    first = post(client, "/api/v1/custody/orders/", ORDER, key="order-CL-42")
    assert first.status_code == 201, first.content
    again = post(client, "/api/v1/custody/orders/", ORDER, key="order-CL-42")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Patient.objects.count() == 1
    body = first.json()
    assert body["status"] == "ordered" and body["patient"]["coi"].startswith("G1234")
    assert body["patient"]["barcode_data"] == "=" + body["patient"]["din"] + "00"
    text = first.content.decode()
    assert "Karl Lang" not in text and "UMC-778" not in text
    listing = client.get(f"/api/v1/custody/patients/{body['patient']['id']}/").content.decode()
    assert "Karl Lang" not in listing and "UMC-778" not in listing


@pytest.mark.req("COI-ORD-002:api", "COI-API-001:error-body")
def test_a_bad_order_is_a_clear_4xx_with_nothing_written(planner, site, clinical_site):
    ProductFactory()
    client = api_client(planner)
    response = post(client, "/api/v1/custody/orders/", {**ORDER, "date_of_birth": "2999-01-01"})
    assert response.status_code == 400 and error_body_problem(response) is None
    assert response.json()["code"] == "date_of_birth_in_future"
    assert list(response.json()["fields"]) == ["date_of_birth"]
    response = post(client, "/api/v1/custody/orders/", {**ORDER, "product": "NOPE"})
    assert response.status_code == 400 and "product" in response.json()["fields"]
    assert not Patient.objects.exists()


@pytest.mark.req("COI-ORD-002:api")
@pytest.mark.parametrize(("field", "value", "code"), [
    ("date_of_birth", "9999-12-31", "date_of_birth_in_future"),
    ("date_of_birth", "1899-12-31", "date_of_birth_too_early"),
    ("date_of_birth", "0001-01-01", "date_of_birth_too_early"),
    ("planned_collection_date", "9999-12-31", "collection_date_too_far"),
    ("planned_collection_date", "2000-01-01", "collection_date_in_past"),
    ("planned_collection_date", "10000-01-01", "invalid"),
    ("date_of_birth", "1971-02-30", "invalid"),
])
def test_an_implausible_date_by_api_is_a_400_naming_the_field(planner, site, clinical_site,
                                                              field, value, code):
    ProductFactory()
    response = post(api_client(planner), "/api/v1/custody/orders/", {**ORDER, field: value})
    assert response.status_code == 400, response.content
    assert error_body_problem(response) is None
    assert response.json()["code"] == code and list(response.json()["fields"]) == [field]
    assert not Patient.objects.exists() and not DinCounter.objects.exists()


@pytest.mark.req("COI-ORD-001:sites", "COI-API-001:error-body")
def test_an_order_must_come_from_a_clinical_site(planner, site, clinical_site):
    ProductFactory()
    client = api_client(planner)
    response = post(client, "/api/v1/custody/orders/", {**ORDER, "ordering_site": "PLANT1"})
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"ordering_site": ["Not a clinical site."]}
    assert not Patient.objects.exists() and not DinCounter.objects.exists()


@pytest.mark.req("COI-API-001:scoped")
def test_patients_and_orders_are_scoped(patient, operator, roles):
    outsider = person("Operator", sites=[plant("PLANT8", "H8888")], username="op8")
    nobody = person(None, sites=[patient.site], username="noperm")
    for url in (f"/api/v1/custody/patients/{patient.pk}/",
                f"/api/v1/custody/orders/{patient.order.pk}/"):
        assert_permission_matrix(api_client, url, {NO_PERMISSION: nobody,
                                                   OTHER_SITE: outsider, ALLOWED: operator},
                                 API, error_body=True)


@pytest.mark.req("COI-EVT-001:api", "COI-API-001:resources")
def test_a_custody_event_by_api_is_signed(operator, password, patient, site):
    client = api_client(operator)
    response = post(client, "/api/v1/custody/custody-events/", {
        "patient": patient.pk, "site": "PLANT1", "kind": "received", "container_id": "BAG-1",
        "label_scan": patient.isbt.barcode_data, "password": password}, key="evt-1")
    assert response.status_code == 201, response.content
    assert response.json()["performed_by"] == "Otto Operator"
    assert CustodyEvent.objects.get().signatures.get().meaning == "performed"
    listed = client.get(f"/api/v1/custody/custody-events/?patient={patient.pk}").json()
    assert [e["kind"] for e in listed["results"]] == ["received"]


@pytest.mark.req("COI-EVT-002:api", "COI-API-001:error-body")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_mismatching_scan_by_api_is_a_409_and_leaves_the_deviation(roles):
    from deviations.models import Deviation
    from tests.custody.factories import clinic, order_for
    from tests.mes.factories import PASSWORD

    site, clinical_site = plant(), clinic()
    planner = person("Planner", sites=[site, clinical_site], username="planner1")
    operator = person("Operator", sites=[site], username="op1")
    patient = order_for(planner, manufacturing_site=site, ordering_site=clinical_site).patient
    other = order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                      hospital_record_number="H-2").patient
    response = post(api_client(operator), "/api/v1/custody/custody-events/", {
        "patient": patient.pk, "site": "PLANT1", "kind": "received", "container_id": "BAG-1",
        "label_scan": other.isbt.barcode_data, "password": PASSWORD}, key="evt-wrong")
    assert response.status_code == 409 and error_body_problem(response) is None
    assert response.json()["code"] == "label_mismatch"
    assert ScanRefusal.objects.count() == 1 and Deviation.objects.count() == 1
    assert not CustodyEvent.objects.exists()


@pytest.mark.req("COI-CC-001:api", "COI-CC-001:refused", "COI-API-001:resources")
def test_reading_batches_by_api(operator, patient, site, clinical_site):
    shipment = create_shipment(actor=operator, patient=patient, origin=clinical_site,
                               destination=site, container_type=ContainerTypeFactory(),
                               container_id="DS-1", carrier="Cryoport")
    t0 = datetime.now(UTC) - timedelta(hours=1)
    readings = [{"recorded_at": (t0 + timedelta(minutes=m)).isoformat(), "celsius": c,
                 "logger_id": "L1"} for m, c in ((10, -181), (0, -180), (5, "NaN"))]
    readings.append({"recorded_at": "2026-03-01T10:00:00", "celsius": -180, "logger_id": "L1"})
    client = api_client(operator)
    url = f"/api/v1/custody/shipments/{shipment.pk}/readings/"
    first = post(client, url, {"readings": readings}, key="logger-batch-1")
    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [r["reason"] for r in body["refused"]] == [
        "the temperature is NaN (the logger sent no value)", "the time has no UTC offset"]
    assert body["cold_chain"]["readings"] == 2 and body["cold_chain"]["periods"] == []
    replay = post(client, url, {"readings": readings}, key="logger-batch-1")
    assert replay["Idempotent-Replayed"] == "true"
    resent = post(client, url, {"readings": readings[:2]}, key="logger-batch-2")
    assert (resent.json()["accepted"], resent.json()["duplicates"]) == (0, 2)
    assert TemperatureReading.objects.count() == 2
    assert client.get(url).json()["count"] == 2
    cold = client.get(f"/api/v1/custody/shipments/{shipment.pk}/cold-chain/").json()
    assert cold["budget_minutes"] == 30 and cold["budget_exceeded"] is False
    qa = person("QA Reviewer", sites=[site, clinical_site], username="qa9")
    refused = post(api_client(qa), url, {"readings": readings[:1]})
    assert refused.status_code == 403 and error_body_problem(refused) is None


@pytest.mark.req("COI-ORD-003:api", "COI-API-001:error-body")
def test_by_api_only_the_manual_stages_are_recorded(planner, order):
    client = api_client(planner)
    url = f"/api/v1/custody/orders/{order.pk}/advance/"
    done = post(client, url, {"status": "collection_scheduled", "reason": "Slot booked"})
    assert done.status_code == 200 and done.json()["status"] == "collection_scheduled"
    assert [t["status"] for t in done.json()["timeline"]] == ["ordered", "collection_scheduled"]

    def unchanged():
        order.refresh_from_db()
        return order.status == "collection_scheduled" and order.timeline.count() == 2

    for status in ("collected", "released", "infused", "ordered"):
        refused = post(client, url, {"status": status, "reason": "The ward says so"})
        assert refused.status_code == 400 and error_body_problem(refused) is None
        assert refused.json()["code"] == "stage_not_manual", status
        assert refused.json()["fields"] == {"status": ["Not a manual stage."]}
        assert unchanged()
    unknown = post(client, url, {"status": "teleported", "reason": "?"})
    assert unknown.status_code == 400 and unknown.json()["fields"] == {
        "status": ["Unknown stage."]}
    no_reason = post(client, url, {"status": "cancelled", "reason": " "})
    assert no_reason.status_code == 400 and unchanged()


@pytest.mark.req("COI-API-001:resources")
def test_a_shipment_with_its_legs_by_api(operator, patient, site, clinical_site):
    ContainerTypeFactory()
    client = api_client(operator)
    response = post(client, "/api/v1/custody/shipments/", {
        "patient": patient.pk, "origin": "CLINIC1", "destination": "PLANT1",
        "container_type": "LN2-DRY", "container_id": "DS-9", "carrier": "Cryoport",
        "legs": [{"origin": "Clinic One", "destination": "AMS airport", "carrier": "Courier"},
                 {"origin": "AMS airport", "destination": "Plant One", "carrier": "Cryoport"}]},
        key="ship-1")
    assert response.status_code == 201, response.content
    from custody.models import Shipment

    shipment = Shipment.objects.get()
    assert [(leg.sequence, leg.destination) for leg in shipment.legs.all()] == [
        (1, "AMS airport"), (2, "Plant One")]
    same_site = post(client, "/api/v1/custody/shipments/", {
        "patient": patient.pk, "origin": "PLANT1", "destination": "PLANT1",
        "container_type": "LN2-DRY", "container_id": "DS-9", "carrier": "Cryoport"})
    assert same_site.status_code == 400 and "same site" in same_site.json()["message"]


@pytest.mark.req("COI-API-001:error-body")
def test_custody_events_filtered_by_patient_ignore_a_filter_that_is_not_a_number(
        operator, password, patient, site):
    client = api_client(operator)
    assert post(client, "/api/v1/custody/custody-events/", {
        "patient": patient.pk, "site": site.code, "kind": "received", "container_id": "BAG-1",
        "label_scan": patient.isbt.barcode_data, "password": password},
        key="evt-filter").status_code == 201
    listed = client.get(f"/api/v1/custody/custody-events/?patient={patient.pk}").json()
    assert [e["patient"] for e in listed["results"]] == [patient.pk]
    for odd in ("²", "abc", "9" * 30):
        response = client.get(f"/api/v1/custody/custody-events/?patient={odd}")
        assert response.status_code == 200, odd
        assert len(response.json()["results"]) == (0 if odd == "9" * 30 else 1), odd
