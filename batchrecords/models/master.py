"""Master batch records (ISA-88 procedure -> operations -> steps) and their versions.

A product made at a site has one master record; its versions go draft -> in review ->
effective -> superseded (or retired). Only a draft is edited; QA approves a version with a
signature (never the author's own), which makes it effective and supersedes the version in
force. The database holds one effective version per master record, i.e. per product and
site (the master record itself is unique per product and site).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from mes.errors import DomainError, SignatureRefused
from mes.models import GMPModel, Meaning, Signable, SiteScopedQuerySet

CODE = RegexValidator(r"^[A-Z0-9][A-Z0-9._-]*$", "Use capitals, digits, dots and dashes.")
KEY = RegexValidator(
    r"^[a-z][a-z0-9_]*$", "Use lower-case letters, digits and underscores, starting with a letter."
)


class TransitionRefused(DomainError):
    code = "transition_refused"
    status = 409


def check_transition(allowed: dict, current: str, target: str, what: str) -> None:
    """The one helper every state change of a version goes through."""
    if target not in allowed.get(current, set()):
        raise TransitionRefused(f"{what} cannot go from “{current}” to “{target}”.")


class MasterRecord(GMPModel):
    """The master batch record of one product at one site; its content lives in versions."""

    product = models.ForeignKey(
        "custody.Product", on_delete=models.PROTECT, related_name="master_records"
    )
    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["product__code", "site__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "site"], name="batchrecords_one_master_record_per_product_site"
            ),
        ]

    def __str__(self) -> str:
        return f"MBR {self.product.code} at {self.site.code}"


class VersionQuerySet(SiteScopedQuerySet):
    def visible_to(self, user):
        return self.filter(master__site__in=user.sites())


class MasterRecordVersion(Signable, GMPModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        EFFECTIVE = "effective", "Effective"
        SUPERSEDED = "superseded", "Superseded"
        RETIRED = "retired", "Retired"

    ALLOWED = {
        Status.DRAFT: {Status.IN_REVIEW, Status.RETIRED},
        Status.IN_REVIEW: {Status.EFFECTIVE, Status.DRAFT, Status.RETIRED},
        Status.EFFECTIVE: {Status.SUPERSEDED, Status.RETIRED},
        Status.SUPERSEDED: {Status.RETIRED},
        Status.RETIRED: set(),
    }

    master = models.ForeignKey(MasterRecord, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    title = models.CharField(max_length=200)
    change_summary = models.TextField(blank=True, help_text="What changed in this version.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    based_on = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    signatures = GenericRelation("mes.ElectronicSignature")

    objects = VersionQuerySet.as_manager()

    signing_permissions = {Meaning.APPROVED: "batchrecords.approve_masterrecordversion"}
    # The approval moves the status and names the approver; the content it covers does not.
    signature_excluded_fields = ("status", "approved_by", "approved_at")

    class Meta:
        ordering = ["master", "-number"]
        permissions = [
            ("approve_masterrecordversion", "Can approve master record versions (QA)"),
            ("retire_masterrecordversion", "Can retire master record versions"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["master", "number"], name="batchrecords_version_number_unique"
            ),
            # One effective version per product and site (a master record is one product at
            # one site): a partial unique index.
            models.UniqueConstraint(
                fields=["master"],
                condition=models.Q(status="effective"),
                name="batchrecords_one_effective_version",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="effective") | models.Q(approved_by__isnull=False),
                name="batchrecords_effective_version_is_approved",
            ),
            models.CheckConstraint(
                condition=~models.Q(approved_by=models.F("author")),
                name="batchrecords_version_approver_not_author",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.master.product.code} MBR v{self.number}"

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    def signing_site(self):
        return self.master.site

    def canonical_content(self) -> dict:
        # The signature covers the whole procedure, so a step changed after approval shows.
        from batchrecords.exchange import export_version

        content = super().canonical_content()
        content["procedure"] = export_version(self)
        return content

    def check_signer(self, user, meaning: str) -> None:
        super().check_signer(user, meaning)
        if meaning == Meaning.APPROVED and user.pk == self.author_id:
            raise SignatureRefused(
                "The author of a master record version never approves it.",
                code="author_cannot_approve",
            )


class Operation(GMPModel):
    """An ISA-88 operation: an ordered group of steps (e.g. "Cell selection")."""

    version = models.ForeignKey(
        MasterRecordVersion, on_delete=models.PROTECT, related_name="operations"
    )
    position = models.PositiveIntegerField()
    code = models.CharField(max_length=32, validators=[CODE])
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "code"], name="batchrecords_operation_code_unique"
            ),
            models.UniqueConstraint(
                fields=["version", "position"], name="batchrecords_operation_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Step(GMPModel):
    """One step of an operation: what the operator does, checks and records."""

    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="steps")
    position = models.PositiveIntegerField()
    code = models.CharField(max_length=32, validators=[CODE])
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, help_text="Markdown; sanitised when shown.")
    critical = models.BooleanField(default=False)
    second_person_verification = models.BooleanField(default=False)
    required_qualifications = models.JSONField(
        default=list, blank=True, help_text="Training qualification codes."
    )
    patient_label_scan = models.BooleanField(default=False)
    equipment_type_code = models.CharField(max_length=32, blank=True)
    na_allowed = models.BooleanField(default=False)
    expected_minutes = models.PositiveIntegerField(null=True, blank=True)
    window_min_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Earliest start after the previous step, in minutes."
    )
    window_max_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Latest start after the previous step, in minutes."
    )
    parallel_group = models.CharField(
        max_length=32, blank=True, help_text="Steps of one group may run in any order."
    )

    class Meta:
        ordering = ["operation", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "code"], name="batchrecords_step_code_unique"
            ),
            models.UniqueConstraint(
                fields=["operation", "position"], name="batchrecords_step_position_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(window_min_minutes__isnull=True)
                | models.Q(window_max_minutes__isnull=True)
                | models.Q(window_min_minutes__lte=models.F("window_max_minutes")),
                name="batchrecords_step_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class StepMaterial(GMPModel):
    """A material the step consumes: quantity and tolerance in one unit."""

    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="materials")
    position = models.PositiveIntegerField()
    material_code = models.CharField(max_length=32, validators=[CODE])
    quantity = models.DecimalField(max_digits=14, decimal_places=4)
    unit = models.CharField(max_length=16)
    tolerance = models.DecimalField(max_digits=14, decimal_places=4, default=0)

    class Meta:
        ordering = ["step", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["step", "material_code"], name="batchrecords_step_material_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0) & models.Q(tolerance__gte=0),
                name="batchrecords_step_material_quantity_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.material_code} {self.quantity} {self.unit}"


class DataField(GMPModel):
    """A value the operator records (or the system calculates) at a step."""

    class Kind(models.TextChoices):
        NUMBER = "number", "Number"
        TEXT = "text", "Text"
        CHOICE = "choice", "Choice"
        YES_NO = "yes_no", "Yes / no"
        DATETIME = "datetime", "Date and time"
        CALCULATED = "calculated", "Calculated"

    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="fields")
    position = models.PositiveIntegerField()
    key = models.CharField(
        max_length=48,
        validators=[KEY],
        help_text="Unique in the version; formulas name fields by key.",
    )
    label = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    unit = models.CharField(max_length=16, blank=True)
    target = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    alert_low = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    alert_high = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    action_low = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    action_high = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    options = models.JSONField(default=list, blank=True)
    formula = models.CharField(max_length=500, blank=True)
    required = models.BooleanField(default=True)

    class Meta:
        ordering = ["step", "position"]
        constraints = [
            models.UniqueConstraint(fields=["step", "key"], name="batchrecords_field_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.kind})"
