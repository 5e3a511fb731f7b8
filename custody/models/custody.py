"""Custody events (every handoff of a patient's material) and refused label scans."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.utils import timezone

from mes.errors import SignatureRefused
from mes.models import AppendOnly, ElectronicSignature, GMPModel, Meaning, Signable
from mes.models.base import SiteScopedQuerySet


class EventKind(models.TextChoices):
    COLLECTED = "collected", "Collected (apheresis)"
    PACKED = "packed", "Packed"
    SHIPPED = "shipped", "Shipped to the plant"
    RECEIVED = "received", "Received at the plant"
    STORED = "stored", "Stored"
    REMOVED = "removed", "Removed from storage"
    TRANSFERRED_TO_SUITE = "transferred_to_suite", "Transferred to a suite"
    SHIPPED_TO_TREATING_SITE = "shipped_to_treating_site", "Shipped to the treating site"
    RECEIVED_AT_TREATING_SITE = "received_at_treating_site", "Received at the treating site"
    BEDSIDE_VERIFIED = "bedside_verified", "Identity verified at the bedside"
    INFUSED = "infused", "Infused"


K = EventKind
# What may come directly before each event. Anything else is a visible break in the chain.
EXPECTED_BEFORE: dict[str, set[str | None]] = {
    K.COLLECTED: {None},
    K.PACKED: {K.COLLECTED, K.REMOVED, K.PACKED},
    K.SHIPPED: {K.PACKED},
    K.RECEIVED: {K.SHIPPED},
    K.STORED: {K.RECEIVED, K.REMOVED, K.STORED, K.RECEIVED_AT_TREATING_SITE},
    K.REMOVED: {K.STORED},
    K.TRANSFERRED_TO_SUITE: {K.RECEIVED, K.REMOVED},
    K.SHIPPED_TO_TREATING_SITE: {K.PACKED, K.REMOVED, K.TRANSFERRED_TO_SUITE},
    K.RECEIVED_AT_TREATING_SITE: {K.SHIPPED_TO_TREATING_SITE},
    K.BEDSIDE_VERIFIED: {K.RECEIVED_AT_TREATING_SITE, K.REMOVED},
    K.INFUSED: {K.BEDSIDE_VERIFIED},
}
SHIPPING = {K.SHIPPED, K.SHIPPED_TO_TREATING_SITE}
RECEIVING = {K.RECEIVED: K.SHIPPED, K.RECEIVED_AT_TREATING_SITE: K.SHIPPED_TO_TREATING_SITE}
# Where an event moves the order's timeline.
ORDER_STATUS_AFTER = {
    K.COLLECTED: "collected", K.SHIPPED: "in_transit", K.RECEIVED: "received",
    K.TRANSFERRED_TO_SUITE: "in_manufacturing", K.SHIPPED_TO_TREATING_SITE: "shipped",
    K.RECEIVED_AT_TREATING_SITE: "delivered", K.INFUSED: "infused",
}


class CustodyEvent(AppendOnly, Signable, GMPModel):
    """One handoff: who, where, when, which container, and the label scan proving whose
    material it is. Signed as *performed* by the person who did it."""

    patient = models.ForeignKey("custody.Patient", on_delete=models.PROTECT,
                                related_name="custody_events")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(default=timezone.now)
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    container_id = models.CharField("container or bag identifier", max_length=64)
    location = models.CharField(max_length=100, blank=True)
    position = models.CharField(max_length=50, blank=True)
    label_scan = models.CharField(max_length=100)
    shipment = models.ForeignKey("custody.Shipment", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="custody_events")
    note = models.TextField(blank=True)

    signatures = GenericRelation(ElectronicSignature, object_id_field="object_id",
                                 content_type_field="content_type")

    objects = SiteScopedQuerySet.as_manager()
    signing_permissions = {Meaning.PERFORMED: "custody.add_custodyevent"}

    class Meta:
        ordering = ["occurred_at", "pk"]
        indexes = [models.Index(fields=["patient", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.container_id}"

    def check_signer(self, user, meaning: str) -> None:
        super().check_signer(user, meaning)
        if user.pk != self.performed_by_id:
            raise SignatureRefused("Only the person who performed a handoff signs it.")


class ScanRefusal(AppendOnly, GMPModel):
    """A label scan the system refused: a misread (wrong check character, not a DIN) or a
    mismatch (another patient's label). A mismatch is the subject of a critical deviation."""

    class Reason(models.TextChoices):
        UNREADABLE = "unreadable", "Not a readable identifier"
        WRONG_CHECK = "wrong_check_character", "Wrong check character"
        OTHER_PATIENT = "other_patient", "Another patient's label"
        UNKNOWN_IDENTIFIER = "unknown_identifier", "Not this patient's identifier"

    patient = models.ForeignKey("custody.Patient", on_delete=models.PROTECT,
                                related_name="scan_refusals")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    scanned = models.CharField(max_length=200)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    message = models.TextField()
    context = models.CharField(max_length=100)
    matched_patient = models.ForeignKey("custody.Patient", null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    scanned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    scanned_at = models.DateTimeField(default=timezone.now)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-scanned_at", "-pk"]

    def __str__(self) -> str:
        return f"Refused scan “{self.scanned}” for {self.patient_id}"

    @property
    def is_mismatch(self) -> bool:
        return self.reason in (self.Reason.OTHER_PATIENT, self.Reason.UNKNOWN_IDENTIFIER)
