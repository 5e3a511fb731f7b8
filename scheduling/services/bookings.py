"""Booking a patient's manufacturing into a suite, moving, confirming, cancelling it, and the
soft reservation of the reagents it needs.

Double booking is refused twice: here (the free lane is looked up under the booking's
transaction) and by the database (an exclusion constraint on PostgreSQL), so two planners
booking the same suite at the same moment get one booking and one refusal.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from custody.models import Order
from mes import audit
from mes.errors import Conflict, DomainError, PermissionRefused
from mes.models import Meaning, User
from mes.services.signatures import apply_signature, reauthenticate
from reagents.models import LotStatus, ReagentLot
from scheduling import feasibility
from scheduling.models import (
    Booking,
    BookingConfirmation,
    BookingStatus,
    ReagentReservation,
    Suite,
    check_transition,
)
from scheduling.models.bookings import ALLOWED
from scheduling.services.common import SchedulingRefused, require, require_reason
from scheduling.signals import booking_confirmed_with_problems

S = Order.Status
# An order can be booked until its material goes into manufacturing.
BOOKABLE_ORDER = (S.ORDERED, S.COLLECTION_SCHEDULED, S.COLLECTED, S.IN_TRANSIT, S.RECEIVED)


def _plan(order: Order):
    plan = feasibility.plan_for(order)
    if plan is None:
        raise SchedulingRefused(
            f"{order.patient.product.code} has no active process plan; scheduling does not "
            "know how long its manufacturing takes.",
            code="no_process_plan",
        )
    return plan


def _check_suite(order: Order, suite: Suite) -> None:
    if suite.site_id != order.site_id:
        raise DomainError(
            f"Suite {suite.code} is not at the order's manufacturing site {order.site.code}.",
            code="wrong_site",
            fields={"suite": ["Not at the manufacturing site."]},
        )
    if suite.status == Suite.Status.RETIRED:
        raise SchedulingRefused(
            f"Suite {suite.code} is retired.", code="suite_retired", fields={"suite": ["Retired."]}
        )


def _today(site) -> dt.date:
    return timezone.localtime(timezone.now(), site.zone).date()


def _check_start(start: dt.date, site) -> None:
    """Manufacturing days are planned ahead: a booking never starts before the site's today."""
    today = _today(site)
    if start < today:
        raise SchedulingRefused(
            f"{start.isoformat()} is in the past at {site.code} (today is {today.isoformat()}).",
            code="start_in_past",
            fields={"start_date": ["In the past."]},
        )


def _check_order_not_started(booking: Booking, what: str) -> None:
    """Once the order's material is in manufacturing, its booking is the batch's: only the
    order's cancellation (custody) or its completion ends it."""
    if booking.order.status in feasibility.IN_MANUFACTURING_OR_LATER:
        raise SchedulingRefused(
            f"The order is {booking.order.get_status_display().lower()}; its booking can no "
            f"longer be {what}.",
            code="order_in_manufacturing",
        )


def _free_lane(suite: Suite, start: dt.date, end: dt.date, booking: Booking | None) -> int:
    return _first_free_lane(suite, start, end, booking)


def _first_free_lane(suite: Suite, start: dt.date, end: dt.date, booking: Booking | None) -> int:
    taken = Booking.objects.active().filter(suite=suite).overlapping(start, end)
    if booking is not None:
        taken = taken.exclude(pk=booking.pk)
    used = set(taken.values_list("lane", flat=True))
    for lane in range(1, suite.batch_capacity + 1):
        if lane not in used:
            return lane
    raise _suite_taken(suite, start, end)


def _suite_taken(suite: Suite, start: dt.date, end: dt.date) -> Conflict:
    return Conflict(
        f"Suite {suite.code} is already booked between {start.isoformat()} and {end.isoformat()}.",
        code="suite_taken",
        fields={"start_date": ["The suite is booked on these days."]},
    )


def _save(booking: Booking, *, actor: User, reason: str) -> None:
    """Save under a savepoint: the database's exclusion constraint is the last word. When a
    booking committed meanwhile took the lane (two planners at once in a suite of capacity
    two or more), the next free lane is tried; only a suite with no lane left refuses."""
    for _ in range(booking.suite.batch_capacity):
        audit.stamp(booking, user=actor, reason=reason)
        try:
            with transaction.atomic():
                booking.save()
            return
        except IntegrityError as exc:
            if "one_active_booking_per_order" in str(exc):
                raise Conflict(
                    "This order already has an active booking.", code="already_booked"
                ) from exc
            if "scheduling_booking_no_overlap" not in str(exc):
                raise
            # raises suite_taken when every lane is taken now
            booking.lane = _first_free_lane(
                booking.suite, booking.start_date, booking.end_date, booking
            )
    raise _suite_taken(booking.suite, booking.start_date, booking.end_date)


@transaction.atomic
def book(
    *, actor: User, order: Order, suite: Suite, start: dt.date | None = None, reason: str = ""
) -> Booking:
    """Book ``order``'s manufacturing into ``suite`` for the product's process duration,
    from ``start`` (default: the planned receipt plus the product's start offset), as a
    tentative booking, and soft-reserve its reagents."""
    require(actor, "scheduling.add_booking", "book manufacturing slots", site=order.site)
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("patient__product", "site")
        .get(pk=order.pk)
    )
    if order.status not in BOOKABLE_ORDER:
        raise SchedulingRefused(
            f"The order is {order.get_status_display().lower()}; it can no longer be booked.",
            code="order_not_bookable",
        )
    _check_suite(order, suite)
    plan = _plan(order)
    if Booking.objects.active().filter(order=order).exists():
        raise Conflict(
            f"The order for {order.patient.coi} is already booked; move that booking instead.",
            code="already_booked",
        )
    if start is None:
        start = max(plan.earliest_start(feasibility.collection_date(order)), _today(order.site))
    _check_start(start, order.site)
    end = plan.end_for(start)
    booking = Booking(
        site=order.site,
        order=order,
        suite=suite,
        start_date=start,
        end_date=end,
        booked_by=actor,
        lane=_free_lane(suite, start, end, None),
    )
    _save(
        booking,
        actor=actor,
        reason=(reason or "").strip() or f"Manufacturing of {order.patient.coi} booked",
    )
    _reserve(booking, plan, actor=actor)
    return booking


def _move_to(booking: Booking, status: str) -> None:
    """Every status change of a booking goes through the one transition table."""
    check_transition(ALLOWED, booking.status, status, f"Booking {booking.pk}")
    booking.status = status


def _locked(booking: Booking) -> Booking:
    return (
        Booking.objects.select_for_update(of=("self",))
        .select_related("order__patient__product", "suite__site", "site")
        .get(pk=booking.pk)
    )


def _check_active(booking: Booking, what: str) -> None:
    if not booking.is_active:
        raise SchedulingRefused(
            f"The booking is {booking.get_status_display().lower()}; it cannot be {what}.",
            code="booking_not_active",
        )


@transaction.atomic
def move(
    *,
    actor: User,
    booking: Booking,
    reason: str,
    suite: Suite | None = None,
    start: dt.date | None = None,
) -> Booking:
    """Move a booking to another suite and/or start day, with a reason. A confirmed booking
    becomes tentative again, and its reagent reservations are released and taken anew for
    the new days."""
    require(actor, "scheduling.change_booking", "move bookings", site=booking.site)
    reason = require_reason(reason)
    booking = _locked(booking)
    _check_active(booking, "moved")
    _check_order_not_started(booking, "moved")
    suite = suite or booking.suite
    start = start or booking.start_date
    _check_start(start, booking.site)
    _check_suite(booking.order, suite)
    plan = _plan(booking.order)
    end = plan.end_for(start)
    if (suite.pk, start, end) == (booking.suite_id, booking.start_date, booking.end_date):
        raise DomainError("The booking is already there.", code="nothing_to_move")
    booking.lane = _free_lane(suite, start, end, booking)
    booking.suite, booking.start_date, booking.end_date = suite, start, end
    # The confirmation (and its signature) stays as it was given, as history: what it
    # confirmed no longer holds, so the booking is tentative again.
    if booking.status == BookingStatus.CONFIRMED:
        _move_to(booking, BookingStatus.TENTATIVE)
        booking.confirmed_by, booking.confirmed_at, booking.confirmed_problems = None, None, []
    _save(booking, actor=actor, reason=reason)
    _release(booking, actor=actor, reason=f"Booking moved: {reason}")
    _reserve(booking, plan, actor=actor)
    return booking


@transaction.atomic
def cancel(*, actor: User, booking: Booking, reason: str) -> Booking:
    """Cancel a booking with a reason; its suite days and reagent reservations are freed."""
    require(actor, "scheduling.change_booking", "cancel bookings", site=booking.site)
    reason = require_reason(reason)
    booking = _locked(booking)
    _check_active(booking, "cancelled")
    _check_order_not_started(booking, "cancelled")
    return _cancel(actor=actor, booking=booking, reason=reason)


def _cancel(*, actor: User, booking: Booking, reason: str) -> Booking:
    _check_active(booking, "cancelled")
    _move_to(booking, BookingStatus.CANCELLED)
    booking.cancel_reason = reason
    _save(booking, actor=actor, reason=reason)
    _release(booking, actor=actor, reason=f"Booking cancelled: {reason}")
    return booking


def free_booking_of_cancelled_order(*, order: Order, actor: User, reason: str) -> None:
    """Listener of custody's ``order_cancelled``, in the cancellation's transaction: the
    order's active booking is cancelled with the order's reason (custody has checked who may
    cancel the order)."""
    for booking in Booking.objects.active().filter(order=order):
        _cancel(actor=actor, booking=_locked(booking), reason=f"Order cancelled: {reason}")


def release_reservations_of_order_in_manufacturing(*, order: Order, actor: User, reason: str):
    """Listener of custody's ``order_entered_manufacturing``, in that transaction: the
    material is in manufacturing and draws its reagents at the point of use, so what its
    booking reserved is released (the booking stays, for the suite days, until completed)."""
    for booking in Booking.objects.active().filter(order=order):
        _release(_locked(booking), actor=actor, reason=f"Order in manufacturing: {reason}")


@transaction.atomic
def complete(*, actor: User, booking: Booking, reason: str) -> Booking:
    """The booked manufacturing has ended (batch execution), whether or not the booking was
    confirmed; reservations end with it."""
    require(actor, "scheduling.change_booking", "complete bookings", site=booking.site)
    reason = require_reason(reason)
    booking = _locked(booking)
    _check_active(booking, "completed")
    _move_to(booking, BookingStatus.COMPLETED)
    _save(booking, actor=actor, reason=reason)
    _release(booking, actor=actor, reason=f"Booking completed: {reason}")
    return booking


def confirm(
    *,
    actor: User,
    booking: Booking,
    reason: str = "",
    password: str = "",
    request: HttpRequest | None = None,
) -> Booking:
    """Confirm a tentative booking. Without problems, a planner confirms it. With problems,
    only someone allowed to (a Supervisor) can, with a reason and their signature. Each
    confirmation is its own append-only record (suite, lane, days, problems), the one the
    signature covers; if the problems changed between the look and the write, nothing is
    confirmed (``feasibility_changed``)."""
    require(actor, "scheduling.change_booking", "confirm bookings", site=booking.site)
    booking = Booking.objects.select_related("order__patient", "suite__site").get(pk=booking.pk)
    plan = _plan(booking.order)
    found = feasibility.assess(
        order=booking.order,
        suite=booking.suite,
        start=booking.start_date,
        plan=plan,
        booking=booking,
    )
    seen = [p.as_dict() for p in found.problems]
    signer = None
    if found.problems:
        if not actor.has_perm("scheduling.confirm_booking_with_problems"):
            raise PermissionRefused(
                "The booking has problems (" + ", ".join(found.codes) + "); only a Supervisor "
                "can confirm it, with a reason and a signature.",
                code="problems_need_supervisor",
            )
        reason = require_reason(reason, "A reason for confirming despite the problems")
        signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        booking = _locked(booking)
        _check_active(booking, "confirmed")
        if booking.status != BookingStatus.TENTATIVE:
            raise SchedulingRefused("The booking is already confirmed.", code="already_confirmed")
        found = feasibility.assess(
            order=booking.order,
            suite=booking.suite,
            start=booking.start_date,
            plan=plan,
            booking=booking,
        )
        problems = [p.as_dict() for p in found.problems]
        if problems != seen:
            raise SchedulingRefused(
                "The booking's problems changed while confirming; look again.",
                code="feasibility_changed",
            )
        reason = reason.strip() or "Booking confirmed"
        _move_to(booking, BookingStatus.CONFIRMED)
        booking.confirmed_by, booking.confirmed_at = actor, timezone.now()
        booking.confirmed_problems = problems
        _save(booking, actor=actor, reason=reason)
        confirmation = BookingConfirmation(
            site=booking.site,
            booking=booking,
            suite=booking.suite,
            lane=booking.lane,
            start_date=booking.start_date,
            end_date=booking.end_date,
            problems=problems,
            confirmed_by=actor,
            confirmed_at=booking.confirmed_at,
            reason=reason,
        )
        audit.stamp(confirmation, user=actor, reason=reason)
        confirmation.save()
        if problems:
            apply_signature(
                signer=signer, record=confirmation, meaning=Meaning.APPROVED, reason=reason
            )
            booking_confirmed_with_problems.send(
                sender=Booking, booking=booking, confirmation=confirmation, actor=actor
            )
    return booking


# --- reagent reservations --------------------------------------------------------------------
def _reserve(booking: Booking, plan, *, actor: User) -> list[ReagentReservation]:
    """Reserve, first to expire first, what is free of each material for the booking's days
    (as much as there is: a shortfall shows as a problem, it does not stop the booking)."""
    needs = list(plan.materials.all())
    # Lock the candidate lots (in one order, so two bookings cannot deadlock) before reading
    # what is free: a booking reserving the same stock at the same moment waits for this one
    # and then sees its reservations.
    list(
        ReagentLot.objects.select_for_update()
        .filter(
            site=booking.site,
            material_id__in=[n.material_id for n in needs],
            status=LotStatus.RELEASED,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    free = feasibility.free_stock(
        booking.site, [n.material_id for n in needs], booking.end_date, booking
    )
    made = []
    for need in needs:
        wanted = need.quantity
        for lot, left in free.get(need.material_id, []):
            if wanted <= 0:
                break
            take = min(left, wanted)
            reservation = ReagentReservation(
                site=booking.site,
                booking=booking,
                material_id=need.material_id,
                lot=lot,
                quantity=take,
            )
            audit.stamp(reservation, user=actor, reason=f"Reserved for booking {booking.pk}")
            reservation.save()
            made.append(reservation)
            wanted -= take
    return made


def _release(booking: Booking, *, actor: User, reason: str) -> None:
    for reservation in booking.reservations.filter(status=ReagentReservation.Status.ACTIVE):
        reservation.status = ReagentReservation.Status.RELEASED
        reservation.released_reason = reason
        audit.stamp(reservation, user=actor, reason=reason)
        reservation.save()


def reserved_quantity(booking: Booking) -> dict[int, Decimal]:
    """What the booking holds now, per material id."""
    held: dict[int, Decimal] = {}
    for reservation in booking.reservations.filter(status=ReagentReservation.Status.ACTIVE):
        held[reservation.material_id] = (
            held.get(reservation.material_id, Decimal(0)) + reservation.quantity
        )
    return held
