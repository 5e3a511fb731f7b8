"""What happens to a deviation after it is raised: classification decisions, dispositions,
investigations, CAPA actions, closure, comments, attachments and escalations.

Each carries the deviation's site too, so its own audit trail is scoped like the deviation.
Decisions are append-only rows (a new decision supersedes the last, the old one stays).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

from deviations.models.deviation import Classification, PatientImpact
from mes.errors import SignatureRefused
from mes.models import AppendOnly, GMPModel, Meaning, Signable, SiteScopedQuerySet


class DeviationRecord(GMPModel):
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    deviation = models.ForeignKey("deviations.Deviation", on_delete=models.PROTECT,
                                  related_name="%(class)ss")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["recorded_at", "pk"]


class NotByTheRaiser:
    """The person who raised a deviation does not sign a judgement on it (its
    classification, investigation, disposition or closure): the services refuse first
    (deviations.services.independence); this is the signature's own check."""

    def check_signer(self, user, meaning: str) -> None:
        super().check_signer(user, meaning)
        if user.pk == self.deviation.detected_by_id:
            raise SignatureRefused(
                f"{user.full_name} raised deviation {self.deviation.number} and may not sign "
                f"its {self._meta.verbose_name}; another person must.",
                code="independence_required")


class ClassificationDecision(NotByTheRaiser, AppendOnly, Signable, DeviationRecord):
    """QA confirms (or changes) the provisional classification and patient impact."""

    classification = models.CharField(max_length=16, choices=Classification.choices)
    patient_impact = models.CharField(max_length=16, choices=PatientImpact.choices)
    rationale = models.TextField()

    signing_permissions = {Meaning.REVIEWED: "deviations.classify_deviation"}

    class Meta(DeviationRecord.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.get_classification_display()}, patient impact {self.patient_impact}"


class Disposition(NotByTheRaiser, AppendOnly, Signable, DeviationRecord):
    """QA's decision on the affected material, signed *approved*."""

    class Decision(models.TextChoices):
        CONTINUE = "continue", "Continue"
        HOLD = "hold", "Hold"
        DISCARD = "discard", "Discard"
        CONCESSION = "concession", "Use under concession"

    decision = models.CharField(max_length=16, choices=Decision.choices)
    rationale = models.TextField()

    signing_permissions = {Meaning.APPROVED: "deviations.dispose_deviation"}

    class Meta(DeviationRecord.Meta):
        pass

    def __str__(self) -> str:
        return self.get_decision_display()


class Investigation(NotByTheRaiser, AppendOnly, Signable, DeviationRecord):
    """Root cause (category and narrative), signed *authored* by the investigator; a later
    revision is a new row."""

    class RootCause(models.TextChoices):
        PERSONNEL = "personnel", "Personnel / human error"
        EQUIPMENT = "equipment", "Equipment"
        MATERIAL = "material", "Material / reagent"
        PROCESS = "process", "Process / procedure"
        ENVIRONMENT = "environment", "Environment / facility"
        SUPPLIER = "supplier", "Supplier / logistics"
        UNDETERMINED = "undetermined", "Undetermined"

    root_cause_category = models.CharField(max_length=16, choices=RootCause.choices)
    narrative = models.TextField()

    signing_permissions = {Meaning.AUTHORED: "deviations.investigate_deviation"}

    class Meta(DeviationRecord.Meta):
        pass

    def __str__(self) -> str:
        return self.get_root_cause_category_display()


class CapaAction(Signable, DeviationRecord):
    """A corrective or preventive action: owner, due date, and how its effectiveness is
    checked. Completing it is signed *performed* by the owner or a CAPA manager."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    description = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="capa_actions")
    due_date = models.DateField()
    effectiveness_check = models.TextField(blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+")
    completion_note = models.TextField(blank=True)

    signing_permissions = {Meaning.PERFORMED: "deviations.view_deviation"}

    class Meta(DeviationRecord.Meta):
        pass

    def __str__(self) -> str:
        return self.description[:80]

    def check_signer(self, user, meaning: str) -> None:
        super().check_signer(user, meaning)
        if user.pk != self.owner_id and not user.has_perm("deviations.manage_capa"):
            raise SignatureRefused(f"Only the owner ({self.owner.full_name}) or a CAPA "
                                   "manager signs this action as performed.")


class Closure(NotByTheRaiser, AppendOnly, Signable, DeviationRecord):
    """QA's closure, signed *approved*. With CAPA actions still open it needs a
    justification, which the signature then covers."""

    summary = models.TextField()
    justification = models.TextField(blank=True)

    signing_permissions = {Meaning.APPROVED: "deviations.close_deviation"}

    class Meta(DeviationRecord.Meta):
        constraints = [
            models.UniqueConstraint(fields=["deviation"], name="deviations_closed_once"),
        ]

    def __str__(self) -> str:
        return f"Closure of {self.deviation_id}"


class Comment(AppendOnly, DeviationRecord):
    text = models.TextField()

    class Meta(DeviationRecord.Meta):
        pass

    def __str__(self) -> str:
        return self.text[:80]


class DeviationAttachment(AppendOnly, DeviationRecord):
    """Evidence stored with the deviation (e.g. the temperature curve as SVG)."""

    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    content = models.BinaryField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta(DeviationRecord.Meta):
        pass

    def __str__(self) -> str:
        return self.filename

    @staticmethod
    def digest(content: bytes) -> str:
        return hashlib.sha256(content).hexdigest()


class EscalationEvent(AppendOnly, DeviationRecord):
    """One escalation: a deadline passed and the next level of the ladder was told. The
    unique constraint makes each level fire once per deadline, whatever the task does."""

    class Deadline(models.TextChoices):
        ACKNOWLEDGE = "acknowledge", "Acknowledgement"
        DISPOSITION = "disposition", "Disposition"

    deadline = models.CharField(max_length=16, choices=Deadline.choices)
    deadline_at = models.DateTimeField()
    level = models.PositiveSmallIntegerField()
    level_name = models.CharField(max_length=100)
    notified = models.TextField(blank=True, help_text="Who was told, by printed name.")

    class Meta(DeviationRecord.Meta):
        constraints = [
            models.UniqueConstraint(fields=["deviation", "deadline", "level"],
                                    name="deviations_escalate_once_per_level"),
        ]

    def __str__(self) -> str:
        return f"{self.get_deadline_display()} escalated to {self.level}. {self.level_name}"
