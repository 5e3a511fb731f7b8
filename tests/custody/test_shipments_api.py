"""The shipments API: scoped to the caller's sites like the pages, and reading batches
(with Idempotency-Key) that refuse readings outside the shipment's transit window."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from custody.models import ReadingBatch, Shipment, TemperatureReading
from custody.services.coldchain import create_shipment
from custody.services.events import Handoff, record_custody_event
from tests.custody.factories import ContainerTypeFactory, plant
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    ANONYMOUS,
    API,
    NO_PERMISSION,
    OTHER_SITE,
    api_client,
    assert_permission_matrix,
    error_body_problem,
    expect,
)

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def post(client, url, data, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(url, json.dumps(data), content_type="application/json", **headers)


def readings(*pairs, logger="L1"):
    return {"readings": [{"recorded_at": (T0 + timedelta(minutes=m)).isoformat(),
                          "celsius": c, "logger_id": logger} for m, c in pairs]}


def stored():
    return (ReadingBatch.objects.count(), TemperatureReading.objects.count(),
            ReadingBatch.history.count(), TemperatureReading.history.count())


@pytest.fixture
def shipment(operator, patient, site, clinical_site):
    return create_shipment(actor=operator, patient=patient, origin=clinical_site,
                           destination=site, container_type=ContainerTypeFactory(),
                           container_id="DS-1", carrier="Cryoport")


@pytest.fixture
def in_transit_then_received(operator, password, shipment):
    """Shipped at T0, received at T0 + 60 min."""
    for kind, site, minutes in (("shipped", shipment.site, 0),
                                ("received", shipment.destination_site, 60)):
        record_custody_event(actor=operator, password=password, handoff=Handoff(
            patient=shipment.patient, site=site, kind=kind, container_id="DS-1",
            label_scan=shipment.patient.isbt.barcode_data, shipment=shipment,
            occurred_at=T0 + timedelta(minutes=minutes)))
    return shipment


@pytest.fixture
def outsider(roles):
    """An operator with every custody permission, but only at another plant (site B)."""
    return person("Operator", sites=[plant("PLANT8", "H8888")], username="op8")


@pytest.fixture
def nobody(site, roles):
    return person(None, sites=[site], username="noperm")


# -- Item: site scoping of the shipments API --------------------------------------------

@pytest.mark.req("COI-API-002:list")
def test_another_sites_shipments_are_not_listed(shipment, operator, outsider):
    mine = api_client(operator).get("/api/v1/custody/shipments/")
    assert [s["reference"] for s in mine.json()["results"]] == [shipment.reference]
    theirs = api_client(outsider).get("/api/v1/custody/shipments/")
    assert theirs.status_code == 200 and theirs.json()["results"] == []
    assert theirs.json()["count"] == 0


@pytest.mark.req("COI-API-002:read")
@pytest.mark.parametrize("suffix", ["", "cold-chain/", "readings/"])
def test_another_sites_shipment_cannot_be_read(suffix, shipment, operator, outsider, nobody):
    url = f"/api/v1/custody/shipments/{shipment.pk}/{suffix}"
    responses = assert_permission_matrix(
        api_client, url, {NO_PERMISSION: nobody, OTHER_SITE: outsider, ALLOWED: operator},
        API, error_body=True)
    assert responses[OTHER_SITE].json()["code"] == "not_found"
    assert shipment.reference not in responses[OTHER_SITE].content.decode()


@pytest.mark.req("COI-API-002:write")
@pytest.mark.parametrize("key", [None, "logger-batch-b"])
def test_another_sites_shipment_takes_no_readings(key, shipment, operator, outsider, nobody):
    url = f"/api/v1/custody/shipments/{shipment.pk}/readings/"
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    responses = assert_permission_matrix(
        api_client, url, {NO_PERMISSION: nobody, OTHER_SITE: outsider, ALLOWED: operator},
        {ANONYMOUS: expect(401, 403), NO_PERMISSION: expect(403), OTHER_SITE: expect(404),
         ALLOWED: expect(201)},
        method="post", data=json.dumps(readings((0, "-180"))),
        content_type="application/json", error_body=True, state=stored, **headers)
    assert responses[OTHER_SITE].json()["code"] == "not_found"
    # Only the allowed caller's reading was stored.
    assert TemperatureReading.objects.get().history.get().history_user == operator


@pytest.mark.req("COI-API-002:write")
def test_another_sites_shipment_cannot_be_planned_for_its_patient(patient, outsider):
    ContainerTypeFactory()
    response = post(api_client(outsider), "/api/v1/custody/shipments/", {
        "patient": patient.pk, "origin": "CLINIC1", "destination": "PLANT1",
        "container_type": "LN2-DRY", "container_id": "DS-9", "carrier": "Cryoport"},
        key="ship-b")
    assert response.status_code == 404 and error_body_problem(response) is None
    assert not Shipment.objects.exists()


# -- Item: readings outside the transit window, batches with nothing accepted -----------

@pytest.mark.req("COI-CC-004", "COI-API-001:resources")
def test_readings_outside_the_transit_window_are_refused_one_by_one_by_api(
        operator, in_transit_then_received):
    shipment = in_transit_then_received
    url = f"/api/v1/custody/shipments/{shipment.pk}/readings/"
    response = post(api_client(operator), url,
                    readings((-30, "21"), (10, "-180"), (90, "20")), key="batch-window")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["code"]) for r in body["refused"]] == [
        (0, "before_shipment_start"), (2, "after_shipment_received")]
    assert ReadingBatch.objects.get().refused == body["refused"]


@pytest.mark.req("COI-CC-005", "COI-CC-004", "COI-API-001:resources")
def test_a_batch_with_nothing_accepted_is_a_400_and_records_nothing_by_api(
        operator, in_transit_then_received):
    shipment = in_transit_then_received
    client = api_client(operator)
    url = f"/api/v1/custody/shipments/{shipment.pk}/readings/"
    before = stored()
    late = post(client, url, readings((90, "20"), (95, "21")), key="batch-late")
    assert late.status_code == 400 and error_body_problem(late) is None
    assert late.json()["code"] == "after_shipment_received"
    assert late.json()["fields"]["readings"][1].startswith("Reading 1: the time is after")
    replay = post(client, url, readings((90, "20"), (95, "21")), key="batch-late")
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == late.json()
    mixed = post(client, url, readings((-30, "20"), (10, "warm")), key="batch-mixed")
    assert mixed.status_code == 400 and mixed.json()["code"] == "no_reading_accepted"
    assert stored() == before


@pytest.mark.req("COI-CC-005", "COI-API-001:resources")
def test_a_resent_batch_is_a_200_without_a_batch(operator, shipment):
    client = api_client(operator)
    url = f"/api/v1/custody/shipments/{shipment.pk}/readings/"
    assert post(client, url, readings((0, "-180")), key="first").status_code == 201
    before = stored()
    again = post(client, url, readings((0, "-180")), key="again")
    assert again.status_code == 200, again.content
    assert (again.json()["batch"], again.json()["accepted"], again.json()["duplicates"]) == (
        None, 0, 1)
    assert stored() == before
