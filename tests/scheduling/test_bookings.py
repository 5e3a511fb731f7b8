"""Booking, moving, confirming and cancelling a patient's manufacturing slot."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from custody.services.orders import advance_order
from mes.models import ElectronicSignature
from scheduling import services
from scheduling.models import Booking, BookingStatus, ReagentReservation
from tests.refusals import refused
from tests.scheduling.factories import another_order, make_suite


def active_reservations(booking):
    return {
        (r.lot_id, r.quantity)
        for r in booking.reservations.filter(status=ReagentReservation.Status.ACTIVE)
    }


@pytest.mark.req("SCH-BKG-001")
def test_a_booking_starts_after_the_planned_receipt_for_the_process_duration(world):
    # when the planner books the order without a start day
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    # then it starts the offset after the planned receipt and lasts the process's days
    collection = world.order.planned_collection_date
    assert booking.start_date == collection + dt.timedelta(days=2)  # receipt +1, offset +1
    assert booking.end_date == booking.start_date + dt.timedelta(days=9)
    assert (booking.status, booking.lane, booking.site) == (BookingStatus.TENTATIVE, 1, world.site)
    assert booking.history.count() == 1


@pytest.mark.req("SCH-BKG-002")
def test_a_second_booking_of_the_same_suite_on_overlapping_days_is_refused(world):
    services.book(actor=world.planner, order=world.order, suite=world.suite)
    other = another_order(world)
    # when another order is booked into the same suite two days later (overlapping)
    with refused("suite_taken", field="start_date"):
        services.book(
            actor=world.planner,
            order=other,
            suite=world.suite,
            start=world.start + dt.timedelta(days=2),
        )
    # then nothing of it was written
    assert Booking.objects.filter(order=other).count() == 0


@pytest.mark.req("SCH-BKG-002")
def test_a_suite_with_capacity_two_takes_two_bookings_on_the_same_days(world):
    double = make_suite(world.admin, world.site, "S2", capacity=2)
    first = services.book(actor=world.planner, order=world.order, suite=double)
    second = services.book(
        actor=world.planner, order=another_order(world), suite=double, start=first.start_date
    )
    assert {first.lane, second.lane} == {1, 2}
    with refused("suite_taken"):
        services.book(
            actor=world.planner,
            order=another_order(world, "CD", "H-3"),
            suite=double,
            start=first.start_date,
        )


@pytest.mark.req("SCH-BKG-003")
def test_moving_needs_a_reason_and_is_recorded_with_it(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    later = booking.start_date + dt.timedelta(days=3)
    with refused("reason_required", field="reason"):
        services.move(actor=world.planner, booking=booking, start=later, reason="  ")
    assert Booking.objects.get(pk=booking.pk).start_date == booking.start_date
    assert booking.history.count() == 1 and active_reservations(booking)
    # when moved with a reason
    moved = services.move(
        actor=world.planner,
        booking=booking,
        start=later,
        reason="Apheresis postponed by the clinic",
    )
    # then the new days are kept and the history row carries the reason
    assert (moved.start_date, moved.end_date) == (later, later + dt.timedelta(days=9))
    last = moved.history.first()
    assert (last.history_change_reason, last.history_user) == (
        "Apheresis postponed by the clinic",
        world.planner,
    )


@pytest.mark.req("SCH-BKG-003")
def test_cancelling_needs_a_reason_and_frees_the_days(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    with refused("reason_required"):
        services.cancel(actor=world.planner, booking=booking, reason="")
    booking.refresh_from_db()
    assert (booking.status, booking.history.count()) == (BookingStatus.TENTATIVE, 1)
    services.cancel(actor=world.planner, booking=booking, reason="Patient withdrew")
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, "Patient withdrew")
    assert booking.history.first().history_change_reason == "Patient withdrew"
    # the days are free again
    services.book(
        actor=world.planner, order=another_order(world), suite=world.suite, start=booking.start_date
    )


@pytest.mark.req("SCH-BKG-004")
def test_a_cancelled_order_frees_its_booking_and_reservations(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    assert active_reservations(booking)
    # when custody cancels the order
    advance_order(
        actor=world.planner, order=world.order, status="cancelled", reason="Disease progression"
    )
    # then the booking is cancelled with the order's reason, and nothing stays reserved
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancel_reason == "Order cancelled: Disease progression"
    assert not active_reservations(booking)


@pytest.mark.req("SCH-BKG-005")
def test_a_booking_is_refused_without_permission_or_for_another_sites_suite(world):
    with refused("permission_denied"):
        services.book(actor=world.op_a, order=world.order, suite=world.suite)
    from tests.custody.factories import plant

    elsewhere = plant(code="PLANT9", fin="G9999")
    from tests.mes.factories import person

    admin9 = person("Administrator", sites=[elsewhere], username="admin9")
    foreign = make_suite(admin9, elsewhere, "X1")
    with refused("wrong_site", field="suite"):
        services.book(actor=world.planner, order=world.order, suite=foreign)
    assert Booking.objects.count() == 0


@pytest.mark.req("SCH-BKG-005")
def test_an_order_is_booked_once(world):
    services.book(actor=world.planner, order=world.order, suite=world.suite)
    with refused("already_booked"):
        services.book(
            actor=world.planner, order=world.order, suite=make_suite(world.admin, world.site, "S3")
        )
    assert Booking.objects.filter(order=world.order).count() == 1


@pytest.mark.req("SCH-RES-001")
def test_a_booking_soft_reserves_its_reagents_first_to_expire_first(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    assert active_reservations(booking) == {
        (world.vector_lot.pk, Decimal("2.5")),
        (world.medium_lot.pk, Decimal("450")),
    }


@pytest.mark.req("SCH-RES-002")
def test_moving_a_booking_releases_its_reservations_and_takes_them_anew(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    old = set(booking.reservations.values_list("pk", flat=True))
    services.move(
        actor=world.planner,
        booking=booking,
        start=booking.start_date + dt.timedelta(days=1),
        reason="Suite swap",
    )
    released = ReagentReservation.objects.filter(pk__in=old)
    assert {r.status for r in released} == {ReagentReservation.Status.RELEASED}
    assert {r.released_reason for r in released} == {"Booking moved: Suite swap"}
    # and the moved booking holds the same quantities again, in new reservations
    assert active_reservations(booking) == {
        (world.vector_lot.pk, Decimal("2.5")),
        (world.medium_lot.pk, Decimal("450")),
    }
    assert (
        not set(
            booking.reservations.filter(status=ReagentReservation.Status.ACTIVE).values_list(
                "pk", flat=True
            )
        )
        & old
    )


@pytest.mark.req("SCH-CNF-001")
def test_a_booking_without_problems_is_confirmed_by_the_planner_without_signature(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    services.confirm(actor=world.planner, booking=booking)
    booking.refresh_from_db()
    assert (booking.status, booking.confirmed_by, booking.confirmed_problems) == (
        BookingStatus.CONFIRMED,
        world.planner,
        [],
    )
    assert not ElectronicSignature.objects.exists()


@pytest.mark.req("SCH-CNF-002")
def test_a_booking_with_problems_is_confirmed_only_by_a_supervisor_with_reason_and_signature(
    world, password
):
    # given a booking with a problem: nobody rostered on its last day
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    from scheduling.models import RosterEntry

    last = RosterEntry.objects.get(day=booking.end_date)
    services.withdraw_from_roster(actor=world.planner, entry=last, reason="Holiday")
    # the planner may not confirm it
    with refused("problems_need_supervisor"):
        services.confirm(actor=world.planner, booking=booking)
    # the supervisor needs a reason, and the right password
    with refused("reason_required"):
        services.confirm(actor=world.supervisor, booking=booking, password=password)
    with refused("wrong_password"):
        services.confirm(
            actor=world.supervisor,
            booking=booking,
            password="wrong",
            reason="Cover arranged with the BOS team",
        )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.TENTATIVE
    assert not ElectronicSignature.objects.exists()
    # when the supervisor confirms with a reason and signature
    services.confirm(
        actor=world.supervisor,
        booking=booking,
        password=password,
        reason="Cover arranged with the BOS team",
    )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert [p["code"] for p in booking.confirmed_problems] == ["operators_not_certified"]
    signature = ElectronicSignature.objects.get()
    assert (signature.signer, signature.meaning, signature.reason) == (
        world.supervisor,
        "approved",
        "Cover arranged with the BOS team",
    )
    from mes.services.signatures import verify

    assert verify(signature).valid


@pytest.mark.req("SCH-BKG-003")
def test_a_confirmed_booking_that_moves_is_tentative_again(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    services.confirm(actor=world.planner, booking=booking)
    moved = services.move(
        actor=world.planner,
        booking=booking,
        suite=make_suite(world.admin, world.site, "S4"),
        reason="S1 needed for a priority patient",
    )
    assert (moved.status, moved.confirmed_by) == (BookingStatus.TENTATIVE, None)


@pytest.mark.req("SCH-RES-002")
def test_a_completed_booking_releases_its_reservations(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    # a tentative booking completes too: the manufacturing happened
    services.complete(actor=world.planner, booking=booking, reason="Run finished")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.COMPLETED
    assert not active_reservations(booking)
    assert set(booking.reservations.values_list("released_reason", flat=True)) == {
        "Booking completed: Run finished"
    }
