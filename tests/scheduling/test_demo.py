"""The demo plant: four suites with equipment, shifts, a roster, the custody demo's patients
booked, some bookings with the problems a planner must see; roles hold the right rights."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from scheduling import demo, feasibility
from scheduling.models import Booking, BookingConfirmation, Equipment, RosterEntry, Shift, Suite


def problems_by_patient():
    found = {}
    for booking in Booking.objects.select_related("order__patient", "suite__site"):
        plan = feasibility.plan_for(booking.order)
        result = feasibility.assess(
            order=booking.order,
            suite=booking.suite,
            start=booking.start_date,
            plan=plan,
            booking=booking,
        )
        found[booking.order.patient.initials] = set(result.codes)
    return found


@pytest.mark.req("SCH-DEM-001")
def test_the_demo_plant_is_booked_with_some_problems_and_loads_once(db):
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Suite.objects.filter(site__code="LEI").count() == 4
    assert Equipment.objects.filter(site__code="LEI").count() == 16
    assert Shift.objects.count() == 2
    days = set(RosterEntry.objects.values_list("day", flat=True))
    assert len(days) >= 14
    booked = problems_by_patient()
    # (the batch records demo books three more patients, whose batches it makes)
    assert {"AV", "BK", "CD", "DE", "EF", "FG", "GH"} <= set(booked)
    assert booked["AV"] == booked["BK"] == set()
    assert "equipment_calibration_due" in booked["CD"]
    # Olga's gowning lapses mid-run (the custody demo's collection of DE, a month before its
    # planned day, also puts the release after the target)
    assert "operators_not_certified" in booked["DE"]
    assert "reagent_short" in booked["FG"]
    confirmation = BookingConfirmation.objects.get(booking__order__patient__initials="CD")
    assert confirmation.signatures.count() == 1
    counts = (Booking.objects.count(), RosterEntry.objects.count())
    demo.load()
    assert (Booking.objects.count(), RosterEntry.objects.count()) == counts


@pytest.mark.req("SCH-RSC-001")
def test_planner_and_supervisor_roles_hold_the_scheduling_rights(db, roles):
    planner = set(Group.objects.get(name="Planner").permissions.values_list("codename", flat=True))
    supervisor = set(
        Group.objects.get(name="Supervisor").permissions.values_list("codename", flat=True)
    )
    assert {"add_booking", "change_booking", "add_rosterentry"} <= planner
    assert "confirm_booking_with_problems" not in planner
    assert {
        "confirm_booking_with_problems",
        "release_equipment",
        "change_suite_status",
    } <= supervisor
