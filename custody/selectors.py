"""Reads the pages, the API and other apps share, with their joins (no N+1)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count

from custody.chain import chain_breaks
from custody.chart import temperature_svg
from custody.excursions import ColdChainSummary, analyse
from custody.models import (
    ColdChainAnalysis,
    CustodyEvent,
    Order,
    OrderStatusChange,
    Patient,
    ScanRefusal,
    Shipment,
    TemperatureReading,
)
from custody.models.patients import JOURNEY
from deviations.selectors import open_deviations_for


def patients_for(user):
    return (Patient.objects.visible_to(user)
            .select_related("product", "site", "treating_site", "order")
            .order_by("-pk"))


def patient_for(user, pk: int) -> Patient:
    return patients_for(user).get(pk=pk)


def events_of(patient: Patient):
    return (CustodyEvent.objects.filter(patient=patient)
            .select_related("site", "performed_by", "shipment")
            .prefetch_related("signatures").order_by("occurred_at", "pk"))


def shipments_for(user):
    return (Shipment.objects.visible_to(user)
            .select_related("patient", "site", "destination_site", "container_type")
            .order_by("-created_at", "-pk"))


def journey_counts(user) -> list[tuple[str, int]]:
    counts = dict(Order.objects.visible_to(user).values_list("status").annotate(n=Count("pk"))
                  .values_list("status", "n"))
    return [(Order.Status(s).label, counts[s]) for s in [*JOURNEY, Order.Status.CANCELLED]
            if counts.get(s)]


def recent_mismatches(user):
    return (ScanRefusal.objects.visible_to(user)
            .filter(reason__in=[ScanRefusal.Reason.OTHER_PATIENT,
                                ScanRefusal.Reason.UNKNOWN_IDENTIFIER])
            .select_related("patient", "scanned_by").order_by("-scanned_at", "-pk"))


@dataclass
class ShipmentColdChain:
    shipment: Shipment
    series: list | None
    summary: ColdChainSummary

    @property
    def svg(self) -> str:
        if self.series is None:
            self.series = readings_of([self.shipment])[self.shipment.pk]
        return temperature_svg(self.series, self.summary, zone=self.shipment.site.zone,
                               title=f"{self.shipment.reference} · "
                                     f"{self.shipment.container_type}")


def readings_of(shipments: list[Shipment]) -> dict[int, list]:
    """Each shipment's readings as (time, °C) in time order, one per instant (the first
    stored wins, as the analysis counts them), in one query."""
    by_shipment: dict[int, list] = defaultdict(list)
    last: dict[int, object] = {}
    rows = (TemperatureReading.objects.filter(shipment__in=[s.pk for s in shipments])
            .order_by("shipment_id", "recorded_at", "pk")
            .values_list("shipment_id", "recorded_at", "celsius"))
    for shipment_id, when, celsius in rows:
        if last.get(shipment_id) != when:
            last[shipment_id] = when
            by_shipment[shipment_id].append((when, celsius))
    return by_shipment


def analyse_afresh(shipment: Shipment, series: list | None = None) -> ColdChainSummary:
    """The analysis of every reading of ``shipment``, from scratch."""
    kind = shipment.container_type
    if series is None:
        series = readings_of([shipment])[shipment.pk]
    return analyse(series, low=kind.min_celsius, high=kind.max_celsius,
                   budget_minutes=kind.out_of_range_budget_minutes,
                   max_gap=timedelta(minutes=kind.max_reading_gap_minutes))


def cold_chain_of(shipments: list[Shipment], *, with_series: bool = False
                  ) -> list[ShipmentColdChain]:
    """Each shipment's stored excursion analysis (one query), and with ``with_series`` its
    readings for the chart (one more). A shipment whose analysis is missing or was computed
    with other limits is analysed afresh, never shown stale."""
    stored = {a.shipment_id: a for a in
              ColdChainAnalysis.objects.filter(shipment__in=[s.pk for s in shipments])}
    series_of = readings_of(shipments) if with_series else {}
    out = []
    for shipment in shipments:
        analysis = stored.get(shipment.pk)
        series = series_of.get(shipment.pk, []) if with_series else None
        if analysis is not None and analysis.is_current_for(shipment.container_type):
            summary = analysis.summary()
        else:
            summary = analyse_afresh(shipment, series)
        out.append(ShipmentColdChain(shipment, series, summary))
    return out


@dataclass
class ChainOfCustody:
    patient: Patient
    order: Order | None
    timeline: list[OrderStatusChange]
    events: list[CustodyEvent]
    breaks: dict[int, str]
    cold_chain: list[ShipmentColdChain]
    refusals: list[ScanRefusal]
    deviations: list = field(default_factory=list)

    @property
    def rows(self):
        return [(event, self.breaks.get(event.pk)) for event in self.events]

    @property
    def intact(self) -> bool:
        return not self.breaks


def chain_of_custody(patient: Patient, *, with_charts: bool = False) -> ChainOfCustody:
    """Everything the report on one patient shows, in a fixed number of queries
    (``with_charts``: the shipments' readings for their charts too)."""
    order = getattr(patient, "order", None)
    timeline = list(OrderStatusChange.objects.filter(order__patient=patient)
                    .select_related("changed_by").order_by("changed_at", "pk"))
    events = list(events_of(patient))
    shipments = list(Shipment.objects.filter(patient=patient)
                     .select_related("site", "destination_site", "container_type")
                     .order_by("created_at", "pk"))
    refusals = list(ScanRefusal.objects.filter(patient=patient)
                    .select_related("site", "scanned_by", "matched_patient"))
    cold_chain = cold_chain_of(shipments, with_series=with_charts)
    return ChainOfCustody(patient=patient, order=order, timeline=timeline, events=events,
                          breaks=chain_breaks(events), cold_chain=cold_chain,
                          refusals=refusals, deviations=deviations_of(patient))


def deviations_of(patient: Patient) -> list:
    """Open deviations about this patient (mix-ups, excursions, batch deviations)."""
    return list(open_deviations_for(patient_coi=patient.coi))
