"""Shipments and the cold chain: temperature readings from loggers (API batches and CSV
uploads) and the excursions they reveal.

Readings are append-only. A batch is checked reading by reading: a value that is not a
number, or that no logger can read (below absolute zero, above 100 °C), is refused with
its reason while the rest are kept; a reading already stored (same logger, same instant)
is ignored; order does not matter. After each batch the shipment's out-of-range periods
are recomputed, and each new one (and an exhausted out-of-range budget) raises a
deviation with patient impact, with the temperature curve attached, in the same request.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from custody.excursions import ColdChainSummary, Period
from custody.models import (
    ContainerType,
    ExcursionDeviation,
    Patient,
    ReadingBatch,
    Shipment,
    ShipmentLeg,
    TemperatureReading,
)
from custody.models.coldchain import ABSOLUTE_ZERO, PLAUSIBLE_MAX
from custody.selectors import ShipmentColdChain, cold_chain_of
from mes import audit
from mes.errors import DomainError, PermissionRefused
from mes.models import Site, User

MAX_BATCH = 5000
CLOCK_TOLERANCE = timedelta(minutes=5)
# Earlier times are unset logger clocks; near year 1 they do not even survive the database.
EARLIEST_READING = datetime(2000, 1, 1, tzinfo=UTC)


def _require(actor: User, permission: str, action: str, site: Site) -> None:
    if not actor.has_perm(permission):
        raise PermissionRefused(f"{actor.full_name} is not authorised to {action}.")
    if not actor.has_site(site):
        raise PermissionRefused(f"{actor.full_name} has no access to site {site.code}.")


@dataclass(frozen=True)
class LegPlan:
    origin: str
    destination: str
    carrier: str


@transaction.atomic
def create_shipment(*, actor: User, patient: Patient, origin: Site, destination: Site,
                    container_type: ContainerType, container_id: str, carrier: str,
                    tracking_number: str = "", legs: list[LegPlan] | None = None) -> Shipment:
    """Plan a shipment of one patient's material between two of the patient's sites."""
    _require(actor, "custody.add_shipment", "plan shipments", origin)
    patient_sites = {patient.site_id, patient.treating_site_id}
    if origin.pk not in patient_sites or destination.pk not in patient_sites:
        raise DomainError(f"A shipment for {patient.coi} goes between its treating and "
                          "manufacturing sites.", code="invalid",
                          fields={"destination_site": ["Not this patient's site."]})
    if origin.pk == destination.pk:
        raise DomainError("Origin and destination are the same site.", code="invalid",
                          fields={"destination_site": ["Same as origin."]})
    if not container_id.strip() or not carrier.strip():
        raise DomainError("The container identifier and the carrier are required.",
                          code="invalid", fields={"container_id": ["Required."],
                                                  "carrier": ["Required."]})
    # Lock the patient so two shipments planned at once do not draw the same reference.
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    count = Shipment.objects.filter(patient=patient).count() + 1
    shipment = Shipment(reference=f"SHP-{patient.coi}-{count}", patient=patient, site=origin,
                        destination_site=destination, container_type=container_type,
                        container_id=container_id.strip(), carrier=carrier.strip(),
                        tracking_number=tracking_number.strip(), created_by=actor)
    audit.stamp(shipment, user=actor, reason="Shipment planned")
    shipment.save()
    for number, leg in enumerate(legs or [LegPlan(origin.name, destination.name, carrier)],
                                 start=1):
        row = ShipmentLeg(shipment=shipment, site=origin, sequence=number, origin=leg.origin,
                          destination=leg.destination, carrier=leg.carrier)
        audit.stamp(row, user=actor, reason="Shipment planned")
        row.save()
    return shipment


@dataclass
class IngestResult:
    batch: ReadingBatch
    accepted: int
    duplicates: int
    refused: list[dict]
    summary: ColdChainSummary
    new_reports: list[ExcursionDeviation] = field(default_factory=list)


def _reading_time(value, zone) -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        when = parse_datetime(str(value or "").strip())
        if when is None:
            raise ValueError("not an ISO 8601 date and time")
    if timezone.is_naive(when):
        if zone is None:
            raise ValueError("the time has no UTC offset")
        when = when.replace(tzinfo=zone)
    return when


def _reading_value(value) -> Decimal:
    try:
        celsius = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError("the temperature is not a number") from None
    if celsius.is_nan() or (isinstance(value, float) and math.isnan(value)):
        raise ValueError("the temperature is NaN (the logger sent no value)")
    if celsius.is_infinite():
        raise ValueError("the temperature is infinite")
    if celsius < ABSOLUTE_ZERO:
        raise ValueError(f"{celsius} °C is below absolute zero")
    if celsius > PLAUSIBLE_MAX:
        raise ValueError(f"{celsius} °C is physically implausible for a shipment")
    return celsius.quantize(Decimal("0.01"))


def ingest_readings(*, actor: User, shipment: Shipment, readings: list[dict], source: str,
                    naive_zone=None) -> IngestResult:
    """Store a batch of readings ({recorded_at, celsius, logger_id}) for ``shipment``."""
    if not actor.has_perm("custody.add_temperaturereading"):
        raise PermissionRefused(f"{actor.full_name} is not authorised to record temperature "
                                "readings.")
    if not (actor.has_site(shipment.site) or actor.has_site(shipment.destination_site)):
        raise PermissionRefused(f"{actor.full_name} has no access to the sites of shipment "
                                f"{shipment.reference}.")
    if not readings:
        raise DomainError("The batch has no readings.", code="empty_batch",
                          fields={"readings": ["Empty."]})
    if len(readings) > MAX_BATCH:
        raise DomainError(f"Send at most {MAX_BATCH} readings per batch.", code="batch_too_big")
    now = timezone.now()
    valid: dict[tuple[str, datetime], Decimal] = {}
    refused: list[dict] = []
    duplicates = 0
    for index, item in enumerate(readings):
        try:
            when = _reading_time(item.get("recorded_at"), naive_zone)
            if when > now + CLOCK_TOLERANCE:
                raise ValueError("the time is in the future")
            if when < EARLIEST_READING:
                raise ValueError(f"the time is before {EARLIEST_READING:%Y}: a logger clock "
                                 "that was never set")
            celsius = _reading_value(item.get("celsius"))
            logger = str(item.get("logger_id") or "").strip()[:64]
            if not logger:
                raise ValueError("the logger identifier is missing")
        except ValueError as problem:
            refused.append({"index": index, "recorded_at": str(item.get("recorded_at", "")),
                            "celsius": str(item.get("celsius", "")), "reason": str(problem)})
            continue
        key = (logger, when)
        if key in valid:
            duplicates += 1
            continue
        valid[key] = celsius
    with transaction.atomic():
        shipment = Shipment.objects.select_for_update().select_related(
            "container_type", "patient", "site").get(pk=shipment.pk)
        if shipment.status == Shipment.Status.CANCELLED:
            raise DomainError(f"Shipment {shipment.reference} is cancelled.",
                              code="shipment_cancelled")
        if valid:
            times = [when for _, when in valid]
            stored = set(TemperatureReading.objects.filter(
                shipment=shipment, recorded_at__gte=min(times), recorded_at__lte=max(times),
            ).values_list("logger_id", "recorded_at"))
            for key in [k for k in valid if k in stored]:
                del valid[key]
                duplicates += 1
        batch = ReadingBatch(shipment=shipment, site=shipment.site, source=source,
                             received_by=actor, accepted=len(valid), duplicates=duplicates,
                             refused=refused)
        audit.stamp(batch, user=actor, reason=f"{len(valid)} readings received ({source})")
        batch.save()
        audit.bulk_create_with_history(
            [TemperatureReading(shipment=shipment, site=shipment.site, batch=batch,
                                logger_id=logger, recorded_at=when, celsius=celsius)
             for (logger, when), celsius in sorted(valid.items(), key=lambda kv: kv[0][1])],
            TemperatureReading, user=actor, reason=f"Reading batch {batch.pk}")
        [cold] = cold_chain_of([shipment])
        reports = _report_excursions(actor=actor, cold=cold) if valid else []
    return IngestResult(batch=batch, accepted=len(valid), duplicates=duplicates,
                        refused=refused, summary=cold.summary, new_reports=reports)


def parse_csv(data: bytes) -> list[dict]:
    """Rows of a logger's CSV export: ``recorded_at,celsius[,logger_id]`` with a header."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError("The file is not UTF-8 text (CSV).", code="invalid_csv") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower() for c in (reader.fieldnames or [])}
    if not {"recorded_at", "celsius"} <= columns:
        raise DomainError("The CSV needs a header with the columns recorded_at and celsius "
                          "(and optionally logger_id).", code="invalid_csv")
    rows = []
    for row in reader:
        if None in row:  # DictReader files cells beyond the header under None
            raise DomainError(f"Line {reader.line_num} of the CSV has more cells than the "
                              "header; fix the file and upload it again.", code="invalid_csv")
        rows.append({k.strip().lower(): (v or "").strip() for k, v in row.items()})
    return rows


def _covered(period: Period, reports: list[ExcursionDeviation]) -> bool:
    end = period.ended_at or period.last_out_at
    return any(period.started_at <= r.started_at <= end for r in reports)


def _report_excursions(*, actor: User, cold: ShipmentColdChain) -> list[ExcursionDeviation]:
    shipment, summary = cold.shipment, cold.summary
    existing = list(ExcursionDeviation.objects.filter(shipment=shipment))
    periods = [p for p in summary.periods
               if not _covered(p, [r for r in existing if r.kind == "excursion"])]
    new = []
    for period in periods:
        new.append(_report(actor=actor, shipment=shipment, kind=ExcursionDeviation.Kind.EXCURSION,
                           started_at=period.started_at, ended_at=period.ended_at,
                           extreme=period.extreme, minutes=period.minutes))
    if summary.budget_exceeded and not any(r.kind == "budget" for r in existing):
        worst = max(summary.periods, key=lambda p: p.minutes)
        new.append(_report(actor=actor, shipment=shipment, kind=ExcursionDeviation.Kind.BUDGET,
                           started_at=summary.periods[0].started_at, ended_at=None,
                           extreme=worst.extreme, minutes=summary.minutes_out_of_range))
    if new:
        svg = cold.svg.encode()
        for report in new:
            _raise_excursion_deviation(actor=actor, report=report, summary=summary, svg=svg)
    return new


def _report(*, actor, shipment, kind, started_at, ended_at, extreme, minutes):
    report = ExcursionDeviation(shipment=shipment, site=shipment.site, kind=kind,
                                started_at=started_at, ended_at=ended_at,
                                extreme_celsius=extreme, minutes_out_of_range=minutes)
    audit.stamp(report, user=actor, reason="Temperature excursion detected")
    report.save()
    return report


def _raise_excursion_deviation(*, actor: User, report: ExcursionDeviation,
                               summary: ColdChainSummary, svg: bytes) -> None:
    from deviations.services import raise_deviation

    shipment = report.shipment
    patient = shipment.patient
    zone = shipment.site.zone
    start = report.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    kind = shipment.container_type
    if report.kind == ExcursionDeviation.Kind.BUDGET:
        title = f"Out-of-range budget exhausted on {shipment.reference} ({patient.coi})"
        classification = "critical"
    else:
        title = f"Temperature excursion on {shipment.reference} ({patient.coi})"
        classification = "major"
    description = (
        f"Container {shipment.container_id} ({kind.name}, allowed {kind.range_label}) went "
        f"out of range at {start}; extreme {report.extreme_celsius} °C, "
        f"{report.minutes_out_of_range} min out of range"
        f"{' and still out of range at the last reading' if report.ended_at is None else ''}. "
        f"Cumulative out of range: {summary.minutes_out_of_range} min of a "
        f"{summary.budget_minutes} min budget.")
    raise_deviation(
        reporter=actor, site=patient.site, subject=report, title=title,
        description=description, classification=classification, patient_impact="yes",
        patient_coi=patient.coi, source="automatic", rule=f"custody.{report.kind}",
        data={"shipment": shipment.reference, "started_at": report.started_at.isoformat(),
              "ended_at": report.ended_at.isoformat() if report.ended_at else None,
              "extreme_celsius": str(report.extreme_celsius),
              "minutes_out_of_range": str(report.minutes_out_of_range),
              "cumulative_minutes": str(summary.minutes_out_of_range),
              "budget_minutes": summary.budget_minutes},
        attachments=[(f"temperature-{shipment.reference}.svg", "image/svg+xml", svg)],
    )
