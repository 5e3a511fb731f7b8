"""Feasibility over the whole window: each problem alone, several together, and the
predicted release date."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from deviations.services import raise_deviation
from mes import audit
from scheduling import feasibility, services
from scheduling.models import Equipment
from tests.scheduling.factories import QC_DAYS, TARGET_DAYS, another_order, make_suite, roster
from training.models import Certification


def assess(world, start=None, suite=None, booking=None):
    return feasibility.assess(
        order=world.order,
        suite=suite or world.suite,
        start=start or world.start,
        plan=world.plan,
        booking=booking,
    )


def codes(found) -> list[str]:
    return sorted(found.codes)


def edit(record, user, **fields):
    for name, value in fields.items():
        setattr(record, name, value)
    audit.stamp(record, user=user, reason="Test set-up")
    record.save()


@pytest.mark.req("SCH-FEA-001:together")
def test_a_booking_with_everything_in_place_has_no_problem(world):
    found = assess(world)
    assert found.problems == []
    assert found.feasible


@pytest.mark.req("SCH-FEA-001:suite")
def test_a_suite_fully_booked_on_some_days_is_a_problem(world):
    services.book(
        actor=world.planner, order=another_order(world), suite=world.suite, start=world.end
    )  # overlaps our last day only
    found = assess(world)
    assert codes(found) == ["suite_booked"]
    assert found.problems[0].date == world.end


@pytest.mark.req("SCH-FEA-001:suite")
def test_a_suite_on_hold_is_a_problem(world):
    services.change_suite_status(
        actor=world.supervisor,
        suite=world.suite,
        status="on_hold",
        reason="Particle counts under investigation",
    )
    world.suite.refresh_from_db()
    assert codes(assess(world)) == ["suite_on_hold"]


@pytest.mark.req("SCH-FEA-001:suite")
def test_a_maintenance_window_inside_the_booking_is_a_problem(world):
    zone = world.site.zone
    starts = dt.datetime.combine(world.start + dt.timedelta(days=4), dt.time(8), tzinfo=zone)
    services.plan_maintenance(
        actor=world.supervisor,
        suite=world.suite,
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=10),
        reason="HVAC filter change",
    )
    found = assess(world)
    assert codes(found) == ["suite_in_maintenance"]
    assert "HVAC filter change" in found.problems[0].message
    # a booking whose last day is the window's day meets it; one ending the day before, or
    # starting the day after, does not
    assert "suite_in_maintenance" in assess(world, start=world.start - dt.timedelta(days=5)).codes
    assert (
        "suite_in_maintenance" not in assess(world, start=world.start - dt.timedelta(days=6)).codes
    )
    assert (
        "suite_in_maintenance" not in assess(world, start=world.start + dt.timedelta(days=5)).codes
    )


@pytest.mark.req("SCH-FEA-001:suite")
def test_a_holding_deviation_on_the_suite_is_a_problem(world):
    with audit.acting_as(world.supervisor):
        raise_deviation(
            reporter=world.supervisor,
            site=world.site,
            subject=world.suite,
            title="Grade B action limit",
            description="Settle plate 3 CFU",
            classification="critical",
            patient_impact="unknown",
        )
    assert codes(assess(world)) == ["suite_holding_deviation"]


@pytest.mark.req("SCH-FEA-001:operators")
def test_a_certification_lapsing_mid_window_is_a_problem_on_each_day_after(world):
    # Ann's expansion certification ends on day 5 of the process
    cert = Certification.objects.get(
        person=world.op_a, qualification=world.qualifications["EXPANSION"]
    )
    edit(cert, world.admin, valid_until=world.start + dt.timedelta(days=4))
    found = assess(world)
    assert set(found.codes) == {"operators_not_certified"}
    assert [p.date for p in found.problems] == [
        world.start + dt.timedelta(days=n) for n in range(5, 10)
    ]
    assert "EXPANSION" in found.problems[0].message


@pytest.mark.req("SCH-FEA-001:operators")
def test_a_day_without_anyone_rostered_is_a_problem(world):
    from scheduling.models import RosterEntry

    services.withdraw_from_roster(
        actor=world.planner, entry=RosterEntry.objects.get(day=world.start), reason="Sick leave"
    )
    found = assess(world)
    assert [(p.code, p.date) for p in found.problems] == [("operators_not_certified", world.start)]
    assert "CELL-SEL" in found.problems[0].message


@pytest.mark.req("SCH-FEA-001:equipment")
def test_needed_equipment_out_of_service_is_missing(world, password):
    services.change_equipment_status(
        actor=world.supervisor,
        equipment=world.separator,
        status="out_of_service",
        reason="Pump fault",
    )
    found = assess(world)
    assert codes(found) == ["equipment_missing"]
    assert "CELL-SEP" in found.problems[0].message


@pytest.mark.req("SCH-FEA-001:equipment")
def test_equipment_due_for_calibration_inside_the_window_is_a_problem(world):
    due = world.start + dt.timedelta(days=3)
    edit(world.reactor, world.admin, calibration_due=due)
    found = assess(world)
    assert [(p.code, p.date) for p in found.problems] == [("equipment_calibration_due", due)]
    # a second bioreactor in order covers for it
    from tests.scheduling.factories import make_equipment

    make_equipment(world.admin, world.suite, world.bioreactor, "BR-02")
    assert assess(world).problems == []


@pytest.mark.req("SCH-FEA-001:equipment")
def test_equipment_not_clean_through_the_window_is_a_problem(world):
    clean_until = dt.datetime.combine(
        world.start + dt.timedelta(days=2), dt.time(12), tzinfo=world.site.zone
    )
    edit(world.reactor, world.admin, clean_until=clean_until)
    assert codes(assess(world)) == ["equipment_not_clean"]
    edit(world.reactor, world.admin, cleaning_status=Equipment.Cleaning.DIRTY, clean_until=None)
    found = assess(world)
    assert codes(found) == ["equipment_not_clean"]
    assert "dirty" in found.problems[0].message


@pytest.mark.req("SCH-FEA-001:reagents")
def test_stock_reserved_by_other_bookings_is_not_free(world):
    # two other patients' bookings in other suites reserve the 5 mL of vector
    for n, code in enumerate(("S2", "S3")):
        services.book(
            actor=world.planner,
            order=another_order(world, f"X{n}", f"H-9{n}"),
            suite=make_suite(world.admin, world.site, code),
            start=world.start,
        )
    found = assess(world)
    # 5 mL of vector and 1000 mL of medium, of which 2 × 450 mL are reserved
    assert codes(found) == ["reagent_short", "reagent_short"]
    assert "LV-CD19: 2.5 mL needed; 0 mL" in found.problems[0].message
    assert "MED-TEX: 450 mL needed; 100 mL" in found.problems[1].message


@pytest.mark.req("SCH-FEA-001:reagents")
def test_a_lot_expiring_inside_the_window_does_not_cover_it(world):
    edit(world.vector_lot, world.admin, expiry_date=world.start + dt.timedelta(days=3))
    assert codes(assess(world)) == ["reagent_short"]


@pytest.mark.req("SCH-FEA-001:reagents")
def test_a_booking_counts_its_own_reservations_as_its_own(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    assert assess(world, booking=booking).problems == []


@pytest.mark.req("SCH-FEA-001:together")
def test_several_problems_are_all_listed_each_with_its_reason(world):
    edit(world.reactor, world.admin, calibration_due=world.start + dt.timedelta(days=1))
    edit(world.vector_lot, world.admin, expiry_date=world.start)
    services.change_suite_status(
        actor=world.supervisor, suite=world.suite, status="maintenance", reason="Repainting"
    )
    world.suite.refresh_from_db()
    cert = Certification.objects.get(
        person=world.op_a, qualification=world.qualifications["EXPANSION"]
    )
    edit(cert, world.admin, valid_until=world.start + dt.timedelta(days=8))
    late = world.start + dt.timedelta(days=30)  # also after the target
    from tests.scheduling.factories import roster

    roster(world, world.op_a, world.suite, late, late + dt.timedelta(days=9))
    found = assess(world, start=late)
    assert codes(found) == sorted(
        [
            "suite_in_maintenance",
            "equipment_calibration_due",
            "reagent_short",
            "release_after_target",
        ]
        + ["operators_not_certified"] * 9
    )  # days 2-10
    assert all(p.message for p in found.problems)


@pytest.mark.req("SCH-FEA-002")
def test_the_predicted_release_date_of_a_known_process(world):
    # collection day C; receipt C+1; start C+2; ten days to C+11; 14 days QC: release C+25
    collection = world.order.planned_collection_date
    found = assess(world)
    assert (found.start, found.end) == (
        collection + dt.timedelta(days=2),
        collection + dt.timedelta(days=11),
    )
    assert found.predicted_release == collection + dt.timedelta(days=25)
    assert found.target_release == collection + dt.timedelta(days=28)
    assert "release_after_target" not in found.codes
    # four days later the release misses the 28-day target by one day
    late = assess(world, start=world.start + dt.timedelta(days=4))
    assert late.predicted_release == collection + dt.timedelta(days=29)
    assert [p.code for p in late.problems if p.code == "release_after_target"] == [
        "release_after_target"
    ]


@pytest.mark.req("SCH-FEA-002")
def test_starting_before_the_material_can_be_there_is_a_problem(world):
    found = assess(world, start=world.start - dt.timedelta(days=1))
    assert "starts_before_receipt" in found.codes


@pytest.mark.req("SCH-AVL-001")
def test_suite_is_available_follows_status_windows_and_deviations(world):
    from scheduling.selectors import suite_is_available

    now = timezone.now()
    assert suite_is_available(world.suite, now)
    services.plan_maintenance(
        actor=world.supervisor,
        suite=world.suite,
        starts_at=now + dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=3),
        reason="Filter change",
    )
    assert suite_is_available(world.suite, now)
    assert not suite_is_available(world.suite, now + dt.timedelta(hours=2))
    assert suite_is_available(world.suite, now + dt.timedelta(hours=4))
    with audit.acting_as(world.supervisor):
        raise_deviation(
            reporter=world.supervisor,
            site=world.site,
            subject=world.suite,
            title="Action limit",
            description="Settle plate",
            classification="critical",
        )
    assert not suite_is_available(world.suite, now)
    other = make_suite(world.admin, world.site, "S9")
    services.change_suite_status(
        actor=world.supervisor, suite=other, status="on_hold", reason="Leak"
    )
    other.refresh_from_db()
    assert not suite_is_available(other, now)


@pytest.mark.req("SCH-FEA-001:operators")
def test_one_rostered_person_covers_one_need_of_a_day(world):
    from tests.custody.factories import ProductFactory

    # a process whose first day needs two people: one for cell selection, one for expansion
    plan = services.define_process_plan(
        actor=world.admin,
        product=ProductFactory(code="CART-22", name="Two-day test process"),
        duration_days=2,
        qc_release_days=QC_DAYS,
        target_vein_to_vein_days=TARGET_DAYS,
        receipt_days_after_collection=1,
        start_offset_days=1,
        staffing=[(1, "CELL-SEL", 1), (1, "EXPANSION", 1), (2, "EXPANSION", 1)],
    )

    def found():
        return feasibility.assess(
            order=world.order, suite=world.suite, start=world.start, plan=plan
        )

    # Ann alone is rostered, certified for both: she cannot be two people
    problems = found().problems
    assert [(p.code, p.date) for p in problems] == [("operators_not_certified", world.start)]
    assert "One person covers one need a day" in problems[0].message
    # with Ben rostered too, the day is covered
    roster(world, world.op_b, world.suite, world.start, world.start)
    assert found().problems == []
