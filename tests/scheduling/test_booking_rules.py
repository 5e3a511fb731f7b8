"""The rules a review found broken: a signed confirmation survives a move, bookings of orders
in manufacturing stay put, reservations end with manufacturing, no booking starts in the past,
and a confirmation signs exactly what the Supervisor saw."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

from custody.models import Order
from custody.services.orders import advance_order_from_batch
from mes import audit
from mes.models import ElectronicSignature
from mes.services.signatures import verify
from scheduling import feasibility, services
from scheduling.feasibility import Problem
from scheduling.models import (
    Booking,
    BookingConfirmation,
    BookingStatus,
    ReagentReservation,
    RosterEntry,
)
from tests.refusals import refused
from tests.scheduling.factories import another_order, days_from_today


def set_up(record, user, **fields):
    """Set-up past the services, where the flow is not what the test is about."""
    for name, value in fields.items():
        setattr(record, name, value)
    audit.stamp(record, user=user, reason="Test set-up")
    record.save()


def with_a_problem(world, booking) -> None:
    last = RosterEntry.objects.get(day=booking.end_date)
    services.withdraw_from_roster(actor=world.planner, entry=last, reason="Holiday")


def supervisor_confirms(world, booking, password):
    return services.confirm(
        actor=world.supervisor,
        booking=booking,
        password=password,
        reason="Cover arranged with the BOS team",
    )


def in_manufacturing(world, order) -> Order:
    """The material is received (set up), then the batch record starts manufacturing."""
    set_up(order, world.planner, status=Order.Status.RECEIVED)
    return advance_order_from_batch(
        actor=world.planner,
        order=order,
        status=Order.Status.IN_MANUFACTURING,
        reason="Batch LEI-26-0042 started",
    )


def active(booking) -> list[ReagentReservation]:
    return list(booking.reservations.filter(status=ReagentReservation.Status.ACTIVE))


# --- 1: the Supervisor's approval is its own signed record --------------------------------
@pytest.mark.req("SCH-CNF-003")
def test_a_signed_confirmation_is_its_own_record_and_survives_a_move(world, password):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    with_a_problem(world, booking)
    supervisor_confirms(world, booking, password)
    confirmation = BookingConfirmation.objects.get(booking=booking)
    signature = ElectronicSignature.objects.get()
    assert signature.object_id == confirmation.pk and verify(signature).valid
    assert (confirmation.suite, confirmation.start_date, confirmation.end_date) == (
        world.suite,
        booking.start_date,
        booking.end_date,
    )
    assert [p["code"] for p in confirmation.problems] == ["operators_not_certified"]
    # when the booking moves a day later
    services.move(
        actor=world.planner,
        booking=booking,
        start=booking.start_date + dt.timedelta(days=1),
        reason="Apheresis a day late",
    )
    # then it is tentative again, and the signed confirmation is unchanged history
    booking.refresh_from_db()
    assert (booking.status, booking.confirmed_by) == (BookingStatus.TENTATIVE, None)
    kept = BookingConfirmation.objects.get(pk=confirmation.pk)
    assert kept.start_date == confirmation.start_date
    assert verify(ElectronicSignature.objects.get()).valid
    # and the database refuses to change it
    with pytest.raises(DatabaseError), transaction.atomic():
        set_up(kept, world.planner, start_date=booking.start_date)


@pytest.mark.req("SCH-CNF-003")
def test_a_booking_confirmed_again_after_a_move_has_two_confirmations(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    services.confirm(actor=world.planner, booking=booking)
    later = booking.start_date + dt.timedelta(days=1)
    services.roster(
        actor=world.planner,
        person=world.op_a,
        suite=world.suite,
        day=booking.end_date + dt.timedelta(days=1),
        shift=world.shift,
    )
    services.move(actor=world.planner, booking=booking, start=later, reason="A day late")
    services.confirm(actor=world.planner, booking=booking)
    starts = list(
        BookingConfirmation.objects.filter(booking=booking)
        .order_by("pk")
        .values_list("start_date", flat=True)
    )
    assert starts == [later - dt.timedelta(days=1), later]


# --- 15: a confirmation signs what the Supervisor saw ---------------------------------------
@pytest.mark.req("SCH-CNF-004")
def test_a_confirmation_is_refused_when_the_problems_change_while_confirming(
    world, password, monkeypatch
):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    with_a_problem(world, booking)
    assess = feasibility.assess
    calls = []

    def problems_change(**kwargs):
        found = assess(**kwargs)
        calls.append(found)
        if len(calls) > 1:  # under the lock, a new problem has appeared
            found.problems.append(Problem("equipment_missing", "BR-01 taken out of service."))
        return found

    monkeypatch.setattr(feasibility, "assess", problems_change)
    with refused("feasibility_changed"):
        supervisor_confirms(world, booking, password)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.TENTATIVE and booking.history.count() == 1
    assert not BookingConfirmation.objects.exists()
    assert not ElectronicSignature.objects.exists()


# --- 4: a booking in manufacturing stays -------------------------------------------------
@pytest.mark.req("SCH-BKG-007")
def test_a_booking_of_an_order_in_manufacturing_cannot_be_moved_or_cancelled(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    in_manufacturing(world, world.order)
    with refused("order_in_manufacturing"):
        services.move(
            actor=world.planner,
            booking=booking,
            start=booking.start_date + dt.timedelta(days=1),
            reason="Swap",
        )
    with refused("order_in_manufacturing"):
        services.cancel(actor=world.planner, booking=booking, reason="Patient withdrew")
    booking.refresh_from_db()
    assert (booking.status, booking.start_date) == (BookingStatus.TENTATIVE, world.start)
    assert booking.history.count() == 1


@pytest.mark.req("SCH-BKG-003")
def test_a_refused_move_or_cancel_of_a_cancelled_booking_changes_nothing(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    services.cancel(actor=world.planner, booking=booking, reason="Patient withdrew")
    with refused("booking_not_active"):
        services.cancel(actor=world.planner, booking=booking, reason="Again")
    with refused("booking_not_active"):
        services.move(
            actor=world.planner,
            booking=booking,
            start=booking.start_date + dt.timedelta(days=1),
            reason="Swap",
        )
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, "Patient withdrew")
    assert booking.history.count() == 2


# --- 3: reservations end with manufacturing --------------------------------------------------
@pytest.mark.req("SCH-RES-003")
def test_reservations_are_released_when_the_order_goes_into_manufacturing(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    assert active(booking)
    in_manufacturing(world, world.order)
    assert not active(booking)
    assert set(booking.reservations.values_list("released_reason", flat=True)) == {
        "Order in manufacturing: Batch LEI-26-0042 started"
    }
    booking.refresh_from_db()
    assert booking.status == BookingStatus.TENTATIVE  # the suite days stay booked
    # the batch consumes what it needs; another order sees what is left as free
    set_up(world.vector_lot, world.planner, quantity_on_hand=Decimal("2.5"))
    other = another_order(world)
    found = feasibility.assess(
        order=other,
        suite=world.suite,
        start=booking.end_date + dt.timedelta(days=1),
        plan=world.plan,
    )
    assert "reagent_short" not in found.codes


@pytest.mark.req("SCH-RES-003")
def test_reservations_of_an_order_in_manufacturing_or_of_past_days_hold_no_stock(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    set_up(world.vector_lot, world.planner, quantity_on_hand=Decimal("2.5"))
    site, vector = world.site, world.vector.pk
    far = days_from_today(60)

    def free() -> Decimal:
        return sum(
            (left for _, left in feasibility.free_stock(site, [vector], far).get(vector, [])),
            Decimal(0),
        )

    assert free() == 0  # the active booking holds the 2.5 mL left
    # its order in manufacturing (status written directly: no release by the listener)
    set_up(world.order, world.planner, status=Order.Status.IN_MANUFACTURING)
    assert free() == Decimal("2.5")
    set_up(world.order, world.planner, status=Order.Status.RECEIVED)
    assert free() == 0
    # its days over
    set_up(
        booking,
        world.planner,
        start_date=days_from_today(-12),
        end_date=days_from_today(-1),
    )
    assert free() == Decimal("2.5")


# --- 16: never in the past -------------------------------------------------------------------
@pytest.mark.req("SCH-BKG-008")
def test_a_booking_cannot_start_or_be_moved_before_today(world):
    yesterday = days_from_today(-1)
    with refused("start_in_past", field="start_date"):
        services.book(actor=world.planner, order=world.order, suite=world.suite, start=yesterday)
    assert not Booking.objects.exists()
    booking = services.book(
        actor=world.planner, order=world.order, suite=world.suite, start=days_from_today(0)
    )
    with refused("start_in_past", field="start_date"):
        services.move(actor=world.planner, booking=booking, start=yesterday, reason="Earlier")
    booking.refresh_from_db()
    assert booking.start_date == days_from_today(0) and booking.history.count() == 1


@pytest.mark.req("SCH-BKG-008")
def test_a_booking_of_material_collected_long_ago_starts_today_by_default(world):
    set_up(world.order, world.planner, planned_collection_date=days_from_today(-30))
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    assert booking.start_date == days_from_today(0)
