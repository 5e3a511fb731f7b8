"""Query budgets of the cold-chain pages: the same number of queries with a few readings
and with thousands (and more shipments, batches, excursions and deviations), so neither a
reading nor a shipment costs a query (issue 10)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from custody.models import Shipment, TemperatureReading
from custody.services.coldchain import create_shipment, ingest_readings
from deviations.models import Deviation
from tests.custody.factories import ContainerTypeFactory

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


def add_shipment(operator, patient, site, clinical_site, readings):
    """A shipment with ``readings`` readings a minute apart, in batches of 500, and an
    excursion (one reading at -140 °C) every 400 readings."""
    shipment = create_shipment(actor=operator, patient=patient, origin=clinical_site,
                               destination=site, container_type=ContainerTypeFactory(),
                               container_id="DS-7", carrier="Cryoport")
    for start in range(0, readings, 500):
        ingest_readings(actor=operator, shipment=shipment, source="api", readings=[
            {"recorded_at": (T0 + timedelta(minutes=n)).isoformat(),
             "celsius": "-140" if n % 400 == 7 else "-180", "logger_id": "L1"}
            for n in range(start, min(start + 500, readings))])
    return shipment


def queries(client, url, *, cold: bool = False) -> int:
    """The queries of one view (``cold``: with no chart in the cache, so charts are drawn)."""
    if cold:
        cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


PAGES = {
    "shipment-detail": lambda s: reverse("custody:shipment-detail", args=[s.pk]),
    "shipment-chart": lambda s: reverse("custody:shipment-chart", args=[s.pk]),
    "patient-detail": lambda s: reverse("custody:patient-detail", args=[s.patient_id]),
    "chain-report": lambda s: reverse("custody:chain-report", args=[s.patient_id]),
    "api-cold-chain": lambda s: f"/api/v1/custody/shipments/{s.pk}/cold-chain/",
}


@pytest.mark.req("COI-PERF-003:queries")
@pytest.mark.parametrize("page", sorted(PAGES))
def test_cold_chain_pages_keep_their_query_budget_as_the_data_grows(
        page, client, operator, patient, site, clinical_site):
    client.force_login(operator)
    # given one shipment with 30 readings (and one excursion)
    first = add_shipment(operator, patient, site, clinical_site, 30)
    url = PAGES[page](first)
    queries(client, url)  # the session's first request does its own bookkeeping
    few, few_cached = queries(client, url, cold=True), queries(client, url)
    # when it has 3,000 readings and the patient two more shipments, eight excursions more
    add_more = [add_shipment(operator, patient, site, clinical_site, 1500) for _ in range(2)]
    ingest_readings(actor=operator, shipment=first, source="api", readings=[
        {"recorded_at": (T0 + timedelta(minutes=n)).isoformat(),
         "celsius": "-140" if n % 400 == 7 else "-180", "logger_id": "L2"}
        for n in range(30, 3000)])
    assert Shipment.objects.count() == 3 and len(add_more) == 2
    assert TemperatureReading.objects.filter(shipment=first).count() == 3000
    assert Deviation.objects.count() == 8 + 4 + 4
    # then the page runs exactly as many queries as before, charts drawn or cached
    assert queries(client, url, cold=True) == few
    assert queries(client, url) == few_cached


@pytest.mark.req("COI-PERF-002:cached")
def test_the_chart_is_drawn_once_per_state_of_the_readings(
        client, operator, patient, site, clinical_site):
    client.force_login(operator)
    shipment = add_shipment(operator, patient, site, clinical_site, 30)
    url = reverse("custody:shipment-chart", args=[shipment.pk])
    client.get(url)  # the session's first request does its own bookkeeping
    cache.clear()
    with CaptureQueriesContext(connection) as drawn:
        first = client.get(url).content
    with CaptureQueriesContext(connection) as cached:
        again = client.get(url).content
    reads = [q["sql"] for q in drawn.captured_queries if "custody_temperaturereading" in q["sql"]]
    assert reads and again == first
    assert not [q for q in cached.captured_queries
                if "custody_temperaturereading" in q["sql"]]
    # new readings (an excursion to -120 °C) are drawn at the next view
    ingest_readings(actor=operator, shipment=shipment, source="api", readings=[
        {"recorded_at": (T0 + timedelta(minutes=n)).isoformat(), "celsius": "-120",
         "logger_id": "L3"} for n in range(30, 40)])
    with CaptureQueriesContext(connection) as redrawn:
        after = client.get(url).content
    assert after != first and b"-120" in after
    assert [q for q in redrawn.captured_queries if "custody_temperaturereading" in q["sql"]]
