"""The deviation: what departed from procedure, where, how bad, and how far it has got."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from mes.errors import DomainError, SignatureRefused
from mes.models import GMPModel, Meaning, Signable, SiteScopedQuerySet


class Classification(models.TextChoices):
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"


class PatientImpact(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Unknown"


class Source(models.TextChoices):
    MANUAL = "manual", "Manual"
    AUTOMATIC = "automatic", "Automatic"


class Status(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    UNDER_INVESTIGATION = "under_investigation", "Under investigation"
    PENDING_CAPA = "pending_capa", "Pending CAPA"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


# The one transition table (STYLE.md): every status change goes through `Deviation.move_to`.
ALLOWED: dict[str, set[str]] = {
    Status.OPEN: {Status.ACKNOWLEDGED, Status.CANCELLED},
    Status.ACKNOWLEDGED: {Status.UNDER_INVESTIGATION, Status.PENDING_CAPA, Status.CLOSED,
                          Status.CANCELLED},
    Status.UNDER_INVESTIGATION: {Status.PENDING_CAPA, Status.CLOSED, Status.CANCELLED},
    Status.PENDING_CAPA: {Status.UNDER_INVESTIGATION, Status.CLOSED, Status.CANCELLED},
    Status.CLOSED: set(),
    Status.CANCELLED: set(),
}

ACTIVE_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED, Status.UNDER_INVESTIGATION,
                   Status.PENDING_CAPA)


class DeviationQuerySet(SiteScopedQuerySet):
    def active(self):
        """Not closed and not cancelled: the deviation still blocks what it affects."""
        return self.filter(status__in=ACTIVE_STATUSES)

    def about(self, subject):
        content_type = ContentType.objects.get_for_model(subject)
        return self.filter(subject_type=content_type, subject_id=subject.pk)


class Deviation(Signable, GMPModel):
    """An unplanned departure from procedure, raised by a person or by a rule of another app.

    QA acknowledges it (signed *acknowledged*); the signature covers what was raised, so the
    fields that move on afterwards (status, classification, deadlines) are excluded from it.
    """

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="deviations")
    number = models.CharField(max_length=32, unique=True)
    year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    description = models.TextField()

    subject_type = models.ForeignKey(ContentType, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")
    subject_label = models.CharField(max_length=300, blank=True,
                                     help_text="The subject as it read when raised.")
    batch_number = models.CharField(max_length=64, blank=True, db_index=True)
    patient_coi = models.CharField("patient chain of identity", max_length=32, blank=True,
                                   db_index=True)

    detected_at = models.DateTimeField(default=timezone.now)
    detected_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="deviations_raised")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    rule = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    classification = models.CharField(max_length=16, choices=Classification.choices,
                                      default=Classification.MINOR)
    classification_confirmed = models.BooleanField(default=False)
    patient_impact = models.CharField(max_length=16, choices=PatientImpact.choices,
                                      default=PatientImpact.UNKNOWN)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.OPEN,
                              db_index=True)
    immediate_actions = models.TextField(blank=True)

    acknowledge_due_at = models.DateTimeField()
    disposition_due_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    disposition = models.CharField(max_length=16, blank=True)
    escalation_level = models.PositiveSmallIntegerField(
        default=1, help_text="Highest level of the ladder notified for the running deadline.")
    next_escalation_at = models.DateTimeField(null=True, blank=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.TextField(blank=True)

    objects = DeviationQuerySet.as_manager()

    signing_permissions = {Meaning.ACKNOWLEDGED: "deviations.acknowledge_deviation"}
    signature_excluded_fields = (
        "classification", "classification_confirmed", "patient_impact", "status",
        "immediate_actions", "acknowledge_due_at", "disposition_due_at", "acknowledged_at",
        "acknowledged_by", "disposition", "escalation_level", "next_escalation_at",
        "closed_at", "cancellation_reason",
    )

    class Meta:
        ordering = ["-detected_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["site", "year", "sequence"],
                                    name="deviations_number_once_per_site_year"),
        ]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"]),
            models.Index(fields=["site", "status"]),
            # The board's order over the deviations still open (selectors.board): the page
            # reads its first rows in index order instead of sorting every open deviation.
            models.Index(fields=["next_escalation_at", "acknowledge_due_at", "id"],
                         condition=models.Q(status__in=ACTIVE_STATUSES),
                         name="deviations_board_order"),
        ]
        permissions = [
            ("raise_deviation", "Can raise a deviation"),
            ("acknowledge_deviation", "Can acknowledge a deviation (QA)"),
            ("classify_deviation", "Can confirm a deviation's classification (QA)"),
            ("dispose_deviation", "Can sign the disposition of affected material"),
            ("investigate_deviation", "Can record a deviation's investigation"),
            ("manage_capa", "Can add and complete CAPA actions"),
            ("close_deviation", "Can close a deviation (QA)"),
            ("cancel_deviation", "Can cancel a deviation (QA)"),
            ("view_board", "Can see the QA deviation board"),
            ("configure_escalation", "Can configure deadlines and the escalation ladder"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_urgent(self) -> bool:
        return (self.classification == Classification.CRITICAL
                or self.patient_impact == PatientImpact.YES)

    def running_deadline(self) -> tuple[str, object] | tuple[None, None]:
        """The deadline the deviation is now working against: acknowledgement first, then
        disposition (only where the policy sets one)."""
        if self.status == Status.OPEN:
            return "acknowledge", self.acknowledge_due_at
        if self.is_active and self.disposition_due_at and not self.disposition:
            return "disposition", self.disposition_due_at
        return None, None

    def can_move_to(self, status: str) -> bool:
        return status in ALLOWED[self.status]

    def move_to(self, status: str) -> None:
        if not self.can_move_to(status):
            raise DomainError(
                f"Deviation {self.number} is {self.get_status_display().lower()} and cannot "
                f"become {Status(status).label.lower()}.", code="invalid_transition", status=409)
        self.status = status

    def check_signer(self, user, meaning: str) -> None:
        super().check_signer(user, meaning)
        if meaning == Meaning.ACKNOWLEDGED and self.status != Status.OPEN:
            raise SignatureRefused(f"Deviation {self.number} is already acknowledged.")
