"""Patients (pseudonymised), their clinical identity kept apart, COI numbers and orders."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from custody import din as isbt
from mes.errors import DomainError
from mes.models import AppendOnly, GMPModel, SiteScopedQuerySet, TrackedModel


def validate_regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"Not a valid regular expression: {exc}") from exc


class Product(GMPModel):
    """A therapy; it says how its patients' COI numbers are assigned."""

    class CoiScheme(models.TextChoices):
        ISBT128 = "isbt128", "ISBT 128 DIN assigned by the plant"
        EXTERNAL = "external", "Assigned by the sponsor (external format)"

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    coi_scheme = models.CharField(max_length=16, choices=CoiScheme.choices,
                                  default=CoiScheme.ISBT128)
    external_coi_pattern = models.CharField(
        max_length=200, blank=True, validators=[validate_regex],
        help_text="For sponsor-assigned COI: a regular expression the whole identifier matches.")
    external_coi_example = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"

    @property
    def uses_isbt128(self) -> bool:
        return self.coi_scheme == self.CoiScheme.ISBT128

    def check_external_coi(self, value: str) -> str:
        value = (value or "").strip()
        if not self.external_coi_pattern or not re.fullmatch(self.external_coi_pattern, value):
            example = f" (e.g. {self.external_coi_example})" if self.external_coi_example else ""
            raise DomainError(
                f"“{value}” is not a COI in the sponsor format of {self.code}{example}.",
                code="invalid_external_coi", fields={"external_coi": ["Wrong format."]})
        return value


class DinCounter(TrackedModel):
    """The last DIN sequence used per facility and year; locked while a number is drawn, so
    numbers are never duplicated or skipped."""

    operational_record = True  # bookkeeping of numbers; each DIN is on its patient record

    facility_identification_number = models.CharField(max_length=5)
    year = models.PositiveSmallIntegerField()
    last_sequence = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["facility_identification_number", "year"], name="custody_din_counter_once")]

    def __str__(self) -> str:
        return f"{self.facility_identification_number}/{self.year:02d}: {self.last_sequence}"


class PatientQuerySet(SiteScopedQuerySet):
    def visible_to(self, user):
        """The manufacturing site's people and the treating site's people see the patient."""
        sites = user.sites()
        return self.filter(models.Q(site__in=sites) | models.Q(treating_site__in=sites))


class Patient(GMPModel):
    """A pseudonymised patient: the COI and the minimal verification set printed on labels.
    ``site`` is the manufacturing site; the name and hospital number live elsewhere."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Treatment completed"
        WITHDRAWN = "withdrawn", "Withdrawn"

    coi = models.CharField("chain-of-identity number", max_length=64, unique=True)
    din = models.CharField("ISBT 128 DIN", max_length=13, blank=True)
    din_flags = models.CharField(max_length=2, blank=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="patients")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+",
                             verbose_name="manufacturing site")
    treating_site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    initials = models.CharField(max_length=4)
    date_of_birth = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        permissions = [
            ("reveal_clinical_identity",
             "Can see a patient's clinical identity (every view is logged)"),
        ]

    def __str__(self) -> str:
        return self.coi

    @property
    def isbt(self) -> isbt.DIN | None:
        return isbt.DIN(self.din, self.din_flags or isbt.DEFAULT_FLAGS) if self.din else None


class ClinicalIdentity(GMPModel):
    """Who the patient is (name, hospital record number). Never on a manufacturing page or
    in the API; shown only with a dedicated permission, and every view is logged."""

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT,
                                   related_name="clinical_identity")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+",
                             verbose_name="treating site")
    full_name = models.CharField(max_length=200)
    hospital_record_number = models.CharField(max_length=64)

    objects = SiteScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Clinical identity of {self.patient_id}"


class ClinicalIdentityAccess(AppendOnly, GMPModel):
    """One view of a clinical identity: who, when, from where, why."""

    identity = models.ForeignKey(ClinicalIdentity, on_delete=models.PROTECT,
                                 related_name="accesses")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="+")
    accessed_at = models.DateTimeField(default=timezone.now)
    purpose = models.CharField(max_length=300)
    remote_addr = models.CharField(max_length=64, blank=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-accessed_at", "-pk"]


class OrderQuerySet(SiteScopedQuerySet):
    def visible_to(self, user):
        sites = user.sites()
        return self.filter(models.Q(site__in=sites) | models.Q(ordering_site__in=sites))


class Order(GMPModel):
    """A clinical site's order to manufacture for one patient, and where it stands."""

    class Status(models.TextChoices):
        ORDERED = "ordered", "Ordered"
        COLLECTION_SCHEDULED = "collection_scheduled", "Collection scheduled"
        COLLECTED = "collected", "Collected"
        IN_TRANSIT = "in_transit", "In transit"
        RECEIVED = "received", "Received"
        IN_MANUFACTURING = "in_manufacturing", "In manufacturing"
        RELEASED = "released", "Released"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        INFUSED = "infused", "Infused"
        CANCELLED = "cancelled", "Cancelled"

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="order")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+",
                             verbose_name="manufacturing site")
    ordering_site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    ordered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    ordered_at = models.DateTimeField(default=timezone.now)
    external_reference = models.CharField(max_length=64, blank=True)
    planned_collection_date = models.DateField()
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.ORDERED)
    cancel_reason = models.TextField(blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-ordered_at", "-pk"]

    def __str__(self) -> str:
        return f"Order for {self.patient.coi}"


S = Order.Status
JOURNEY = [S.ORDERED, S.COLLECTION_SCHEDULED, S.COLLECTED, S.IN_TRANSIT, S.RECEIVED,
           S.IN_MANUFACTURING, S.RELEASED, S.SHIPPED, S.DELIVERED, S.INFUSED]
# The journey only moves forward (a stage may be passed without being recorded, e.g. a
# collection never scheduled in the system); anything before infusion may be cancelled.
ALLOWED: dict[str, set[str]] = {
    stage: set(JOURNEY[i + 1:])
    | ({S.CANCELLED} if stage != S.INFUSED else set())
    for i, stage in enumerate(JOURNEY)
}
ALLOWED[S.CANCELLED] = set()


def can_move(current: str, target: str) -> bool:
    return target in ALLOWED.get(current, set())


class OrderStatusChange(AppendOnly, GMPModel):
    """The order's timeline: each stage reached, when, by whom, why."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="timeline")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=24, choices=Order.Status.choices)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    reason = models.TextField(blank=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["changed_at", "pk"]
