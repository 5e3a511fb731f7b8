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
