"""The stored excursion analysis, kept as readings arrive, is what a from-scratch analysis
of every reading gives: whatever the batches' sizes, order and repeats."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custody.excursions import analyse
from custody.models import ColdChainAnalysis, ContainerType
from custody.selectors import analyse_afresh, cold_chain_of
from custody.services.coldchain import create_shipment, ingest_readings
from tests.custody.factories import ContainerTypeFactory

T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
VALUES = ["-190", "-160", "-150", "-149.99", "-140", "-120", "-30"]


def facts(summary):
    """Everything a page, the API or a deviation takes from an analysis."""
    return (summary.readings, summary.minimum, summary.maximum, summary.first_at,
            summary.last_at, summary.minutes_out_of_range, summary.budget_exceeded,
            [(p.started_at, p.ended_at, p.last_out_at, p.extreme, p.readings, p.minutes)
             for p in summary.periods],
            [(g.started_at, g.ended_at) for g in summary.gaps])


def stored_summary(shipment):
    return ColdChainAnalysis.objects.get(shipment=shipment).summary()


reading = st.tuples(st.integers(0, 600), st.sampled_from(VALUES), st.sampled_from(["L1", "L2"]))


@st.composite
def deliveries(draw):
    """Readings split into batches, the batches shuffled, some sent twice."""
    readings = draw(st.lists(reading, min_size=1, max_size=60))
    cuts = sorted(draw(st.lists(st.integers(1, len(readings)), max_size=6)))
    batches, start = [], 0
    for cut in [*cuts, len(readings)]:
        if cut > start:
            batches.append(readings[start:cut])
            start = cut
    batches = draw(st.permutations(batches))
    repeats = draw(st.lists(st.sampled_from(batches), max_size=2))
    positions = [draw(st.integers(0, len(batches))) for _ in repeats]
    for batch, at in zip(repeats, positions, strict=True):
        batches.insert(at, batch)
    return batches


@pytest.mark.req("COI-PERF-001:equal")
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=deliveries())
def test_the_stored_analysis_equals_a_fresh_one_whatever_the_batches(batches, operator,
                                                                     patient, site,
                                                                     clinical_site):
    # given a new shipment (one per example: the database is not reset between examples)
    shipment = create_shipment(actor=operator, patient=patient, origin=clinical_site,
                               destination=site, container_type=ContainerTypeFactory(),
                               container_id="DS-7", carrier="Cryoport")
    # when the batches arrive one by one, in their shuffled order, repeats included
    sent = []
    for batch in batches:
        items = [{"recorded_at": (T0 + timedelta(minutes=m)).isoformat(), "celsius": c,
                  "logger_id": logger} for m, c, logger in batch]
        result = ingest_readings(actor=operator, shipment=shipment, source="api",
                                 readings=items)
        sent += [(T0 + timedelta(minutes=m), Decimal(c)) for m, c, _ in batch]
        # then after every batch, what it answers and what is stored is the fresh analysis
        fresh = analyse_afresh(shipment)
        assert facts(result.summary) == facts(stored_summary(shipment)) == facts(fresh)
    # and equal to analysing the readings as sent (the first value of an instant wins)
    kind = shipment.container_type
    assert facts(stored_summary(shipment)) == facts(analyse(
        sent, low=kind.min_celsius, high=kind.max_celsius,
        budget_minutes=kind.out_of_range_budget_minutes, max_gap=timedelta(minutes=15)))


def send(operator, shipment, *pairs):
    return ingest_readings(actor=operator, shipment=shipment, source="api", readings=[
        {"recorded_at": (T0 + timedelta(minutes=m)).isoformat(), "celsius": c,
         "logger_id": "L1"} for m, c in pairs])


@pytest.fixture
def shipment(operator, patient, site, clinical_site):
    return create_shipment(actor=operator, patient=patient, origin=clinical_site,
                           destination=site, container_type=ContainerTypeFactory(),
                           container_id="DS-7", carrier="Cryoport")


@pytest.mark.req("COI-PERF-001:stored")
def test_pages_read_the_stored_analysis_instead_of_the_readings(
        operator, shipment, django_assert_num_queries):
    # given readings with an excursion still open at the last reading
    send(operator, shipment, (0, "-180"), (5, "-140"), (10, "-130"))
    send(operator, shipment, (15, "-120"))  # the open excursion goes on
    analysis = ColdChainAnalysis.objects.get(shipment=shipment)
    assert (analysis.readings, len(analysis.periods)) == (4, 1)
    assert analysis.periods[0]["ended_at"] is None and analysis.periods[0]["readings"] == 3
    assert analysis.history.count() == 2  # one history row per batch that changed it
    # when the summary is read: one query, the stored row, and no reading loaded
    with django_assert_num_queries(1) as captured:
        [cold] = cold_chain_of([shipment])
    assert "custody_temperaturereading" not in captured.captured_queries[0]["sql"]
    assert cold.summary.periods[0].minutes == Decimal("10.0")


@pytest.mark.req("COI-PERF-001:stale")
def test_an_analysis_made_with_other_limits_is_not_shown(operator, shipment):
    # given a stored analysis: in range under the shipper's limit of -150 °C
    send(operator, shipment, (0, "-180"), (5, "-140"), (10, "-180"))
    assert len(stored_summary(shipment).periods) == 1
    # when the container type's limit changes
    kind = ContainerType.objects.get(pk=shipment.container_type_id)
    kind.max_celsius = Decimal("-130")
    kind._change_reason = "Shipper requalified"
    kind.save()
    shipment.refresh_from_db()
    # then what is shown is analysed afresh with the new limit, not the stored result
    [cold] = cold_chain_of([shipment])
    assert cold.summary.periods == [] and cold.summary.high == Decimal("-130")
    # and the next batch stores the analysis with the new limit
    result = send(operator, shipment, (15, "-135"))
    assert stored_summary(shipment).high == Decimal("-130")
    assert result.summary.periods == [] and stored_summary(shipment).readings == 4


def reading_loads(captured) -> list[str]:
    """The queries that load readings' temperatures (an analysis of stored readings)."""
    return [q["sql"] for q in captured.captured_queries
            if 'FROM "custody_temperaturereading"' in q["sql"]
            and q["sql"].startswith("SELECT") and '"celsius"' in q["sql"].split("FROM")[0]]


@pytest.mark.req("COI-PERF-004:only-new")
def test_a_batch_after_the_last_reading_analyses_only_the_new_readings(operator, shipment):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # given a shipment with 30 readings, then with 1,030
    send(operator, shipment, *[(n, "-180") for n in range(30)])
    with CaptureQueriesContext(connection) as small:
        send(operator, shipment, *[(n, "-180") for n in range(30, 40)])
    send(operator, shipment, *[(n, "-180") for n in range(40, 1040)])
    # when a batch comes after the last reading
    with CaptureQueriesContext(connection) as large:
        result = send(operator, shipment, (1040, "-181"), (1041, "-180"))
    # then no stored reading's temperature is read, and the queries are as many as before
    assert reading_loads(small) == reading_loads(large) == []
    assert len(large.captured_queries) == len(small.captured_queries)
    assert result.summary.readings == 1042 and result.summary.periods == []
    # and a batch reaching back in time has the shipment analysed afresh
    with CaptureQueriesContext(connection) as back:
        late = send(operator, shipment, (500.5, "-181"))
    assert len(reading_loads(back)) == 1 and late.summary.readings == 1043


@pytest.mark.req("COI-PERF-004:history")
def test_each_reading_ingested_has_its_history_row(operator, shipment):
    from custody.models import ReadingBatch, TemperatureReading

    # when a batch of readings is ingested (including one at an instant already stored)
    send(operator, shipment, (0, "-180"))
    send(operator, shipment, (0, "-170"), (5, "-181.5"), (10, "-182"))
    batch = ReadingBatch.objects.order_by("pk").last()
    # then each new reading has one history row: created, by the sender, the batch as reason,
    # with the values stored
    rows = TemperatureReading.history.filter(batch_id=batch.pk).order_by("id")
    assert [(h.history_type, h.history_user, h.history_change_reason) for h in rows] == [
        ("+", operator, f"Reading batch {batch.pk}")] * 2
    assert [(h.id, h.logger_id, h.recorded_at, h.celsius) for h in rows] == list(
        TemperatureReading.objects.filter(batch=batch).order_by("id")
        .values_list("id", "logger_id", "recorded_at", "celsius"))
    assert TemperatureReading.history.count() == TemperatureReading.objects.count() == 3
