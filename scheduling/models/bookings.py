"""A patient's manufacturing booked into a suite, and the reagent stock it soft-reserves.

Two active bookings never share a lane of a suite on overlapping days: on PostgreSQL an
exclusion constraint (btree_gist) refuses it even for requests that arrive at once; on
SQLite, where writes are serialised, the service's check is enough.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mes.models import AppendOnly, GMPModel, Meaning, Signable, SiteScopedQuerySet
from scheduling.models.plans import QUANTITY
from scheduling.models.resources import Suite


class BookingStatus(models.TextChoices):
    TENTATIVE = "tentative", "Tentative"
    CONFIRMED = "confirmed", "Confirmed"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_BOOKING = (BookingStatus.TENTATIVE, BookingStatus.CONFIRMED)

# A move keeps the booking (its history shows where it was); a confirmed booking that moves
# is tentative again, since what was confirmed no longer holds.
ALLOWED: dict[str, set[str]] = {
    # Manufacturing that happened ends its booking, confirmed or not.
    BookingStatus.TENTATIVE: {
        BookingStatus.CONFIRMED,
        BookingStatus.COMPLETED,
        BookingStatus.CANCELLED,
    },
    BookingStatus.CONFIRMED: {
        BookingStatus.TENTATIVE,
        BookingStatus.COMPLETED,
        BookingStatus.CANCELLED,
    },
    BookingStatus.COMPLETED: set(),
    BookingStatus.CANCELLED: set(),
}


class BookingQuerySet(SiteScopedQuerySet):
    def active(self):
        return self.filter(status__in=ACTIVE_BOOKING)

    def overlapping(self, start, end):
        return self.filter(start_date__lte=end, end_date__gte=start)


class Booking(GMPModel):
    """Manufacturing days (``start_date``..``end_date``, inclusive) in a suite for one
    patient's order. ``confirmed_*`` mirror its current confirmation (empty once a move makes
    it tentative again); what was confirmed, and the Supervisor's signature when it was
    confirmed despite problems, are kept on its append-only :class:`BookingConfirmation`
    records, so moving a booking never changes a signed record."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey("custody.Order", on_delete=models.PROTECT, related_name="bookings")
    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="bookings")
    lane = models.PositiveSmallIntegerField(default=1)
    start_date = models.DateField()
    end_date = models.DateField()
    status = models.CharField(
        max_length=16, choices=BookingStatus.choices, default=BookingStatus.TENTATIVE
    )
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    booked_at = models.DateTimeField(default=timezone.now)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_problems = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    cancel_reason = models.TextField(blank=True)

    objects = BookingQuerySet.as_manager()

    class Meta:
        ordering = ["start_date", "suite__code", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")),
                name="scheduling_booking_dates_ordered",
            ),
            models.CheckConstraint(condition=Q(lane__gte=1), name="scheduling_booking_lane"),
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status__in=ACTIVE_BOOKING),
                name="scheduling_one_active_booking_per_order",
            ),
        ]
        indexes = [models.Index(fields=["suite", "start_date", "end_date"])]
        permissions = [
            (
                "confirm_booking_with_problems",
                "Can confirm a booking with problems (signed, with a reason)",
            )
        ]

    def __str__(self) -> str:
        return f"Booking {self.pk} in {self.suite_id} {self.start_date}–{self.end_date}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_BOOKING


class BookingConfirmation(AppendOnly, Signable, GMPModel):
    """One confirmation of a booking as it was given: the suite, lane and days confirmed, the
    problems it was confirmed despite, who confirmed it, when and why. Append-only: a move
    makes the booking tentative again and leaves this record as history (the booking's
    confirmation is its latest one while it is confirmed). Confirmed despite problems, it
    carries the Supervisor's signature (*approved*)."""

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="confirmations")
    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="+")
    lane = models.PositiveSmallIntegerField()
    start_date = models.DateField()
    end_date = models.DateField()
    problems = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    signatures = GenericRelation("mes.ElectronicSignature")

    objects = SiteScopedQuerySet.as_manager()

    signing_permissions = {Meaning.APPROVED: "scheduling.confirm_booking_with_problems"}

    class Meta:
        ordering = ["booking", "confirmed_at", "pk"]

    def __str__(self) -> str:
        return f"Confirmation of booking {self.booking_id} ({self.start_date}–{self.end_date})"


class ReagentReservation(GMPModel):
    """A soft reservation of a lot's stock for a booking: other bookings' feasibility does not
    count it as free. Released (never deleted) when the booking moves, ends or is cancelled."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Reserved"
        RELEASED = "released", "Released"

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="reservations")
    material = models.ForeignKey("reagents.Material", on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey("reagents.ReagentLot", on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QUANTITY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    released_reason = models.TextField(blank=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["booking", "material__code", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="scheduling_reservation_positive"
            )
        ]
        indexes = [models.Index(fields=["lot", "status"])]

    def __str__(self) -> str:
        return f"{self.quantity} of lot {self.lot_id} for booking {self.booking_id}"
