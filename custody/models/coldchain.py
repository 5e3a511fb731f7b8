"""Shipments, container types with their allowed ranges, and temperature readings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from mes.models import AppendOnly, GMPModel, SiteScopedQuerySet, TrackedModel

# Values no logger can truly read: below absolute zero, or hotter than any shipment survives.
ABSOLUTE_ZERO = Decimal("-273.15")
PLAUSIBLE_MAX = Decimal("100")


class ContainerType(GMPModel):
    """A shipper with its allowed range (inclusive; an open end is None) and how long the
    contents may spend out of range in total."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    min_celsius = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    max_celsius = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    out_of_range_budget_minutes = models.PositiveIntegerField(
        default=0, help_text="Cumulative minutes out of range allowed over the shipment.")
    max_reading_gap_minutes = models.PositiveIntegerField(
        default=15, help_text="A longer silence between readings is shown as a gap.")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.range_label})"

    @property
    def range_label(self) -> str:
        low, high = self.min_celsius, self.max_celsius
        if low is not None and high is not None:
            return f"{low:g} to {high:g} °C"
        if high is not None:
            return f"≤ {high:g} °C"
        return f"≥ {low:g} °C"

    def clean(self):
        if self.min_celsius is None and self.max_celsius is None:
            raise ValidationError("A container type needs at least one limit.")
        if (self.min_celsius is not None and self.max_celsius is not None
                and self.min_celsius > self.max_celsius):
            raise ValidationError("The lower limit is above the upper limit.")


class ShipmentQuerySet(SiteScopedQuerySet):
    def visible_to(self, user):
        sites = user.sites()
        return self.filter(models.Q(site__in=sites) | models.Q(destination_site__in=sites))


class Shipment(GMPModel):
    """Material of one patient on its way between two sites, in one container."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        IN_TRANSIT = "in_transit", "In transit"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"

    reference = models.CharField(max_length=32, unique=True)
    patient = models.ForeignKey("custody.Patient", on_delete=models.PROTECT,
                                related_name="shipments")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+",
                             verbose_name="origin site")
    destination_site = models.ForeignKey("mes.Site", on_delete=models.PROTECT,
                                         related_name="+")
    container_type = models.ForeignKey(ContainerType, on_delete=models.PROTECT,
                                       related_name="shipments")
    container_id = models.CharField(max_length=64)
    carrier = models.CharField(max_length=100)
    tracking_number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLANNED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ShipmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.reference


class ShipmentLeg(GMPModel):
    """One stretch of a shipment (e.g. courier to the airport, flight, courier to the plant)."""

    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, related_name="legs")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    sequence = models.PositiveSmallIntegerField()
    origin = models.CharField(max_length=200)
    destination = models.CharField(max_length=200)
    carrier = models.CharField(max_length=100)
    departed_at = models.DateTimeField(null=True, blank=True)
    arrived_at = models.DateTimeField(null=True, blank=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["shipment", "sequence"]
        constraints = [models.UniqueConstraint(fields=["shipment", "sequence"],
                                               name="custody_leg_sequence_once")]


class ReadingBatch(AppendOnly, GMPModel):
    """One delivery of readings (an API call or a CSV upload) and what became of them."""

    class Source(models.TextChoices):
        API = "api", "Logger API"
        CSV = "csv", "CSV upload"

    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT,
                                 related_name="reading_batches")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=8, choices=Source.choices)
    received_at = models.DateTimeField(default=timezone.now)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    refused = models.JSONField(default=list, blank=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-pk"]


class TemperatureReading(AppendOnly, GMPModel):
    """One logged temperature; a logger's reading at a given instant is stored once."""

    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, related_name="readings")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(ReadingBatch, on_delete=models.PROTECT, related_name="readings")
    logger_id = models.CharField(max_length=64)
    recorded_at = models.DateTimeField()
    celsius = models.DecimalField(max_digits=6, decimal_places=2)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["shipment", "logger_id", "recorded_at"],
                                               name="custody_reading_once")]
        # The chart and a fresh analysis read a shipment's readings in time order.
        indexes = [models.Index(fields=["shipment", "recorded_at"],
                                name="custody_reading_in_time")]


class ExcursionDeviation(AppendOnly, GMPModel):
    """That an excursion (or the exhausted out-of-range budget) of a shipment has been
    reported; the deviation's subject is this record, so each is raised once."""

    class Kind(models.TextChoices):
        EXCURSION = "excursion", "Out-of-range period"
        BUDGET = "budget", "Out-of-range budget exhausted"

    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT,
                                 related_name="excursion_reports")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    extreme_celsius = models.DecimalField(max_digits=6, decimal_places=2)
    minutes_out_of_range = models.DecimalField(max_digits=9, decimal_places=1)
    reported_at = models.DateTimeField(default=timezone.now)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["started_at", "pk"]


class ColdChainAnalysis(TrackedModel):
    """A shipment's excursion analysis, kept up to date as its readings arrive (in the
    ingestion transaction, under the shipment's lock), so pages and the API read it instead
    of analysing every reading again. Derived from the append-only readings, which stay the
    record; the limits it was computed with are kept, so a change of the container type's
    limits is seen (and the analysis computed afresh) rather than shown stale."""

    operational_record = True  # derived from the readings, which are the GMP record

    shipment = models.OneToOneField(Shipment, on_delete=models.PROTECT,
                                    related_name="analysis")
    low = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    high = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    budget_minutes = models.PositiveIntegerField()
    max_gap_minutes = models.PositiveIntegerField()
    readings = models.PositiveIntegerField(default=0)
    minimum = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    maximum = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    first_at = models.DateTimeField(null=True, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)
    periods = models.JSONField(default=list, blank=True)
    gaps = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Cold-chain analysis of {self.shipment_id}"

    @staticmethod
    def parameters_of(kind: ContainerType) -> tuple:
        return (kind.min_celsius, kind.max_celsius, kind.out_of_range_budget_minutes,
                kind.max_reading_gap_minutes)

    def is_current_for(self, kind: ContainerType) -> bool:
        return (self.low, self.high, self.budget_minutes,
                self.max_gap_minutes) == self.parameters_of(kind)

    def summary(self):
        from custody.excursions import ColdChainSummary, Gap, Period

        when = datetime.fromisoformat
        return ColdChainSummary(
            readings=self.readings, low=self.low, high=self.high,
            budget_minutes=self.budget_minutes, minimum=self.minimum, maximum=self.maximum,
            first_at=self.first_at, last_at=self.last_at,
            periods=[Period(started_at=when(p["started_at"]),
                            ended_at=when(p["ended_at"]) if p["ended_at"] else None,
                            last_out_at=when(p["last_out_at"]), extreme=Decimal(p["extreme"]),
                            readings=p["readings"]) for p in self.periods],
            gaps=[Gap(when(start), when(end)) for start, end in self.gaps])

    def keep(self, summary, kind: ContainerType) -> None:
        """Take ``summary`` (computed with ``kind``'s limits) as the stored analysis."""
        def iso(moment):
            return moment.astimezone(UTC).isoformat() if moment else None

        (self.low, self.high, self.budget_minutes,
         self.max_gap_minutes) = self.parameters_of(kind)
        self.readings, self.minimum, self.maximum = (summary.readings, summary.minimum,
                                                     summary.maximum)
        self.first_at, self.last_at = summary.first_at, summary.last_at
        self.periods = [{"started_at": iso(p.started_at), "ended_at": iso(p.ended_at),
                         "last_out_at": iso(p.last_out_at), "extreme": str(p.extreme),
                         "readings": p.readings} for p in summary.periods]
        self.gaps = [[iso(g.started_at), iso(g.ended_at)] for g in summary.gaps]
        self.updated_at = timezone.now()
