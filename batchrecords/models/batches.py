"""The patient's electronic batch record (EBR) and the execution of its steps.

A batch is opened for one patient from the product's effective master version, which stays
pinned to it. Each step of that version has one ``StepRun`` in the batch: where the step
stands, who performed and verified it, and a revision that every write moves on (a stale form
is refused). What was entered and scanned is append-only (``StepValue``, ``StepScan``): a
correction is a new value with a reason that names the one it corrects, so the original stays.
Every departure is an append-only ``BatchException`` written in the transaction of the event.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.utils import timezone

from batchrecords.models.master import TransitionRefused
from mes.errors import SignatureRefused
from mes.models import AppendOnly, GMPModel, Meaning, Signable, SiteScopedQuerySet
from mes.models.base import TrackedModel

QUANTITY = {"max_digits": 14, "decimal_places": 4}


class BatchStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    EXECUTED = "executed", "Executed"
    UNDER_REVIEW = "under_review", "Under review"
    REVIEWED = "reviewed", "Reviewed"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


B = BatchStatus
# The one transition table every status change of a batch goes through.
BATCH_TRANSITIONS: dict[str, set[str]] = {
    B.PLANNED: {B.IN_PROGRESS, B.CANCELLED},
    B.IN_PROGRESS: {B.EXECUTED, B.CANCELLED, B.REJECTED},
    B.EXECUTED: {B.UNDER_REVIEW, B.IN_PROGRESS},
    B.UNDER_REVIEW: {B.REVIEWED, B.EXECUTED, B.REJECTED},
    B.REVIEWED: {B.RELEASED, B.REJECTED, B.UNDER_REVIEW},
    B.RELEASED: set(),
    B.REJECTED: set(),
    B.CANCELLED: set(),
}
# A batch in one of these is still being made: a patient has at most one at a time.
ACTIVE_BATCH = (B.PLANNED, B.IN_PROGRESS, B.EXECUTED)
# Steps are performed only while the batch is planned or in progress.
EXECUTABLE_BATCH = (B.PLANNED, B.IN_PROGRESS)


def check_batch_transition(current: str, target: str) -> None:
    if target not in BATCH_TRANSITIONS.get(current, set()):
        raise TransitionRefused(
            f"A batch cannot go from “{BatchStatus(current).label}” to "
            f"“{BatchStatus(target).label}”."
        )


class BatchCounter(TrackedModel):
    """The last batch number given at a site in a year (locked while a number is taken)."""

    operational_record = True  # bookkeeping of numbers; each number is on its batch

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "year"], name="batchrecords_counter_unique")
        ]


class BatchQuerySet(SiteScopedQuerySet):
    pass


class Batch(GMPModel):
    """One patient's batch, made under its own record from a pinned master version."""

    class Origin(models.TextChoices):
        FIRST = "first", "First manufacture"
        REMANUFACTURE = "remanufacture", "Remanufacture after a failure"
        SECOND_APHERESIS = "second_apheresis", "Second apheresis"

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    number = models.CharField("batch number", max_length=32, unique=True)
    patient = models.ForeignKey("custody.Patient", on_delete=models.PROTECT,
                                related_name="batches")
    order = models.ForeignKey("custody.Order", on_delete=models.PROTECT, related_name="batches")
    version = models.ForeignKey("batchrecords.MasterRecordVersion", on_delete=models.PROTECT,
                                related_name="batches",
                                help_text="The master version this batch is made under.")
    booking = models.ForeignKey("scheduling.Booking", on_delete=models.PROTECT, null=True,
                                blank=True, related_name="batches")
    status = models.CharField(max_length=16, choices=BatchStatus.choices,
                              default=BatchStatus.PLANNED)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.FIRST)
    previous = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="followed_by",
                                 help_text="The earlier batch of this patient it follows.")
    origin_reason = models.TextField(blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(blank=True)

    objects = BatchQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "batches"
        ordering = ["-opened_at", "-pk"]
        permissions = [
            ("perform_step", "Can perform batch record steps"),
            ("verify_step", "Can verify batch record steps (second person)"),
            ("supervise_batch", "Can clear stops and confirm problems on batches"),
        ]
        indexes = [
            models.Index(fields=["site", "status", "-opened_at"],
                         name="batchrecords_batch_site_st"),
        ]
        constraints = [
            # One batch in the making per patient; the next one follows a finished one.
            models.UniqueConstraint(
                fields=["patient"], condition=models.Q(status__in=ACTIVE_BATCH),
                name="batchrecords_one_active_batch_per_patient",
            ),
            models.CheckConstraint(
                condition=models.Q(origin="first") | models.Q(previous__isnull=False),
                name="batchrecords_batch_follow_up_names_previous",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_executable(self) -> bool:
        return self.status in EXECUTABLE_BATCH


class StepStatus(models.TextChoices):
    PENDING = "pending", "Not started"
    PERFORMED = "performed", "Performed, awaiting verification"
    DONE = "done", "Done"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


# A step in one of these counts as finished for the sequence (the next step may start).
FINISHED_STEP = (StepStatus.PERFORMED, StepStatus.DONE, StepStatus.NOT_APPLICABLE)


class StepRun(Signable, GMPModel):
    """One step of the master version, in one batch: where it stands and who signed it.

    ``revision`` moves on with every write (value, scan, signature, correction); a write that
    names an older revision was made on a stale screen and is refused. A correction sends the
    step back to pending, so its signatures are asked for again; the signatures of the earlier
    revision stay, and no longer match the record's content."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="steps")
    step = models.ForeignKey("batchrecords.Step", on_delete=models.PROTECT, related_name="+")
    sequence = models.PositiveIntegerField(help_text="Order of the step in the procedure.")
    stage = models.PositiveIntegerField(
        help_text="Steps of one stage (a parallel group) may run in any order.")
    status = models.CharField(max_length=16, choices=StepStatus.choices,
                              default=StepStatus.PENDING)
    revision = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     null=True, blank=True, related_name="+")
    performed_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+")
    verified_at = models.DateTimeField(null=True, blank=True)
    na_reason = models.TextField(blank=True)
    flagged = models.BooleanField(default=False, help_text="An entry of the step departed.")

    signatures = GenericRelation("mes.ElectronicSignature")
    objects = SiteScopedQuerySet.as_manager()

    signing_permissions = {
        Meaning.PERFORMED: "batchrecords.perform_step",
        Meaning.VERIFIED: "batchrecords.verify_step",
    }
    # A verification follows the performance; the status and verifier move on after it.
    # The revision counts writes (a stale screen's token), it is not content: the performer's
    # signature stays valid when the verification moves it on.
    signature_excluded_fields = ("status", "verified_by", "verified_at", "flagged", "revision")

    class Meta:
        ordering = ["batch", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "step"], name="batchrecords_run_step_unique"),
            models.UniqueConstraint(fields=["batch", "sequence"],
                                    name="batchrecords_run_sequence_unique"),
            models.CheckConstraint(
                condition=models.Q(verified_by__isnull=True)
                | ~models.Q(verified_by=models.F("performed_by")),
                name="batchrecords_run_verifier_not_performer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}/{self.step_id}"

    def signing_site(self):
        return self.site

    def canonical_content(self) -> dict:
        """The signature covers the step as it stands: its values and scans as well."""
        content = super().canonical_content()
        content["values"] = [
            [v.field_id, v.value, v.pk] for v in self.values.order_by("pk")
        ]
        content["scans"] = [
            [s.kind, s.scanned, s.accepted, s.pk] for s in self.scans.order_by("pk")
        ]
        return content

    def signature_superseded(self, signature) -> bool:
        """A signature given before a correction of the step (recorded as an exception, with
        a reason and the corrector's signature) covers the step as it was then; so does the
        corrector's own signature once the step is performed again after it."""
        return (self.exceptions.filter(kind=ExceptionKind.CORRECTION,
                                       recorded_at__gte=signature.signed_at).exists()
                or self.signatures.filter(meaning=Meaning.PERFORMED,
                                          signed_at__gt=signature.signed_at).exists())

    def check_signer(self, user, meaning: str) -> None:
        super().check_signer(user, meaning)
        if meaning == Meaning.VERIFIED and user.pk == self.performed_by_id:
            raise SignatureRefused(
                "The person who performed a step never verifies it: a second person does.",
                code="verifier_is_performer",
            )
        if meaning == Meaning.PERFORMED and self.performed_by_id not in (None, user.pk):
            raise SignatureRefused("Only the person who performed the step signs it.")


class Flag(models.TextChoices):
    NONE = "", "In limits"
    ALERT = "alert", "Outside alert limits"
    ACTION = "action", "Outside action limits"


class StepValue(AppendOnly, GMPModel):
    """A value entered (or calculated) at a step. Never changed: a correction is a new row
    naming the one it corrects, with a reason."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(StepRun, on_delete=models.PROTECT, related_name="values")
    field = models.ForeignKey("batchrecords.DataField", on_delete=models.PROTECT,
                              related_name="+")
    value = models.CharField(max_length=500, help_text="As entered, normalised.")
    number = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    flag = models.CharField(max_length=8, choices=Flag.choices, blank=True, default="")
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    entered_at = models.DateTimeField(default=timezone.now)
    revision = models.PositiveIntegerField(help_text="The step's revision it was entered at.")
    corrects = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="corrected_by")
    reason = models.TextField(blank=True, help_text="Why a correction was made.")

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["run", "pk"]
        indexes = [models.Index(fields=["run", "field"], name="batchrecords_value_run_field")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(corrects__isnull=True) | ~models.Q(reason=""),
                name="batchrecords_value_correction_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field_id}={self.value}"


class StepScan(AppendOnly, GMPModel):
    """A scan accepted at a step: the patient's label, a reagent lot (with the stock it
    consumed) or a piece of equipment (with its logbook entry)."""

    class Kind(models.TextChoices):
        PATIENT_LABEL = "patient_label", "Patient label"
        LOT = "lot", "Reagent lot"
        EQUIPMENT = "equipment", "Equipment"

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(StepRun, on_delete=models.PROTECT, related_name="scans")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    scanned = models.CharField(max_length=200)
    accepted = models.BooleanField(default=True)
    material = models.ForeignKey("batchrecords.StepMaterial", on_delete=models.PROTECT,
                                 null=True, blank=True, related_name="+")
    lot = models.ForeignKey("reagents.ReagentLot", on_delete=models.PROTECT, null=True,
                            blank=True, related_name="+")
    quantity = models.DecimalField(**QUANTITY, null=True, blank=True)
    stock_entry = models.ForeignKey("reagents.StockEntry", on_delete=models.PROTECT, null=True,
                                    blank=True, related_name="+")
    substitution_reason = models.TextField(blank=True)
    equipment = models.ForeignKey("scheduling.Equipment", on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="+")
    logbook_entry = models.ForeignKey("scheduling.LogbookEntry", on_delete=models.PROTECT,
                                      null=True, blank=True, related_name="+")
    scanned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    scanned_at = models.DateTimeField(default=timezone.now)
    revision = models.PositiveIntegerField()

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["run", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.scanned}"


class ExceptionKind(models.TextChoices):
    ALERT_LIMIT = "alert_limit", "Value outside alert limits"
    ACTION_LIMIT = "action_limit", "Value outside action limits"
    CORRECTION = "correction", "Correction"
    COMMENT = "comment", "Comment"
    NOT_APPLICABLE = "not_applicable", "Step not applicable"
    TIME_WINDOW = "time_window", "Step outside its time window"
    REFUSED_SCAN = "refused_scan", "Refused scan"
    SUBSTITUTION = "substitution", "Substituted material"
    DEVIATION = "deviation", "Deviation raised"
    FEASIBILITY = "feasibility", "Feasibility problem confirmed"


class BatchException(AppendOnly, GMPModel):
    """A departure, recorded in the transaction of the event: what, where, the value, who."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="exceptions")
    run = models.ForeignKey(StepRun, on_delete=models.PROTECT, null=True, blank=True,
                            related_name="exceptions")
    kind = models.CharField(max_length=16, choices=ExceptionKind.choices)
    code = models.CharField(max_length=48, blank=True,
                            help_text="The refusal's code or the limit crossed.")
    field_key = models.CharField(max_length=48, blank=True)
    value = models.CharField(max_length=500, blank=True)
    detail = models.TextField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="+")
    second_person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                      null=True, blank=True, related_name="+")
    deviation = models.ForeignKey("deviations.Deviation", on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["batch", "recorded_at", "pk"]
        indexes = [models.Index(fields=["batch", "kind"], name="batchrecords_exc_batch_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.batch_id}"


class BatchStop(Signable, GMPModel):
    """A full stop on a batch (a wrong patient's label was scanned): nothing is performed
    until a Supervisor clears it with a signature and a reason."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="stops")
    exception = models.OneToOneField(BatchException, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    cleared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    cleared_at = models.DateTimeField(null=True, blank=True)
    clear_reason = models.TextField(blank=True)

    signatures = GenericRelation("mes.ElectronicSignature")
    objects = SiteScopedQuerySet.as_manager()

    # The Supervisor's signature on clearing covers who cleared it, when and why.
    signing_permissions = {Meaning.REVIEWED: "batchrecords.supervise_batch"}

    class Meta:
        ordering = ["batch", "-raised_at"]
        constraints = [
            models.UniqueConstraint(fields=["batch"], condition=models.Q(cleared_at__isnull=True),
                                    name="batchrecords_one_open_stop_per_batch"),
        ]

    def __str__(self) -> str:
        return f"Stop on {self.batch_id}"

    def check_signer(self, user, meaning: str) -> None:
        super().check_signer(user, meaning)
        if user.pk == self.exception.actor_id:
            raise SignatureRefused(
                "The person whose scan stopped the batch never clears the stop: another "
                "Supervisor does.", code="supervisor_raised_stop")
