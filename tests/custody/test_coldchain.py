"""Readings in (API batches and CSV): refused values, duplicates, order; excursion deviations."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from custody.models import ExcursionDeviation, ReadingBatch, TemperatureReading
from custody.services.coldchain import (
    ReadingsRefused,
    create_shipment,
    ingest_readings,
    parse_csv,
)
from custody.services.events import Handoff, record_custody_event
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


def handoff(actor, password, shipment, kind, minutes):
    """Record the shipment's shipping handoff or receipt at T0 + ``minutes``."""
    patient = shipment.patient
    site = shipment.site if kind == "shipped" else shipment.destination_site
    return record_custody_event(actor=actor, password=password, handoff=Handoff(
        patient=patient, site=site, kind=kind, container_id="DS-7", shipment=shipment,
        label_scan=patient.isbt.barcode_data, occurred_at=T0 + timedelta(minutes=minutes)))


def stored():
    """What a batch leaves behind: batch rows, readings, and their history rows."""
    return (ReadingBatch.objects.count(), TemperatureReading.objects.count(),
            ReadingBatch.history.count(), TemperatureReading.history.count(),
            ExcursionDeviation.objects.count(), Deviation.objects.count())


@pytest.mark.req("COI-CC-001:refused")
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
    assert [r["code"] for r in result.refused] == [
        "not_a_number", "not_a_number", "implausible_temperature", "implausible_temperature",
        "not_a_number", "invalid_time", "missing_logger", "future_time", "unset_clock"]
    assert ReadingBatch.objects.get().refused == result.refused


@pytest.mark.req("COI-CC-004")
def test_readings_before_the_shipping_handoff_or_after_the_receipt_are_refused_with_a_code(
        operator, password, shipment):
    handoff(operator, password, shipment, "shipped", 0)
    handoff(operator, password, shipment, "received", 60)
    # 5 minutes either side are the clocks' tolerance (logger versus terminal).
    result = ingest_readings(actor=operator, shipment=shipment, source="api",
                             readings=batch((-30, "22"), (-6, "-180"), (-4, "-180"),
                                            (30, "-181"), (64, "-180"), (66, "-180"),
                                            (90, "21")))
    assert (result.accepted, result.duplicates) == (3, 0)
    assert [(r["index"], r["code"]) for r in result.refused] == [
        (0, "before_shipment_start"), (1, "before_shipment_start"),
        (5, "after_shipment_received"), (6, "after_shipment_received")]
    assert result.refused[0]["reason"].startswith("the time is before the shipment started")
    assert ReadingBatch.objects.get().refused == result.refused
    assert sorted(TemperatureReading.objects.values_list("recorded_at", flat=True)) == [
        T0 + timedelta(minutes=m) for m in (-4, 30, 64)]
    # The bench's room temperature before and after transit raised no excursion.
    assert result.summary.periods == [] and not Deviation.objects.exists()


@pytest.mark.req("COI-CC-004")
def test_a_shipment_not_yet_shipped_takes_the_loggers_readings(operator, shipment):
    # No shipping handoff yet: nothing to compare with, and the readings are real.
    result = ingest_readings(actor=operator, shipment=shipment, source="api",
                             readings=batch((-600, "-180"), (0, "-181")))
    assert (result.accepted, result.refused) == (2, [])


@pytest.mark.req("COI-CC-005")
def test_a_batch_with_nothing_accepted_is_refused_and_leaves_no_batch(
        operator, password, shipment):
    handoff(operator, password, shipment, "shipped", 0)
    handoff(operator, password, shipment, "received", 60)
    ingest_readings(actor=operator, shipment=shipment, source="api",
                    readings=batch((10, "-180")))
    before = stored()
    with pytest.raises(ReadingsRefused) as late:
        ingest_readings(actor=operator, shipment=shipment, source="api",
                        readings=batch((90, "21"), (120, "22")))
    assert late.value.code == "after_shipment_received"  # one cause: its own code
    assert [r["code"] for r in late.value.refused] == ["after_shipment_received"] * 2
    assert late.value.fields["readings"][0].startswith("Reading 0: the time is after")
    with pytest.raises(ReadingsRefused) as mixed:
        ingest_readings(actor=operator, shipment=shipment, source="api",
                        readings=batch((-30, "20"), (20, "NaN")))
    assert mixed.value.code == "no_reading_accepted"  # several causes
    assert [r["code"] for r in mixed.value.refused] == ["before_shipment_start",
                                                       "not_a_number"]
    assert stored() == before


@pytest.mark.req("COI-CC-005")
def test_a_batch_of_readings_already_stored_records_nothing(operator, shipment):
    first = ingest_readings(actor=operator, shipment=shipment, source="api",
                            readings=batch((0, "-180"), (5, "-181")))
    before = stored()
    again = ingest_readings(actor=operator, shipment=shipment, source="api",
                            readings=batch((0, "-180"), (5, "-181"), (5, "-181")))
    assert (again.batch, again.accepted, again.duplicates, again.refused) == (None, 0, 3, [])
    assert again.summary.readings == first.summary.readings == 2
    assert stored() == before


@pytest.mark.req("COI-CC-001:duplicates", "COI-CC-001:order")
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


@pytest.mark.req("COI-CC-001:authorised")
def test_only_people_with_the_permission_send_readings(qa_user, shipment):
    with pytest.raises(PermissionRefused) as refused:
        ingest_readings(actor=qa_user, shipment=shipment, source="api",
                        readings=batch((0, "-180")))
    assert refused.value.code == "permission_denied"
    with pytest.raises(DomainError, match="no readings") as empty:
        ingest_readings(actor=shipment.created_by, shipment=shipment, source="api",
                        readings=[])
    assert empty.value.code == "empty_batch"
    assert stored() == (0, 0, 0, 0, 0, 0)


@pytest.mark.req("COI-CC-003:deviation", "COI-CC-003:curve",
                 "COI-CC-006:idempotent")
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


@pytest.mark.req("COI-CC-006:one-deviation", "COI-CC-006:idempotent")
def test_one_excursion_over_the_range_and_the_budget_raises_one_deviation_naming_both(
        operator, shipment, patient):
    # One period out of range, 5 to 45 minutes: 40 minutes, over the 30-minute budget.
    warm = ingest_readings(actor=operator, shipment=shipment, source="api",
                           readings=batch((0, "-180"), (5, "-140"), (45, "-180")))
    assert sorted(r.kind for r in warm.new_reports) == ["budget", "excursion"]
    deviation = Deviation.objects.get()
    excursion = ExcursionDeviation.objects.get(kind="excursion")
    assert deviation.subject == excursion and deviation.classification == "critical"
    assert deviation.title == (f"Temperature excursion on {shipment.reference} "
                               f"({patient.coi}), out-of-range budget exhausted")
    assert "40.0 min out of range" in deviation.description
    assert "The out-of-range budget is exhausted: 40.0 min out of range in total, of a 30 " \
           "min budget." in deviation.description
    assert [f["rule"] for f in deviation.data["findings"]] == ["custody.excursion",
                                                             "custody.budget"]
    # Analysed again (a later batch in range, an overlapping resend): nothing new is raised.
    for readings in (batch((50, "-181")), batch((25, "-130"), (60, "-182"))):
        again = ingest_readings(actor=operator, shipment=shipment, source="api",
                                readings=readings)
        assert again.new_reports == [] and again.summary.budget_exceeded
    assert Deviation.objects.count() == 1 and ExcursionDeviation.objects.count() == 2


@pytest.mark.req("COI-CC-006:later-finding")
def test_a_budget_exhausted_by_an_excursion_already_reported_is_added_to_its_deviation(
        operator, shipment):
    ingest_readings(actor=operator, shipment=shipment, source="api",
                    readings=batch((0, "-180"), (5, "-140"), (15, "-140")))
    deviation = Deviation.objects.get()
    assert deviation.classification == "major"
    # The same excursion goes on past the budget (5 to 45 minutes) in the next batch.
    later = ingest_readings(actor=operator, shipment=shipment, source="api",
                            readings=batch((40, "-140"), (45, "-180")))
    assert [r.kind for r in later.new_reports] == ["budget"]
    assert Deviation.objects.count() == 1
    deviation.refresh_from_db()
    assert deviation.classification == "critical"  # provisional: QA has not classified it
    assert [f["rule"] for f in deviation.data["findings"]] == ["custody.excursion",
                                                             "custody.budget"]
    [comment] = deviation.comments.all()
    assert comment.text.startswith("The out-of-range budget is exhausted: 40.0 min")
    assert deviation.history.first().history_change_reason.startswith(
        "Further finding (custody.budget)")
    again = ingest_readings(actor=operator, shipment=shipment, source="api",
                            readings=batch((50, "-182")))
    assert again.new_reports == [] and Deviation.objects.count() == 1


@pytest.mark.req("COI-CC-006:one-deviation", "COI-CC-003:deviation")
def test_two_excursions_raise_two_deviations_and_the_budget_goes_on_the_second(operator,
                                                                              shipment):
    ingest_readings(actor=operator, shipment=shipment, source="api",
                    readings=batch((0, "-140"), (20, "-180"), (30, "-140"), (41, "-180")))
    kinds = sorted(ExcursionDeviation.objects.values_list("kind", flat=True))
    assert kinds == ["budget", "excursion", "excursion"]  # 20 + 11 = 31 > 30 minutes
    first, second = Deviation.objects.order_by("sequence")
    assert (first.classification, second.classification) == ("major", "critical")
    assert second.subject == ExcursionDeviation.objects.get(kind="excursion",
                                                           minutes_out_of_range=11)
    ingest_readings(actor=operator, shipment=shipment, source="api",
                    readings=batch((50, "-140"), (55, "-180")))
    assert ExcursionDeviation.objects.filter(kind="budget").count() == 1
    assert Deviation.objects.count() == 3  # the third excursion, once


@pytest.mark.req("COI-CC-001:csv")
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


@pytest.mark.req("COI-CC-001:csv")
def test_a_csv_without_the_columns_is_refused_clearly(db):
    with pytest.raises(DomainError, match="recorded_at and celsius") as columns:
        parse_csv(b"time;temp\n1;2\n")
    assert columns.value.code == "invalid_csv"
    with pytest.raises(DomainError, match="UTF-8") as encoding:
        parse_csv(b"\xff\xfe\x00")
    assert encoding.value.code == "invalid_csv"
    assert stored() == (0, 0, 0, 0, 0, 0)  # parsing alone stores nothing


@pytest.mark.req("COI-CC-001:csv")
def test_a_csv_with_a_nul_character_is_refused_by_the_page_and_stores_nothing(
        client, operator, shipment):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = f"recorded_at,celsius,logger_id\n{at(0)},-180,L\x009\n".encode()
    with pytest.raises(DomainError) as nul:
        parse_csv(data)
    assert nul.value.code == "invalid_characters"
    client.force_login(operator)
    response = client.post(reverse("custody:readings-upload", args=[shipment.pk]),
                           {"file": SimpleUploadedFile("log.csv", data)}, follow=True)
    assert response.status_code in (200, 400)
    assert "NUL character" in response.content.decode()
    assert stored() == (0, 0, 0, 0, 0, 0)


@pytest.mark.req("COI-CC-003:chart")
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


@pytest.mark.req("COI-CC-001:authorised")
def test_the_receiving_site_may_send_the_loggers_readings(shipment, site, roles):
    from tests.mes.factories import person

    receiver = person("Operator", sites=[site], username="op-plant")
    result = ingest_readings(actor=receiver, shipment=shipment, source="api",
                             readings=batch((0, "-180")))
    assert result.accepted == 1
    assert TemperatureReading.objects.get().history.get().history_user == receiver


@pytest.mark.req("COI-CC-001:csv")
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
