"""On PostgreSQL: double booking is refused by the database, even for parallel requests."""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from mes import audit
from mes.errors import DomainError
from scheduling import services
from scheduling.models import Booking
from scheduling.services import bookings
from tests.scheduling.factories import another_order, build_plant

pytestmark = pytest.mark.postgres


@pytest.fixture
def plant(transactional_db):
    from mes.roles import ensure_roles

    ensure_roles()
    return build_plant()


@pytest.mark.req("SCH-BKG-006:constraint")
def test_the_database_refuses_an_overlapping_active_booking_written_directly(plant):
    first = services.book(actor=plant.planner, order=plant.order, suite=plant.suite)
    other = another_order(plant)
    clash = Booking(
        site=plant.site,
        order=other,
        suite=plant.suite,
        lane=1,
        start_date=first.end_date,
        end_date=first.end_date,
        booked_by=plant.planner,
    )
    audit.stamp(clash, user=plant.planner, reason="Written past the service")
    with pytest.raises(IntegrityError, match="scheduling_booking_no_overlap"), transaction.atomic():
        clash.save()
    # a cancelled booking does not hold the days
    services.cancel(actor=plant.planner, booking=first, reason="Moved to another plant")
    clash.pk = None
    clash.save()
    assert Booking.objects.filter(order=other).count() == 1


@pytest.mark.req("SCH-BKG-006:concurrent")
def test_of_parallel_bookings_of_one_suite_exactly_one_succeeds(plant, monkeypatch):
    orders = [plant.order] + [another_order(plant, f"P{n}", f"H-1{n:02d}") for n in range(7)]
    start = threading.Barrier(len(orders))
    # Every request has looked for a free lane, and found lane 1 free, before any of them
    # writes: the service's own check cannot tell them apart, only the database can.
    checked = threading.Barrier(len(orders), timeout=30)
    free_lane = bookings._free_lane

    def free_lane_then_wait(*args, **kwargs):
        lane = free_lane(*args, **kwargs)
        checked.wait()
        return lane

    monkeypatch.setattr(bookings, "_free_lane", free_lane_then_wait)
    outcomes: list[str] = []
    guard = threading.Lock()

    def book(order) -> None:
        try:
            start.wait()
            services.book(actor=plant.planner, order=order, suite=plant.suite, start=plant.start)
            outcome = "ok"
        except DomainError as error:
            outcome = error.code
        except Exception as error:  # noqa: BLE001 - any other failure is reported below
            outcome = f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=book, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == sorted(["ok"] + ["suite_taken"] * (len(orders) - 1))
    assert Booking.objects.filter(suite=plant.suite).count() == 1


def run_together(calls) -> list[str]:
    """Run each call in its own thread and connection; the outcome of each: "ok" or the
    refusal's code (any other failure by name)."""
    start = threading.Barrier(len(calls))
    outcomes: list[str] = []
    guard = threading.Lock()

    def run(call) -> None:
        try:
            start.wait()
            call()
            outcome = "ok"
        except DomainError as error:
            outcome = error.code
        except Exception as error:  # noqa: BLE001 - any other failure is reported
            outcome = f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.req("SCH-BKG-006:lanes")
def test_parallel_bookings_of_a_suite_with_two_lanes_both_succeed(plant, monkeypatch):
    from tests.scheduling.factories import make_suite

    double = make_suite(plant.admin, plant.site, "S2", capacity=2)
    orders = [plant.order, another_order(plant)]
    # Both requests find lane 1 free before either writes.
    checked = threading.Barrier(len(orders), timeout=30)
    free_lane = bookings._free_lane

    def free_lane_then_wait(*args, **kwargs):
        lane = free_lane(*args, **kwargs)
        checked.wait()
        return lane

    monkeypatch.setattr(bookings, "_free_lane", free_lane_then_wait)
    outcomes = run_together(
        [
            lambda order=order: services.book(
                actor=plant.planner, order=order, suite=double, start=plant.start
            )
            for order in orders
        ]
    )
    assert outcomes == ["ok", "ok"]
    assert sorted(Booking.objects.filter(suite=double).values_list("lane", flat=True)) == [1, 2]


@pytest.mark.req("SCH-RES-004")
def test_parallel_bookings_never_reserve_more_than_a_lot_holds(plant, monkeypatch):
    from decimal import Decimal

    from scheduling import feasibility
    from scheduling.models import ReagentReservation
    from tests.scheduling.factories import make_suite

    # the vector lot holds one booking's 2.5 mL
    lot = plant.vector_lot
    lot.quantity_on_hand = Decimal("2.5")
    audit.stamp(lot, user=plant.admin, reason="Test set-up")
    lot.save()
    other_suite = make_suite(plant.admin, plant.site, "S2")
    second = another_order(plant)
    # Whoever reads the free stock first waits (up to two seconds) for the other to read it
    # too: without a lock both read 2.5 mL free; with it, the second reads after the first
    # has committed.
    both_read = threading.Barrier(2, timeout=2)
    free_stock = feasibility.free_stock

    def read_then_wait(*args, **kwargs):
        free = free_stock(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return free

    monkeypatch.setattr(feasibility, "free_stock", read_then_wait)
    outcomes = run_together(
        [
            lambda: services.book(
                actor=plant.planner, order=plant.order, suite=plant.suite, start=plant.start
            ),
            lambda: services.book(
                actor=plant.planner,
                order=second,
                suite=other_suite,
                start=plant.start,
            ),
        ]
    )
    assert outcomes == ["ok", "ok"]  # a shortfall is a problem, not a refusal
    reserved = ReagentReservation.objects.filter(lot=lot, status="active")
    assert sum((r.quantity for r in reserved), Decimal(0)) == Decimal("2.5")
