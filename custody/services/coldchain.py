"""Shipments and the cold chain: temperature readings from loggers (API batches and CSV
uploads) and the excursions they reveal.

Readings are append-only. A batch is checked reading by reading: a value that is not a
number, or that no logger can read (below absolute zero, above 100 °C), is refused with
its code and reason while the rest are kept; a reading already stored (same logger, same
instant) is ignored; order does not matter. A reading timed before the shipment's shipping
handoff or after its receipt (as its custody events say, give or take the clock
tolerance) is refused too: it is the logger on a bench, not the material in transit, and
kept it would raise false excursions (room temperature after unpacking) or hide real ones.
A batch in which nothing is accepted leaves no batch row: if anything was refused it is
refused as a whole, with the reasons. After each batch the shipment's out-of-range periods
are recomputed, and each new one raises one deviation with patient impact, with the
temperature curve attached, in the same request; the exhausted out-of-range budget is a
further finding on the deviation of the excursion that exhausted it, never a second one.
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

from custody.excursions import ColdChainSummary, Period, resume
from custody.models import (
    ColdChainAnalysis,
    ContainerType,
    CustodyEvent,
    ExcursionDeviation,
    Patient,
    ReadingBatch,
    Shipment,
    ShipmentLeg,
    TemperatureReading,
)
from custody.models.coldchain import ABSOLUTE_ZERO, PLAUSIBLE_MAX
from custody.models.custody import RECEIVING, SHIPPING
from custody.selectors import ShipmentColdChain, analyse_afresh, cold_chain_of
from deviations.selectors import open_deviations_for
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
    batch: ReadingBatch | None  # None: nothing new (every reading was already stored)
    accepted: int
    duplicates: int
    refused: list[dict]
    summary: ColdChainSummary
    new_reports: list[ExcursionDeviation] = field(default_factory=list)


class ReadingRefused(ValueError):
    """Why one reading of a batch is refused; the batch goes on without it."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code


class ReadingsRefused(DomainError):
    """Nothing in the batch was accepted and something was refused: no batch is recorded.
    ``refused`` lists each reading's index, code and reason."""

    code = "no_reading_accepted"

    def __init__(self, refused: list[dict]):
        codes = {item["code"] for item in refused}
        first = refused[0]
        super().__init__(
            f"None of the readings was accepted, so nothing was stored: {len(refused)} "
            f"refused (the first, reading {first['index']}: {first['reason']}).",
            code=codes.pop() if len(codes) == 1 else None,
            fields={"readings": [f"Reading {item['index']}: {item['reason']} "
                                 f"({item['code']})." for item in refused[:50]]})
        self.refused = refused


@dataclass(frozen=True)
class TransitWindow:
    """When the material was in the shipment, as its custody events say (None: not yet)."""

    started_at: datetime | None
    received_at: datetime | None

    def refusal(self, when: datetime) -> ReadingRefused | None:
        if self.started_at is not None and when < self.started_at - CLOCK_TOLERANCE:
            return ReadingRefused("before_shipment_start",
                                  f"the time is before the shipment started "
                                  f"({self.started_at.isoformat()})")
        if self.received_at is not None and when > self.received_at + CLOCK_TOLERANCE:
            return ReadingRefused("after_shipment_received",
                                  f"the time is after the shipment was received "
                                  f"({self.received_at.isoformat()})")
        return None


def transit_window(shipment: Shipment) -> TransitWindow:
    """From the shipment's first shipping handoff to its first receipt. Before the shipping
    handoff is recorded there is no lower bound: a logger may report before the handoff is
    entered, and refusing those readings would lose the material's real temperatures."""
    events = CustodyEvent.objects.filter(shipment=shipment)
    started = (events.filter(kind__in=SHIPPING).order_by("occurred_at")
               .values_list("occurred_at", flat=True).first())
    received = (events.filter(kind__in=RECEIVING).order_by("occurred_at")
                .values_list("occurred_at", flat=True).first())
    return TransitWindow(started_at=started, received_at=received)


def _reading_time(value, zone) -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        when = parse_datetime(str(value or "").strip())
        if when is None:
            raise ReadingRefused("invalid_time", "not an ISO 8601 date and time")
    if timezone.is_naive(when):
        if zone is None:
            raise ReadingRefused("invalid_time", "the time has no UTC offset")
        when = when.replace(tzinfo=zone)
    return when


def _reading_value(value) -> Decimal:
    try:
        celsius = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ReadingRefused("not_a_number", "the temperature is not a number") from None
    if celsius.is_nan() or (isinstance(value, float) and math.isnan(value)):
        raise ReadingRefused("not_a_number", "the temperature is NaN (the logger sent no "
                                             "value)")
    if celsius.is_infinite():
        raise ReadingRefused("implausible_temperature", "the temperature is infinite")
    if celsius < ABSOLUTE_ZERO:
        raise ReadingRefused("implausible_temperature", f"{celsius} °C is below absolute zero")
    if celsius > PLAUSIBLE_MAX:
        raise ReadingRefused("implausible_temperature",
                             f"{celsius} °C is physically implausible for a shipment")
    return celsius.quantize(Decimal("0.01"))


def _refusal(index: int, item: dict, problem: ReadingRefused) -> dict:
    return {"index": index, "recorded_at": str(item.get("recorded_at", "")),
            "celsius": str(item.get("celsius", "")), "code": problem.code,
            "reason": str(problem)}


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
    parsed: list[tuple[int, dict, str, datetime, Decimal]] = []
    refused: list[dict] = []
    for index, item in enumerate(readings):
        try:
            when = _reading_time(item.get("recorded_at"), naive_zone)
            if when > now + CLOCK_TOLERANCE:
                raise ReadingRefused("future_time", "the time is in the future")
            if when < EARLIEST_READING:
                raise ReadingRefused("unset_clock", f"the time is before "
                                     f"{EARLIEST_READING:%Y}: a logger clock that was never set")
            celsius = _reading_value(item.get("celsius"))
            logger = str(item.get("logger_id") or "").strip()[:64]
            if not logger:
                raise ReadingRefused("missing_logger", "the logger identifier is missing")
        except ReadingRefused as problem:
            refused.append(_refusal(index, item, problem))
            continue
        parsed.append((index, item, logger, when, celsius))
    with transaction.atomic():
        shipment = Shipment.objects.select_for_update().select_related(
            "container_type", "patient", "site").get(pk=shipment.pk)
        if shipment.status == Shipment.Status.CANCELLED:
            raise DomainError(f"Shipment {shipment.reference} is cancelled.",
                              code="shipment_cancelled")
        # Read under the shipment's lock: a receipt recorded meanwhile narrows the window.
        window = transit_window(shipment)
        valid: dict[tuple[str, datetime], Decimal] = {}
        duplicates = 0
        for index, item, logger, when, celsius in parsed:
            problem = window.refusal(when)
            if problem is not None:
                refused.append(_refusal(index, item, problem))
            elif (logger, when) in valid:
                duplicates += 1
            else:
                valid[(logger, when)] = celsius
        refused.sort(key=lambda r: r["index"])
        stored_instants: set[datetime] = set()
        if valid:
            times = [when for _, when in valid]
            stored = set(TemperatureReading.objects.filter(
                shipment=shipment, recorded_at__gte=min(times), recorded_at__lte=max(times),
            ).values_list("logger_id", "recorded_at"))
            stored_instants = {when for _, when in stored}
            for key in [k for k in valid if k in stored]:
                del valid[key]
                duplicates += 1
        if not valid:
            if refused:
                raise ReadingsRefused(refused)
            [cold] = cold_chain_of([shipment])
            return IngestResult(batch=None, accepted=0, duplicates=duplicates, refused=[],
                                summary=cold.summary)
        batch = ReadingBatch(shipment=shipment, site=shipment.site, source=source,
                             received_by=actor, accepted=len(valid), duplicates=duplicates,
                             refused=refused)
        audit.stamp(batch, user=actor, reason=f"{len(valid)} readings received ({source})")
        batch.save()
        in_time_order = sorted(valid.items(), key=lambda kv: kv[0][1])
        _store_readings(actor=actor, batch=batch, readings=in_time_order)
        # The instants new to the shipment, each with its first value (the first stored wins).
        fresh: dict[datetime, Decimal] = {}
        for (_, when), celsius in in_time_order:
            if when not in stored_instants:
                fresh.setdefault(when, celsius)
        summary = _update_analysis(actor=actor, shipment=shipment, fresh=sorted(fresh.items()),
                                   batch=batch)
        cold = ShipmentColdChain(shipment, None, summary)
        reports = _report_excursions(actor=actor, cold=cold)
    return IngestResult(batch=batch, accepted=len(valid), duplicates=duplicates,
                        refused=refused, summary=cold.summary, new_reports=reports)


def _store_readings(*, actor: User, batch: ReadingBatch,
                    readings: list[tuple[tuple[str, datetime], Decimal]]) -> None:
    """Insert the batch's readings with their history rows in a few statements: a logger's
    batch is thousands of readings, and ingestion must keep up with the loggers (issue 10)."""
    audit.insert_with_history(
        TemperatureReading,
        [{"shipment_id": batch.shipment_id, "site_id": batch.site_id, "batch_id": batch.pk,
          "logger_id": logger, "recorded_at": when, "celsius": value}
         for (logger, when), value in readings],
        user=actor, reason=f"Reading batch {batch.pk}", marked_by=("batch_id", batch.pk))


def _update_analysis(*, actor: User, shipment: Shipment, fresh: list[tuple[datetime, Decimal]],
                     batch: ReadingBatch) -> ColdChainSummary:
    """Carry the shipment's stored analysis on over the instants new to it (``fresh``, in
    time order), under the shipment's lock: only the new readings are analysed when they all
    come after the last one analysed; a batch reaching back in time (or limits changed since)
    has the shipment analysed afresh from all its readings, so the stored analysis is always
    what a from-scratch analysis gives."""
    kind = shipment.container_type
    analysis = (ColdChainAnalysis.objects.filter(shipment=shipment).first()
                or ColdChainAnalysis(shipment=shipment))
    carry_on = (analysis.pk is not None and analysis.is_current_for(kind)
                and (not fresh or analysis.last_at is None or fresh[0][0] > analysis.last_at))
    if carry_on:
        summary = resume(analysis.summary(), fresh,
                         max_gap=timedelta(minutes=kind.max_reading_gap_minutes))
    else:
        summary = analyse_afresh(shipment)
    analysis.keep(summary, kind)
    audit.stamp(analysis, user=actor, reason=f"Reading batch {batch.pk}")
    analysis.save()
    return summary


def parse_csv(data: bytes) -> list[dict]:
    """Rows of a logger's CSV export: ``recorded_at,celsius[,logger_id]`` with a header."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError("The file is not UTF-8 text (CSV).", code="invalid_csv") from None
    if "\x00" in text:
        raise DomainError("The file contains a NUL character, which no reading may hold: it "
                          "is not a logger's CSV export.", code="invalid_characters")
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


def _exhausting(summary: ColdChainSummary) -> Period:
    """The out-of-range period during which the cumulative time went over the budget."""
    total = Decimal("0.0")
    for period in summary.periods:
        total += period.minutes
        if total > summary.budget_minutes:
            return period
    return summary.periods[-1]


def _report_excursions(*, actor: User, cold: ShipmentColdChain) -> list[ExcursionDeviation]:
    """Report each new out-of-range period once, as one deviation; an exhausted budget is
    reported once too, as a finding of the excursion that exhausted it: on that excursion's
    new deviation, or added to its deviation raised before (a new one only if that one is
    already closed or cancelled)."""
    shipment, summary = cold.shipment, cold.summary
    existing = list(ExcursionDeviation.objects.filter(shipment=shipment))
    reported = [r for r in existing if r.kind == ExcursionDeviation.Kind.EXCURSION]
    periods = [p for p in summary.periods if not _covered(p, reported)]
    budget_due = summary.budget_exceeded and not any(
        r.kind == ExcursionDeviation.Kind.BUDGET for r in existing)
    exhausting = _exhausting(summary) if budget_due else None
    if not periods and not budget_due:
        return []
    svg = cold.svg.encode()
    new = []
    for period in periods:
        report = _report(actor=actor, shipment=shipment, kind=ExcursionDeviation.Kind.EXCURSION,
                         started_at=period.started_at, ended_at=period.ended_at,
                         extreme=period.extreme, minutes=period.minutes)
        budget = _budget_report(actor=actor, summary=summary, shipment=shipment,
                                period=period) if period is exhausting else None
        new += [r for r in (report, budget) if r is not None]
        _raise_excursion_deviation(actor=actor, report=report, summary=summary, svg=svg,
                                   budget=budget)
    if budget_due and not any(p is exhausting for p in periods):
        # The budget ran out during an excursion reported by an earlier batch.
        budget = _budget_report(actor=actor, summary=summary, shipment=shipment,
                                period=exhausting)
        new.append(budget)
        owner = next(r for r in reported if _covered(exhausting, [r]))
        deviation = open_deviations_for(subject=owner).first()
        if deviation is None:
            _raise_excursion_deviation(actor=actor, report=budget, summary=summary, svg=svg)
        else:
            _add_budget_finding(actor=actor, deviation=deviation, budget=budget,
                                summary=summary)
    return new


def _report(*, actor, shipment, kind, started_at, ended_at, extreme, minutes):
    report = ExcursionDeviation(shipment=shipment, site=shipment.site, kind=kind,
                                started_at=started_at, ended_at=ended_at,
                                extreme_celsius=extreme, minutes_out_of_range=minutes)
    audit.stamp(report, user=actor, reason="Temperature excursion detected")
    report.save()
    return report


def _budget_report(*, actor, summary: ColdChainSummary, shipment: Shipment,
                   period: Period) -> ExcursionDeviation:
    return _report(actor=actor, shipment=shipment, kind=ExcursionDeviation.Kind.BUDGET,
                   started_at=period.started_at, ended_at=None, extreme=period.extreme,
                   minutes=summary.minutes_out_of_range)


def _budget_text(summary: ColdChainSummary) -> str:
    return (f"The out-of-range budget is exhausted: {summary.minutes_out_of_range} min out "
            f"of range in total, of a {summary.budget_minutes} min budget.")


def _add_budget_finding(*, actor: User, deviation, budget: ExcursionDeviation,
                        summary: ColdChainSummary) -> None:
    from deviations.services.raising import add_finding

    add_finding(reporter=actor, deviation=deviation, rule="custody.budget",
                classification="critical",
                text=f"{_budget_text(summary)} Shipment {budget.shipment.reference}.",
                data={"cumulative_minutes": str(summary.minutes_out_of_range),
                      "budget_minutes": summary.budget_minutes,
                      "budget_report_id": budget.pk})


def _raise_excursion_deviation(*, actor: User, report: ExcursionDeviation,
                               summary: ColdChainSummary, svg: bytes,
                               budget: ExcursionDeviation | None = None) -> None:
    """One deviation for one excursion; ``budget``: the same excursion exhausted the budget,
    a second finding of this deviation (which makes it critical)."""
    from deviations.services import raise_deviation

    shipment = report.shipment
    patient = shipment.patient
    zone = shipment.site.zone
    start = report.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    kind = shipment.container_type
    findings = [report.kind] + ([budget.kind] if budget else [])
    if report.kind == ExcursionDeviation.Kind.BUDGET:
        title = f"Out-of-range budget exhausted on {shipment.reference} ({patient.coi})"
    elif budget is not None:
        title = (f"Temperature excursion on {shipment.reference} ({patient.coi}), "
                 "out-of-range budget exhausted")
    else:
        title = f"Temperature excursion on {shipment.reference} ({patient.coi})"
    classification = "critical" if ExcursionDeviation.Kind.BUDGET in findings else "major"
    description = (
        f"Container {shipment.container_id} ({kind.name}, allowed {kind.range_label}) went "
        f"out of range at {start}; extreme {report.extreme_celsius} °C, "
        f"{report.minutes_out_of_range} min out of range"
        f"{' and still out of range at the last reading' if report.ended_at is None else ''}. "
        + (_budget_text(summary) if ExcursionDeviation.Kind.BUDGET in findings else
           f"Cumulative out of range: {summary.minutes_out_of_range} min of a "
           f"{summary.budget_minutes} min budget."))
    raise_deviation(
        reporter=actor, site=patient.site, subject=report, title=title,
        description=description, classification=classification, patient_impact="yes",
        patient_coi=patient.coi, source="automatic", rule=f"custody.{report.kind}",
        data={"shipment": shipment.reference, "started_at": report.started_at.isoformat(),
              "ended_at": report.ended_at.isoformat() if report.ended_at else None,
              "extreme_celsius": str(report.extreme_celsius),
              "minutes_out_of_range": str(report.minutes_out_of_range),
              "cumulative_minutes": str(summary.minutes_out_of_range),
              "budget_minutes": summary.budget_minutes,
              "findings": [{"rule": f"custody.{finding}"} for finding in findings],
              **({"budget_report_id": budget.pk} if budget else {})},
        attachments=[(f"temperature-{shipment.reference}.svg", "image/svg+xml", svg)],
    )
