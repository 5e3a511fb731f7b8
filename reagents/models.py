"""Reagent lot control: materials, received lots, their status decisions and the stock ledger.

A lot's quantity on hand is a cached balance of its ledger: every change is a `StockEntry`
(append-only) written in the same transaction as the lot's save, and the database refuses a
negative balance. Status decisions are `LotStatusChange` records; QA's are signed.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mes.errors import DomainError, SignatureRefused
from mes.models import AppendOnly, GMPModel, Meaning, Signable, SiteScopedQuerySet

QUANTITY = {"max_digits": 12, "decimal_places": 3}


class StorageCondition(models.TextChoices):
    AMBIENT = "ambient", "Ambient (15–25 °C)"
    FRIDGE = "2-8", "Refrigerated (2–8 °C)"
    FROZEN = "-20", "Frozen (−20 °C)"
    DEEP_FROZEN = "-80", "Deep frozen (−80 °C)"
    LN2_VAPOUR = "ln2", "Liquid nitrogen vapour (below −150 °C)"


class Material(GMPModel):
    """A reagent or consumable as the plant buys it; shared by every site, as its GTINs are
    global trade item numbers."""

    code = models.CharField(
        max_length=32, unique=True,
        validators=[RegexValidator(r"^[A-Z0-9-]+$", "Use capitals, digits and dashes.")],
    )
    name = models.CharField(max_length=200)
    unit = models.CharField("unit of measure", max_length=16,
                            help_text="e.g. mL, vial, µg, kit")
    storage_condition = models.CharField(max_length=16, choices=StorageCondition.choices)
    is_critical = models.BooleanField("critical reagent", default=True)
    requires_qa_release = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"


class MaterialGtin(GMPModel):
    """One GTIN (normalised to 14 digits) under which a material is supplied."""

    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="gtins")
    gtin = models.CharField("GTIN", max_length=14, unique=True,
                            validators=[RegexValidator(r"^\d{14}$", "Fourteen digits.")])

    class Meta:
        ordering = ["gtin"]
        verbose_name = "material GTIN"

    def __str__(self) -> str:
        return self.gtin


class LotStatus(models.TextChoices):
    QUARANTINE = "quarantine", "Quarantine"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"
    ON_HOLD = "on_hold", "On hold"
    EXPIRED = "expired", "Expired"
    DEPLETED = "depleted", "Depleted"


# The one transition table for lot status; `ReagentLot.check_transition` enforces it.
ALLOWED: dict[str, set[str]] = {
    LotStatus.QUARANTINE: {LotStatus.RELEASED, LotStatus.REJECTED, LotStatus.EXPIRED},
    LotStatus.RELEASED: {LotStatus.ON_HOLD, LotStatus.EXPIRED, LotStatus.DEPLETED},
    LotStatus.ON_HOLD: {LotStatus.RELEASED, LotStatus.REJECTED, LotStatus.EXPIRED},
    LotStatus.DEPLETED: {LotStatus.RELEASED, LotStatus.EXPIRED},  # stock restored by reversal
    LotStatus.REJECTED: set(),
    LotStatus.EXPIRED: set(),
}


# Independence: the person who received a lot never releases it (the code of the refusal).
RECEIVER_CANNOT_RELEASE = "receiver_cannot_release"


class LotTransitionRefused(DomainError):
    code = "lot_transition_refused"
    status = 409


class ReagentLotQuerySet(SiteScopedQuerySet):
    def usable_on(self, site_dates: dict[int, dt.date]):
        """Released lots with stock, not past expiry on each site's local date."""
        in_date = Q(pk__in=[])
        for site_id, today in site_dates.items():
            in_date |= Q(site_id=site_id, expiry_date__gte=today)
        return self.filter(in_date, status=LotStatus.RELEASED, quantity_on_hand__gt=0)


class ReagentLot(GMPModel):
    """One receipt of a supplier lot at a site, with its status and on-hand quantity."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="reagent_lots")
    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="lots")
    gtin = models.CharField("GTIN", max_length=14)
    supplier_lot = models.CharField("supplier lot number", max_length=20)
    serial_number = models.CharField(max_length=20, blank=True)
    expiry_date = models.DateField()
    received_at = models.DateTimeField(default=timezone.now)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    quantity_received = models.DecimalField(**QUANTITY)
    quantity_on_hand = models.DecimalField(**QUANTITY)
    storage_location = models.CharField(max_length=100)
    coa_reference = models.CharField("certificate of analysis reference", max_length=100,
                                     blank=True)
    status = models.CharField(max_length=16, choices=LotStatus.choices,
                              default=LotStatus.QUARANTINE)
    scan = models.CharField("label scan as received", max_length=300, blank=True)

    objects = ReagentLotQuerySet.as_manager()

    class Meta:
        ordering = ["expiry_date", "pk"]
        verbose_name = "reagent lot"
        constraints = [
            # The last line of defence against negative stock (concurrent consumption).
            models.CheckConstraint(condition=Q(quantity_on_hand__gte=0),
                                   name="reagents_lot_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(quantity_received__gt=0),
                                   name="reagents_lot_received_positive"),
            models.UniqueConstraint(fields=["site", "gtin", "supplier_lot", "serial_number"],
                                    name="reagents_lot_received_once"),
        ]
        indexes = [models.Index(fields=["status", "expiry_date"])]
        permissions = [
            ("receive_lot", "Can receive reagent lots"),
            ("release_lot", "Can release, reject and hold reagent lots (QA)"),
            ("consume_lot", "Can consume reagent lots at the point of use"),
            ("reverse_consumption", "Can reverse a mistaken consumption"),
            ("adjust_stock", "Can adjust stock with a reason"),
        ]

    def __str__(self) -> str:
        return f"{self.material.code} lot {self.supplier_lot}" + (
            f" #{self.serial_number}" if self.serial_number else "")

    def local_date(self, at: dt.datetime | None = None) -> dt.date:
        """The calendar date at the lot's site at moment ``at`` (default: now)."""
        return timezone.localtime(at or timezone.now(), self.site.zone).date()

    def is_past_expiry(self, at: dt.datetime | None = None) -> bool:
        """A lot may be used up to and including its expiry date, in the site's time zone."""
        return self.local_date(at) > self.expiry_date

    def check_transition(self, target: str) -> None:
        if target not in ALLOWED[self.status]:
            raise LotTransitionRefused(
                f"Lot {self.supplier_lot} is {self.get_status_display().lower()}; it cannot "
                f"become {LotStatus(target).label.lower()}."
            )


class LotStatusChange(AppendOnly, Signable, GMPModel):
    """One status decision on a lot: QA's release, rejection and hold are signed; receipt,
    expiry and depletion are recorded by whoever (or whatever task) caused them."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(ReagentLot, on_delete=models.PROTECT,
                            related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=LotStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=LotStatus.choices)
    reason = models.TextField()
    coa_reference = models.CharField(max_length=100, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)
    signatures = GenericRelation("mes.ElectronicSignature")

    objects = SiteScopedQuerySet.as_manager()

    signing_permissions = {
        Meaning.RELEASED: "reagents.release_lot",
        Meaning.REJECTED: "reagents.release_lot",
        Meaning.APPROVED: "reagents.release_lot",
    }

    class Meta:
        ordering = ["decided_at", "pk"]
        verbose_name = "lot status change"

    def __str__(self) -> str:
        return f"{self.lot_id}: {self.from_status or 'new'} → {self.to_status}"

    def check_signer(self, user, meaning: str) -> None:
        super().check_signer(user, meaning)
        if meaning == Meaning.RELEASED and self.lot.received_by_id == user.pk:
            raise SignatureRefused(
                f"{user.full_name} received this lot and cannot also release it; another "
                "QA reviewer must release it.", code=RECEIVER_CANNOT_RELEASE
            )


class StockEntry(AppendOnly, GMPModel):
    """One movement of a lot's stock. ``quantity`` is signed (receipt +, consumption −);
    ``balance_after`` is the lot's on-hand quantity after it. A consumption names what it was
    for (generic relation) and keeps the batch number and the patient's COI as its own text,
    so the ledger stands alone."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        CONSUMPTION = "consumption", "Consumption"
        ADJUSTMENT = "adjustment", "Adjustment"
        REVERSAL = "reversal", "Reversal of a consumption"

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(ReagentLot, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    quantity = models.DecimalField(**QUANTITY)
    balance_after = models.DecimalField(**QUANTITY)
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(default=timezone.now)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    reason = models.TextField(blank=True)
    purpose_type = models.ForeignKey(ContentType, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    purpose_id = models.PositiveBigIntegerField(null=True, blank=True)
    purpose = GenericForeignKey("purpose_type", "purpose_id")
    purpose_label = models.CharField(max_length=200, blank=True)
    batch_number = models.CharField(max_length=64, blank=True, db_index=True)
    patient_coi = models.CharField("patient COI", max_length=32, blank=True, db_index=True)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="reversed_by")

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "pk"]
        verbose_name = "stock entry"
        verbose_name_plural = "stock entries"
        indexes = [
            models.Index(fields=["lot", "kind"]),
            # The lot page's ledger order (selectors.ledger): a page of a long ledger is read
            # in index order, not sorted from every entry of the lot.
            models.Index(fields=["lot", "occurred_at", "id"], name="reagents_ledger_order"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(balance_after__gte=0),
                                   name="reagents_entry_balance_not_negative"),
            models.CheckConstraint(
                condition=(Q(kind="receipt", quantity__gt=0)
                           | Q(kind="consumption", quantity__lt=0)
                           | Q(kind="reversal", quantity__gt=0)
                           | (Q(kind="adjustment") & ~Q(quantity=0))),
                name="reagents_entry_sign_matches_kind"),
            models.CheckConstraint(
                condition=Q(kind="reversal", reverses__isnull=False)
                | (~Q(kind="reversal") & Q(reverses__isnull=True)),
                name="reagents_entry_reversal_names_original"),
            models.CheckConstraint(
                condition=~Q(kind="consumption") | ~Q(batch_number=""),
                name="reagents_consumption_names_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity} of lot {self.lot_id}"
