"""Per-site configuration that QA edits in the UI: response deadlines and the escalation
ladder. Also the counter row that numbers deviations per site and year without gaps."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from mes.models import GMPModel, SiteScopedQuerySet, TrackedModel
from mes.roles import ROLES


class Tier(models.TextChoices):
    URGENT = "urgent", "Critical or patient impact"
    MAJOR = "major", "Major"
    MINOR = "minor", "Minor"


class DeadlineUnit(models.TextChoices):
    MINUTES = "minutes", "minutes"
    HOURS = "hours", "hours"
    WORKING_DAYS = "working_days", "working days"


class DeadlinePolicy(GMPModel):
    """How soon a deviation of one tier must be acknowledged (and, optionally, its material
    disposed) at one site. Without a row the defaults of `DEFAULT_POLICIES` apply."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    tier = models.CharField(max_length=16, choices=Tier.choices)
    acknowledge_amount = models.PositiveIntegerField()
    acknowledge_unit = models.CharField(max_length=16, choices=DeadlineUnit.choices)
    disposition_amount = models.PositiveIntegerField(null=True, blank=True)
    disposition_unit = models.CharField(max_length=16, choices=DeadlineUnit.choices,
                                        blank=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["site", "tier"]
        constraints = [
            models.UniqueConstraint(fields=["site", "tier"],
                                    name="deviations_one_policy_per_site_tier"),
            models.CheckConstraint(
                condition=models.Q(acknowledge_amount__gt=0),
                name="deviations_policy_acknowledge_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.site.code} {self.get_tier_display()}"


# The defaults: critical or patient impact: acknowledge within 15 minutes and dispose
# within 2 hours; major: acknowledge within 4 hours; minor: within 2 working days.
DEFAULT_POLICIES: dict[str, dict] = {
    Tier.URGENT: {"acknowledge_amount": 15, "acknowledge_unit": DeadlineUnit.MINUTES,
                  "disposition_amount": 2, "disposition_unit": DeadlineUnit.HOURS},
    Tier.MAJOR: {"acknowledge_amount": 4, "acknowledge_unit": DeadlineUnit.HOURS,
                 "disposition_amount": None, "disposition_unit": ""},
    Tier.MINOR: {"acknowledge_amount": 2, "acknowledge_unit": DeadlineUnit.WORKING_DAYS,
                 "disposition_amount": None, "disposition_unit": ""},
}


class EscalationLevel(GMPModel):
    """One rung of a site's ladder (QA on duty -> QA lead -> Head of Quality -> QP).

    Level 1 is told when a deviation is raised; level 2 when its deadline passes; each next
    level when the previous one has had ``respond_within_minutes`` without the deadline
    being met. The people told are the named person, or everyone with the role at the site.
    Levels are retired with a reason, never deleted."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    person = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=32, blank=True, choices=[(r, r) for r in ROLES])
    respond_within_minutes = models.PositiveIntegerField(default=30)
    is_active = models.BooleanField(default=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["site", "position"]
        constraints = [
            models.UniqueConstraint(fields=["site", "position"],
                                    condition=models.Q(is_active=True),
                                    name="deviations_one_active_level_per_position"),
            models.CheckConstraint(
                condition=~models.Q(person__isnull=True, role=""),
                name="deviations_level_names_someone"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"

    @property
    def who(self) -> str:
        return self.person.full_name if self.person_id else f"everyone with role {self.role}"


class DeviationCounter(TrackedModel):
    """The last number given per site and year; locked while numbering, so no gaps and no
    duplicates even under concurrent raising."""

    operational_record = True  # bookkeeping of numbers, not a GMP record

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    last_sequence = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "year"],
                                    name="deviations_one_counter_per_site_year"),
        ]

    def __str__(self) -> str:
        return f"{self.site_id}/{self.year}: {self.last_sequence}"
