"""Reads the pages, the API and other apps share, with their joins (no N+1)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.cache import cache
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


def active_patients_with_last_event(user, *, limit: int = 100
                                    ) -> list[tuple[Patient, CustodyEvent | None]]:
    """The patients of the person's sites still in the journey (ordered, not yet infused or
    cancelled) whose material has waited longest (no event yet first, then the oldest last
    event), at most ``limit`` of them, each with their latest custody event (two queries)."""
    from django.db.models import F, OuterRef, Subquery

    latest = CustodyEvent.objects.filter(patient=OuterRef("pk")).order_by("-occurred_at", "-pk")
    patients = list(
        patients_for(user)
        .exclude(order__status__in=[Order.Status.INFUSED, Order.Status.CANCELLED])
        .annotate(last_event=Subquery(latest.values("pk")[:1]),
                  last_at=Subquery(latest.values("occurred_at")[:1]))
        .order_by(F("last_at").asc(nulls_first=True), "pk")[:limit])
    events = CustodyEvent.objects.select_related("site", "shipment").in_bulk(
        [p.last_event for p in patients if p.last_event])
    return [(p, events.get(p.last_event)) for p in patients]


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


CHART_CACHE_SECONDS = 24 * 3600
CHART_VERSION = 2  # raise it when custody.chart draws differently: cached charts are redrawn


@dataclass
class ShipmentColdChain:
    shipment: Shipment
    series: list | None
    summary: ColdChainSummary
    stored: ColdChainAnalysis | None = None  # the stored analysis the summary came from
    picture: str | None = None  # the chart, when it was found in the cache

    @property
    def title(self) -> str:
        return f"{self.shipment.reference} · {self.shipment.container_type}"

    def chart_key(self) -> str | None:
        """The cache key of this shipment's chart as it stands, or None (analysed afresh).
        Readings are append-only and the first stored at an instant wins, so the stored
        analysis's count of instants and its first and last instant fix the series; with
        the limits, the zone and the title they fix the picture."""
        if self.stored is None:
            return None
        a = self.stored
        facts = "|".join(str(x) for x in (
            a.readings, a.first_at, a.last_at, *a.parameters_of(self.shipment.container_type),
            self.shipment.site.zone, self.title))
        digest = hashlib.sha256(facts.encode()).hexdigest()[:32]
        return f"custody:chart:v{CHART_VERSION}:{self.shipment.pk}:{a.pk}:{digest}"

    @property
    def svg(self) -> str:
        """The temperature chart (custody.chart). Drawing it means loading every reading,
        so it is drawn once per state of the shipment's readings and then read from the
        cache (pages show it far more often than readings arrive)."""
        if self.picture is not None:
            return self.picture
        key = self.chart_key()
        if key is not None and self.series is None and (cached := cache.get(key)) is not None:
            self.picture = cached
            return cached
        if self.series is None:
            self.series = readings_of([self.shipment])[self.shipment.pk]
        picture = temperature_svg(self.series, self.summary, zone=self.shipment.site.zone,
                                  title=self.title)
        if key is not None:
            cache.set(key, picture, CHART_CACHE_SECONDS)
        self.picture = picture
        return picture


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
    """Each shipment's stored excursion analysis (one query). With ``with_series`` each
    shipment's chart is ready too: read from the cache (one round trip), and the readings of
    those not cached loaded in one more query. A shipment whose analysis is missing or was
    computed with other limits is analysed afresh, never shown stale."""
    stored = {a.shipment_id: a for a in
              ColdChainAnalysis.objects.filter(shipment__in=[s.pk for s in shipments])}
    out = []
    for shipment in shipments:
        analysis = stored.get(shipment.pk)
        if analysis is not None and analysis.is_current_for(shipment.container_type):
            out.append(ShipmentColdChain(shipment, None, analysis.summary(), stored=analysis))
        else:
            out.append(ShipmentColdChain(shipment, None, None))
    if with_series:
        keys = {cold.chart_key(): cold for cold in out if cold.stored is not None}
        for key, picture in cache.get_many(list(keys)).items():
            keys[key].picture = picture
        drawn_later = [cold for cold in out if cold.picture is None]
        if drawn_later:
            series_of = readings_of([cold.shipment for cold in drawn_later])
            for cold in drawn_later:
                cold.series = series_of.get(cold.shipment.pk, [])
    for cold in out:
        if cold.summary is None:
            cold.summary = analyse_afresh(cold.shipment, cold.series)
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
