"""Training records: qualifications, SOP documents and their revisions, training records,
certifications and the signed decisions that grant, suspend, reinstate or revoke them.

Qualifications and SOP documents are company-wide; training records, certifications and
their decisions belong to a site. A certification is never edited into another state
without a `CertificationDecision`: that append-only, signed record says who decided what,
when and why (grant, suspend, reinstate, revoke; expiry is the system's own decision).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from mes.errors import DomainError, SignatureRefused
from mes.models import AppendOnly, GMPModel, Meaning, Signable, SiteScopedQuerySet


class CleanroomGrade(models.TextChoices):
    A = "A", "Grade A"
    B = "B", "Grade B"
    C = "C", "Grade C"
    D = "D", "Grade D"


# Gowning for a stricter grade covers the less strict ones (B gowning covers C and D).
GRADE_STRICTNESS = {"A": 4, "B": 3, "C": 2, "D": 1}


def grade_covers(held: str, wanted: str) -> bool:
    return GRADE_STRICTNESS.get(held, 0) >= GRADE_STRICTNESS[wanted]


class TransitionRefused(DomainError):
    code = "transition_refused"
    status = 409


def check_transition(allowed: dict, current: str, target: str, what: str) -> None:
    """The one helper every state change goes through."""
    if target not in allowed.get(current, set()):
        raise TransitionRefused(f"{what} cannot go from “{current}” to “{target}”.")


class SOPDocument(GMPModel):
    """A standard operating procedure; its revisions are what people are trained on."""

    number = models.CharField(
        max_length=32, unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9._-]*$", "Use capitals, digits, dots, "
                                   "dashes.")],
    )
    title = models.CharField(max_length=200)
    retraining_grace_days = models.PositiveIntegerField(
        default=0,
        help_text="Days after a new revision becomes effective during which training on the "
                  "previous revision still counts (default none).",
    )

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class SOPRevision(GMPModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        EFFECTIVE = "effective", "Effective"
        SUPERSEDED = "superseded", "Superseded"

    ALLOWED = {
        Status.DRAFT: {Status.EFFECTIVE},
        Status.EFFECTIVE: {Status.SUPERSEDED},
        Status.SUPERSEDED: set(),
    }

    document = models.ForeignKey(SOPDocument, on_delete=models.PROTECT, related_name="revisions")
    revision = models.CharField(max_length=16)
    effective_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    summary = models.TextField(blank=True, help_text="What changed in this revision.")

    class Meta:
        ordering = ["document__number", "-effective_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["document", "revision"],
                                    name="training_sop_revision_unique"),
            models.UniqueConstraint(fields=["document"], condition=models.Q(status="effective"),
                                    name="training_one_effective_revision_per_sop"),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(effective_date__isnull=False),
                name="training_sop_revision_effective_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document.number} rev. {self.revision}"


class Qualification(GMPModel):
    """What a person may be certified for: a process skill, aseptic gowning for a cleanroom
    grade, an equipment, or a reviewer role."""

    class Kind(models.TextChoices):
        PROCESS = "process", "Process skill"
        GOWNING = "gowning", "Aseptic gowning"
        EQUIPMENT = "equipment", "Equipment"
        REVIEWER = "reviewer", "Reviewer role"

    code = models.CharField(
        max_length=32, unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9_-]*$", "Use capitals, digits, dashes.")],
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    cleanroom_grade = models.CharField(max_length=1, choices=CleanroomGrade.choices, blank=True,
                                       help_text="For gowning: the grade it qualifies for.")
    validity_months = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    sop_documents = models.ManyToManyField(SOPDocument, through="QualificationSOP",
                                           related_name="qualifications", blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="gowning") & ~models.Q(cleanroom_grade=""))
                | (~models.Q(kind="gowning") & models.Q(cleanroom_grade="")),
                name="training_gowning_has_grade",
            ),
            models.CheckConstraint(condition=models.Q(validity_months__gte=1),
                                   name="training_validity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"


class QualificationSOP(GMPModel):
    """A qualification requires training on an SOP (explicit through model: it has history)."""

    qualification = models.ForeignKey(Qualification, on_delete=models.PROTECT,
                                      related_name="sop_links")
    document = models.ForeignKey(SOPDocument, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["qualification", "document"],
                                    name="training_qualification_sop_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.qualification.code} requires {self.document.number}"


class TrainingRecord(Signable, GMPModel):
    """A person trained on an SOP revision: signed by the trainee (*trained*) and then by the
    trainer (*verified*). It counts for the gate once complete with a passed assessment.
    A completion reported by the external learning system (``external_reference``) is
    recorded by the integration account (``recorded_by``) and awaits the named trainer's
    *verified* signature like any other: nobody attests it until they sign."""

    class Status(models.TextChoices):
        AWAITING_VERIFICATION = "awaiting_verification", "Awaiting trainer verification"
        COMPLETE = "complete", "Complete"

    ALLOWED = {Status.AWAITING_VERIFICATION: {Status.COMPLETE}, Status.COMPLETE: set()}

    class Assessment(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        MES = "mes", "Recorded in the MES"
        LMS = "lms", "External learning system"

    trainee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                related_name="training_records")
    sop_revision = models.ForeignKey(SOPRevision, on_delete=models.PROTECT,
                                     related_name="training_records")
    trainer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                related_name="trainings_given")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    trained_on = models.DateField()
    assessment = models.CharField(max_length=8, choices=Assessment.choices)
    comments = models.TextField(blank=True)
    status = models.CharField(max_length=24, choices=Status.choices,
                              default=Status.AWAITING_VERIFICATION)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MES)
    external_reference = models.CharField(max_length=100, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    signatures = GenericRelation("mes.ElectronicSignature")

    objects = SiteScopedQuerySet.as_manager()

    signing_permissions = {
        Meaning.TRAINED: "training.sign_own_training",
        Meaning.VERIFIED: "training.verify_training",
    }
    signature_excluded_fields = ("status",)

    class Meta:
        ordering = ["-trained_on", "-pk"]
        permissions = [
            ("sign_own_training", "Can sign own training records as trained"),
            ("verify_training", "Can verify training records as trainer"),
            ("import_training_record", "Can record training completions from the LMS"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(trainee=models.F("trainer")),
                                   name="training_record_trainer_not_trainee"),
            models.UniqueConstraint(fields=["external_reference"],
                                    condition=~models.Q(external_reference=""),
                                    name="training_record_external_reference_unique"),
        ]
        indexes = [
            models.Index(fields=["trainee", "status"]),
            # The order every list of records is read in (API, pages): a page of 50 is read
            # from the index, not sorted out of every record of the person's sites.
            models.Index(fields=["-trained_on", "-id"], name="training_records_order"),
        ]

    def __str__(self) -> str:
        return f"{self.trainee.full_name} trained on {self.sop_revision} ({self.trained_on})"

    @property
    def counts(self) -> bool:
        return (self.status == self.Status.COMPLETE
                and self.assessment == self.Assessment.PASSED)

    def check_signer(self, user, meaning: str) -> None:
        super().check_signer(user, meaning)
        if meaning == Meaning.TRAINED and user.pk != self.trainee_id:
            raise SignatureRefused("Only the trainee signs a training record as trained.")
        if meaning == Meaning.VERIFIED:
            # Verification completes the record: it is signed only by the verify service,
            # which completes it in the same transaction (never a bare signature that
            # leaves the record awaiting verification).
            if self.status != self.Status.COMPLETE:
                raise SignatureRefused("A training record is verified from its page, which "
                                       "completes it.")
            if user.pk == self.trainee_id:
                raise SignatureRefused("Nobody verifies their own training.")
            if user.pk != self.trainer_id:
                raise SignatureRefused("Only the trainer named on the record verifies it.")


class CertificationQuerySet(SiteScopedQuerySet):
    def current(self):
        return self.filter(status__in=[Certification.Status.ACTIVE,
                                       Certification.Status.SUSPENDED])


class Certification(GMPModel):
    """A person certified for a qualification at a site, from one date until another.
    Its status only moves through a signed `CertificationDecision` (or the expiry task)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    ALLOWED = {
        Status.ACTIVE: {Status.ACTIVE, Status.SUSPENDED, Status.REVOKED, Status.EXPIRED},
        Status.SUSPENDED: {Status.ACTIVE, Status.REVOKED, Status.EXPIRED},
        Status.REVOKED: set(),
        Status.EXPIRED: set(),
    }

    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="certifications")
    qualification = models.ForeignKey(Qualification, on_delete=models.PROTECT,
                                      related_name="certifications")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    valid_from = models.DateField()
    valid_until = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expiry_warning_sent_on = models.DateField(null=True, blank=True)

    objects = CertificationQuerySet.as_manager()

    class Meta:
        ordering = ["qualification__code", "-valid_from", "-pk"]
        permissions = [
            ("decide_certification", "Can grant, suspend, reinstate and revoke certifications"),
            ("view_training_matrix", "Can view the certification matrix of a site"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "qualification", "site"],
                condition=models.Q(status__in=["active", "suspended"]),
                name="training_one_current_certification",
            ),
            models.CheckConstraint(condition=models.Q(valid_until__gte=models.F("valid_from")),
                                   name="training_certification_dates_ordered"),
        ]
        indexes = [models.Index(fields=["site", "status", "valid_until"])]

    def __str__(self) -> str:
        return f"{self.person.full_name} · {self.qualification.code} at {self.site.code}"


class CertificationDecision(AppendOnly, Signable, GMPModel):
    """One decision on a certification, signed *approved* by a Trainer or QA Reviewer with
    its reason; nobody decides on their own certification. Expiry is recorded by the system
    and is not signed."""

    class Action(models.TextChoices):
        GRANT = "grant", "Granted"
        SUSPEND = "suspend", "Suspended"
        REINSTATE = "reinstate", "Reinstated"
        RENEW = "renew", "Renewed"
        REVOKE = "revoke", "Revoked"
        EXPIRE = "expire", "Expired"

    certification = models.ForeignKey(Certification, on_delete=models.PROTECT,
                                      related_name="decisions")
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    reason = models.TextField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)
    signatures = GenericRelation("mes.ElectronicSignature")

    objects = SiteScopedQuerySet.as_manager()

    signing_permissions = {Meaning.APPROVED: "training.decide_certification"}

    class Meta:
        ordering = ["decided_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.certification}"

    def check_signer(self, user, meaning: str) -> None:
        super().check_signer(user, meaning)
        if user.pk == self.certification.person_id:
            raise SignatureRefused("Nobody may decide on their own certification.")
