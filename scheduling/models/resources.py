"""The plant's resources: suites, equipment with its logbook, shifts and the operator roster.

Slots are not stored: a slot is a suite on a day in a shift, and its capacity is the suite's
``batch_capacity`` (one patient batch by default). Storing a row per suite, day and shift
would add thousands of rows a year that say nothing the suite and the shift do not already
say; bookings take a lane (1..capacity) of the suite, and the database refuses two active
bookings in one lane on overlapping days.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mes.errors import DomainError
from mes.models import AppendOnly, GMPModel, Meaning, Signable, SiteScopedQuerySet
from training.models import CleanroomGrade


class TransitionRefused(DomainError):
    code = "transition_refused"
    status = 409


def check_transition(allowed: dict, current: str, target: str, what: str) -> None:
    if target not in allowed.get(current, set()):
        raise TransitionRefused(f"{what} is “{current}”; it cannot become “{target}”.")


class Suite(GMPModel):
    """A cleanroom suite where patient batches are made, with its grade and status."""

    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        ON_HOLD = "on_hold", "On hold"
        MAINTENANCE = "maintenance", "In maintenance"
        RETIRED = "retired", "Retired"

    ALLOWED = {
        Status.AVAILABLE: {Status.ON_HOLD, Status.MAINTENANCE, Status.RETIRED},
        Status.ON_HOLD: {Status.AVAILABLE, Status.MAINTENANCE, Status.RETIRED},
        Status.MAINTENANCE: {Status.AVAILABLE, Status.ON_HOLD, Status.RETIRED},
        Status.RETIRED: set(),
    }

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    grade = models.CharField("cleanroom grade", max_length=1, choices=CleanroomGrade.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    batch_capacity = models.PositiveSmallIntegerField(
        default=1, help_text="Patient batches the suite holds at once (slots per shift)."
    )

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["site__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["site", "code"], name="scheduling_suite_code_once"),
            models.CheckConstraint(
                condition=Q(batch_capacity__gte=1), name="scheduling_suite_capacity_positive"
            ),
        ]
        permissions = [("change_suite_status", "Can put a suite on hold or release it")]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"


class SuiteHold(GMPModel):
    """A window in which a suite cannot be used: planned maintenance, or a hold (e.g. after
    an environmental monitoring action-limit result). ``ends_at`` empty: until lifted."""

    class Kind(models.TextChoices):
        MAINTENANCE = "maintenance", "Maintenance"
        HOLD = "hold", "Hold"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        LIFTED = "lifted", "Lifted"

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="holds")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField()
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="scheduling_hold_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.suite_id} from {self.starts_at:%Y-%m-%d}"


class EquipmentType(GMPModel):
    """A kind of equipment a process needs (a bioreactor, a cell separator...)."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"


class Equipment(GMPModel):
    """One piece of equipment in a suite, with its service status, calibration due date and
    cleaning status (a clean status holds until ``clean_until``)."""

    class Status(models.TextChoices):
        IN_SERVICE = "in_service", "In service"
        OUT_OF_SERVICE = "out_of_service", "Out of service"
        RETIRED = "retired", "Retired"

    class Cleaning(models.TextChoices):
        CLEAN = "clean", "Clean"
        IN_USE = "in_use", "In use"
        DIRTY = "dirty", "Dirty"
        CLEAN_EXPIRED = "clean_expired", "Clean hold expired"

    ALLOWED = {
        Status.IN_SERVICE: {Status.OUT_OF_SERVICE, Status.RETIRED},
        Status.OUT_OF_SERVICE: {Status.IN_SERVICE, Status.RETIRED},
        Status.RETIRED: set(),
    }

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="equipment")
    equipment_type = models.ForeignKey(
        EquipmentType, on_delete=models.PROTECT, related_name="equipment"
    )
    identifier = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_SERVICE)
    calibration_due = models.DateField("calibration due date")
    cleaning_status = models.CharField(
        max_length=16, choices=Cleaning.choices, default=Cleaning.DIRTY
    )
    clean_until = models.DateTimeField(null=True, blank=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["suite__code", "identifier"]
        verbose_name_plural = "equipment"
        constraints = [
            models.UniqueConstraint(
                fields=["site", "identifier"], name="scheduling_equipment_identifier_once"
            )
        ]
        permissions = [
            (
                "release_equipment",
                "Can release equipment after cleaning, calibration or maintenance (signed)",
            )
        ]

    def __str__(self) -> str:
        return self.identifier

    def cleaning_status_at(self, at: dt.datetime | None = None) -> str:
        """The cleaning status at ``at``: a clean hold past its expiry is clean-expired."""
        at = at or timezone.now()
        if self.cleaning_status == self.Cleaning.CLEAN and (
            self.clean_until is None or self.clean_until < at
        ):
            return self.Cleaning.CLEAN_EXPIRED
        return self.cleaning_status


class LogbookEntry(AppendOnly, Signable, GMPModel):
    """One line of an equipment or room logbook (EU GMP chapter 4.31): use, cleaning,
    calibration, maintenance or a status change, attributed; the entries that release
    equipment (cleaned, calibrated, back in service) are signed. Append-only."""

    class Kind(models.TextChoices):
        USE = "use", "Use"
        CLEANING = "cleaning", "Cleaning"
        CALIBRATION = "calibration", "Calibration"
        MAINTENANCE = "maintenance", "Maintenance"
        STATUS_CHANGE = "status_change", "Status change"

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="logbook")
    equipment = models.ForeignKey(
        Equipment, null=True, blank=True, on_delete=models.PROTECT, related_name="logbook"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField()
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32, blank=True)
    batch_number = models.CharField(max_length=64, blank=True)
    patient_coi = models.CharField("patient COI", max_length=64, blank=True)
    releases = models.BooleanField(
        default=False, help_text="The entry releases the equipment (signed)."
    )
    signatures = GenericRelation("mes.ElectronicSignature")

    objects = SiteScopedQuerySet.as_manager()

    signing_permissions = {
        Meaning.RELEASED: "scheduling.release_equipment",
        Meaning.APPROVED: "scheduling.release_equipment",  # retiring equipment
        Meaning.PERFORMED: "scheduling.add_logbookentry",
    }

    class Meta:
        ordering = ["occurred_at", "pk"]
        verbose_name = "logbook entry"
        verbose_name_plural = "logbook entries"
        indexes = [
            models.Index(fields=["equipment", "occurred_at"]),
            models.Index(fields=["suite", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.equipment_id or self.suite_id}"


class Shift(GMPModel):
    """A shift of a site (e.g. early 07:00–15:30); it may run past midnight."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=64)
    starts = models.TimeField()
    ends = models.TimeField()
    is_active = models.BooleanField(default=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["site__code", "starts"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="scheduling_shift_name_once")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.starts:%H:%M}–{self.ends:%H:%M})"


class RosterEntry(GMPModel):
    """A person rostered to a suite on a day in a shift. Withdrawn, never deleted."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Rostered"
        WITHDRAWN = "withdrawn", "Withdrawn"

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="roster")
    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="roster")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["day", "shift__starts", "pk"]
        verbose_name_plural = "roster entries"
        constraints = [
            models.UniqueConstraint(
                fields=["person", "day", "shift"],
                condition=Q(status="active"),
                name="scheduling_roster_one_place_per_shift",
            )
        ]
        indexes = [models.Index(fields=["suite", "day"])]

    def __str__(self) -> str:
        return f"{self.person_id} in {self.suite_id} on {self.day} ({self.shift_id})"
