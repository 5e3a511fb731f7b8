"""The lists that grow with the plant answer in a constant number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling import services
from tests.permission_matrix import api_client, ui_client
from tests.scheduling.factories import another_order, make_equipment, make_suite


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured)


def grow(world, n: int) -> None:
    """``n`` more suites, each with a piece of equipment, a booking and a logbook entry."""
    for i in range(n):
        suite = make_suite(world.admin, world.site, f"G{len(world.grown)}")
        piece = make_equipment(world.admin, suite, world.bioreactor, f"G-BR-{len(world.grown)}")
        services.record_use(actor=world.op_a, equipment=piece, batch_number=f"B-{i}")
        order = another_order(world, f"G{len(world.grown) % 10}", f"H-G{len(world.grown)}")
        services.book(
            actor=world.planner,
            order=order,
            suite=suite,
            start=world.start + dt.timedelta(days=i % 3),
        )
        world.grown.append(suite)


@pytest.mark.req("SCH-API-001")
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/scheduling/suites/",
        "/api/v1/scheduling/equipment/",
        "/api/v1/scheduling/bookings/",
        "/api/v1/scheduling/logbook/",
        "/scheduling/suites/",
    ],
)
def test_lists_keep_a_constant_number_of_queries(world, url):
    world.grown = []
    client = api_client(world.planner) if url.startswith("/api") else ui_client(world.planner)
    grow(world, 2)
    queries(client, url)  # warm the per-process caches (content types)
    few = queries(client, url)
    grow(world, 8)
    assert queries(client, url) == few


def booked_in_a_row(world, n: int) -> None:
    """``n`` more bookings of the suite, one after the other, each with a logbook entry."""
    for _ in range(n):
        last = max(b.end_date for b in world.booked)
        order = another_order(world, f"R{len(world.booked)}", f"H-R{len(world.booked)}")
        booking = services.book(
            actor=world.planner,
            order=order,
            suite=world.suite,
            start=last + dt.timedelta(days=1),
        )
        world.booked.append(booking)


@pytest.mark.req("SCH-API-007")
def test_the_suite_page_keeps_its_queries_as_its_bookings_grow(world):
    world.booked = [services.book(actor=world.planner, order=world.order, suite=world.suite)]
    client = ui_client(world.planner)
    url = f"/scheduling/suites/{world.suite.pk}/"
    queries(client, url)  # warm the per-process caches (content types)
    one = queries(client, url)
    booked_in_a_row(world, 3)
    assert queries(client, url) == one


@pytest.mark.req("SCH-API-007")
def test_one_assessment_runs_the_same_queries_for_a_short_or_a_long_window(world):
    from scheduling import feasibility
    from scheduling.models import ProcessPlan
    from tests.custody.factories import ProductFactory
    from tests.scheduling.factories import QC_DAYS, TARGET_DAYS, roster

    short = services.define_process_plan(
        actor=world.admin,
        product=ProductFactory(code="CART-22", name="Two-day test process"),
        duration_days=2,
        qc_release_days=QC_DAYS,
        target_vein_to_vein_days=TARGET_DAYS,
        receipt_days_after_collection=1,
        start_offset_days=1,
        staffing=[(1, "CELL-SEL", 1), (2, "EXPANSION", 1)],
        equipment=[("BIOREACTOR", 1), ("CELL-SEP", 1)],
        materials=[("LV-CD19", "2.5"), ("MED-TEX", "450")],
    )
    roster(world, world.op_b, world.suite, world.start, world.end)  # two people a day

    def count(plan) -> int:
        # as the services and pages load a plan: with its needs
        plan = ProcessPlan.objects.prefetch_related(
            "staffing__qualification", "equipment__equipment_type", "materials__material"
        ).get(pk=plan.pk)
        with CaptureQueriesContext(connection) as captured:
            feasibility.assess(order=world.order, suite=world.suite, start=world.start, plan=plan)
        return len(captured)

    count(world.plan)  # warm the per-process caches
    assert count(world.plan) == count(short)  # ten days with two people each, or two
