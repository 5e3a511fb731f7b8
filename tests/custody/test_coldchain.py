"""Readings in (API batches and CSV): refused values, duplicates, order; excursion deviations."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from custody.models import ExcursionDeviation, ReadingBatch, TemperatureReading
from custody.services.coldchain import create_shipment, ingest_readings, parse_csv
from deviations.models import Deviation
from mes.errors import DomainError, PermissionRefused
from tests.custody.factories import ContainerTypeFactory

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def at(minutes):
    return (T0 + timedelta(minutes=minutes)).isoformat()


def batch(*pairs, logger="L1"):
    return [{"recorded_at": at(m), "celsius": c, "logger_id": logger} for m, c in pairs]


@pytest.fixture
def shipment(operator, patient, site, clinical_site):
    return create_shipment(actor=operator, patient=patient, origin=clinical_site,
                           destination=site, container_type=ContainerTypeFactory(),
                           container_id="DS-7", carrier="Cryoport")


@pytest.mark.req("COI-CC-001")
def test_nan_and_absurd_values_are_refused_with_a_reason_and_the_rest_kept(operator,
                                                                         shipment):
    result = ingest_readings(actor=operator, shipment=shipment, source="api", readings=[
        *batch((0, "-180"), (5, "NaN"), (10, float("nan")), (15, "-300"), (20, "150"),
               (25, "warm"), (30, "-181")),
        {"recorded_at": "yesterday", "celsius": "-180", "logger_id": "L1"},
        {"recorded_at": at(40), "celsius": "-180", "logger_id": ""},
        {"recorded_at": (timezone.now() + timedelta(hours=2)).isoformat(), "celsius": "-180",
         "logger_id": "L1"},
        {"recorded_at": "0001-01-01T00:00:00+05:00", "celsius": "-180", "logger_id": "L1"},
    ])
    assert result.accepted == 2
    reasons = [r["reason"] for r in result.refused]
    assert reasons == [
        "the temperature is NaN (the logger sent no value)",
        "the temperature is NaN (the logger sent no value)",
        "-300 °C is below absolute zero",
        "150 °C is physically implausible for a shipment",
        "the temperature is not a number",
        "not an ISO 8601 date and time",
        "the logger identifier is missing",
        "the time is in the future",
        "the time is before 2000: a logger clock that was never set",
    ]
    assert [r["index"] for r in result.refused] == [1, 2, 3, 4, 5, 7, 8, 9, 10]
    assert ReadingBatch.objects.get().refused == result.refused


@pytest.mark.req("COI-CC-001")
def test_duplicates_are_ignored_and_out_of_order_batches_accepted(operator, shipment):
    first = ingest_readings(actor=operator, shipment=shipment, source="api",
                            readings=batch((20, "-180"), (0, "-182"), (10, "-181"), (10, "-181")))
    assert (first.accepted, first.duplicates) == (3, 1)
    late = ingest_readings(actor=operator, shipment=shipment, source="api",
                           readings=batch((5, "-185"), (10, "-181"), (20, "-180")))
    assert (late.accepted, late.duplicates) == (1, 2)
    assert list(TemperatureReading.objects.filter(shipment=shipment).order_by("recorded_at")
                .values_list("celsius", flat=True)) == [Decimal(v) for v in
                                                        ("-182", "-185", "-181", "-180")]
    assert late.summary.readings == 4 and late.summary.periods == []


@pytest.mark.req("COI-CC-001")
def test_only_people_with_the_permission_send_readings(qa_user, shipment):
    with pytest.raises(PermissionRefused):
        ingest_readings(actor=qa_user, shipment=shipment, source="api",
                        readings=batch((0, "-180")))
    with pytest.raises(DomainError, match="no readings"):
        ingest_readings(actor=shipment.created_by, shipment=shipment, source="api",
                        readings=[])
    assert not TemperatureReading.objects.exists() and not ReadingBatch.objects.exists()


@pytest.mark.req("COI-CC-003")
def test_an_excursion_raises_one_deviation_with_the_curve_attached(operator, shipment,
                                                                   patient):
    calm = ingest_readings(actor=operator, shipment=shipment, source="api",
                           readings=batch((0, "-180"), (5, "-150")))
    assert calm.new_reports == [] and not Deviation.objects.exists()
    warm = ingest_readings(actor=operator, shipment=shipment, source="api",
                           readings=batch((10, "-149.5"), (15, "-120"), (20, "-170")))
    [report] = warm.new_reports
    assert (report.kind, report.minutes_out_of_range, report.extreme_celsius) == (
        "excursion", Decimal("10.0"), Decimal("-120"))
    deviation = Deviation.objects.get()
    assert (deviation.patient_impact, deviation.classification, deviation.patient_coi) == (
        "yes", "major", patient.coi)
    assert deviation.subject == report
    attachment = deviation.deviationattachments.get()
    assert attachment.filename == f"temperature-{shipment.reference}.svg"
    assert b'class="excursion"' in bytes(attachment.content)
    # The same excursion, seen again (a repeated or overlapping batch), is not raised twice.
    again = ingest_readings(actor=operator, shipment=shipment, source="api",
                            readings=batch((12, "-130"), (25, "-175")))
    assert again.new_reports == [] and Deviation.objects.count() == 1


@pytest.mark.req("COI-CC-002", "COI-CC-003")
def test_an_exhausted_budget_raises_a_critical_deviation_once(operator, shipment):
    ingest_readings(actor=operator, shipment=shipment, source="api",
                    readings=batch((0, "-140"), (20, "-180"), (30, "-140"), (41, "-180")))
    kinds = sorted(ExcursionDeviation.objects.values_list("kind", flat=True))
    assert kinds == ["budget", "excursion", "excursion"]  # 20 + 11 = 31 > 30 minutes
    assert Deviation.objects.filter(classification="critical").count() == 1
    ingest_readings(actor=operator, shipment=shipment, source="api",
                    readings=batch((50, "-140"), (55, "-180")))
    assert ExcursionDeviation.objects.filter(kind="budget").count() == 1


@pytest.mark.req("COI-CC-001")
def test_csv_upload_takes_a_logger_export(client, operator, shipment):
    csv = ("recorded_at,celsius,logger_id\n"
           f"{at(0)},-180,L9\n{at(5)},-181,L9\n{at(5)},-181,L9\n{at(10)},NaN,L9\n")
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(operator)
    response = client.post(reverse("custody:readings-upload", args=[shipment.pk]),
                           {"file": SimpleUploadedFile("log.csv", csv.encode())}, follow=True)
    text = response.content.decode()
    assert "2 readings stored, 1 duplicates ignored, 1 refused." in text
    assert "NaN" in text
    assert ReadingBatch.objects.get().source == "csv"


@pytest.mark.req("COI-CC-001")
def test_a_csv_without_the_columns_is_refused_clearly():
    with pytest.raises(DomainError, match="recorded_at and celsius"):
        parse_csv(b"time;temp\n1;2\n")
    with pytest.raises(DomainError, match="UTF-8"):
        parse_csv(b"\xff\xfe\x00")


@pytest.mark.req("COI-CC-003")
def test_the_chart_shades_the_range_and_marks_excursions(client, operator, shipment):
    ingest_readings(actor=operator, shipment=shipment, source="api",
                    readings=batch((0, "-180"), (5, "-140"), (10, "-180")))
    client.force_login(operator)
    svg = client.get(reverse("custody:shipment-chart", args=[shipment.pk])).content.decode()
    assert svg.startswith("<svg") and 'class="allowed-range"' in svg
    assert svg.count('class="excursion"') == 1 and 'class="out-of-range"' in svg
    assert "style=" not in svg and "<script" not in svg
    page = client.get(reverse("custody:shipment-detail", args=[shipment.pk])).content.decode()
    assert 'class="allowed-range"' in page and "1 excursion, 5.0 min out of range" in page


@pytest.mark.req("COI-CC-001")
def test_the_receiving_site_may_send_the_loggers_readings(shipment, site, roles):
    from tests.mes.factories import person

    receiver = person("Operator", sites=[site], username="op-plant")
    result = ingest_readings(actor=receiver, shipment=shipment, source="api",
                             readings=batch((0, "-180")))
    assert result.accepted == 1
    assert TemperatureReading.objects.get().history.get().history_user == receiver


@pytest.mark.req("COI-CC-001")
def test_a_csv_row_with_more_cells_than_the_header_is_refused_and_nothing_stored(
        client, operator, shipment):
    csv = f"recorded_at,celsius\n{at(0)},-180,L9,extra\n{at(5)},-181\n"
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(operator)
    response = client.post(reverse("custody:readings-upload", args=[shipment.pk]),
                           {"file": SimpleUploadedFile("log.csv", csv.encode())}, follow=True)
    assert response.status_code == 200
    assert "Line 2 of the CSV has more cells than the header" in response.content.decode()
    assert not ReadingBatch.objects.exists() and not TemperatureReading.objects.exists()
