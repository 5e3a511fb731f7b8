"""The predicted release date where people look for it: on the patient's page and in the
order's API (custody's), for one order and for a page of them at no extra cost per order."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling import selectors, services
from tests.permission_matrix import api_client
from tests.scheduling.factories import another_order

pytestmark = pytest.mark.django_db
ORDERS = "/api/v1/custody/orders/"


def _expected(order) -> dict:
    prediction = selectors.prediction_for(order)
    return {"date": prediction.predicted_release.isoformat(),
            "target": prediction.target_release.isoformat(),
            "on_target": prediction.on_target, "basis": prediction.basis}


@pytest.mark.req("SCH-PRED-001:page")
def test_the_patient_page_shows_the_predicted_release_against_the_target(client, world):
    services.book(actor=world.planner, order=world.order, suite=world.suite)
    prediction = selectors.prediction_for(world.order)
    client.force_login(world.planner)
    html = client.get(reverse("custody:patient-detail", args=[world.order.patient_id])
                      ).content.decode()
    assert 'id="predicted-release"' in html
    assert prediction.predicted_release.isoformat() in html
    assert prediction.target_release.isoformat() in html
    assert f"From the booking in {world.suite.code}" in html


@pytest.mark.req("SCH-PRED-001:api")
def test_the_order_api_gives_the_predicted_release_of_one_order_and_of_a_page(world):
    services.book(actor=world.planner, order=world.order, suite=world.suite)
    other = another_order(world)
    client = api_client(world.planner)
    one = client.get(f"{ORDERS}{world.order.pk}/").json()["facts"]["predicted_release"]
    assert {k: one[k] for k in ("date", "target", "on_target", "basis")} == _expected(
        world.order)
    listed = {row["id"]: row["facts"]["predicted_release"]
              for row in client.get(ORDERS).json()["results"]}
    assert listed[world.order.pk]["basis"] == "booking"
    assert {k: listed[other.pk][k] for k in ("date", "target", "on_target", "basis")} == \
        _expected(other)


@pytest.mark.req("SCH-PRED-001:queries")
def test_the_order_list_costs_the_same_queries_for_2_and_6_orders(world):
    client = api_client(world.planner)
    another_order(world, initials="AA", hospital_number="H-1001")
    client.get(ORDERS)
    with CaptureQueriesContext(connection) as few:
        assert client.get(ORDERS).status_code == 200
    for n in range(4):
        another_order(world, initials="B" + "CDEF"[n], hospital_number=f"H-20{n}")
    with CaptureQueriesContext(connection) as many:
        body = client.get(ORDERS).json()
    assert len(body["results"]) == 6
    assert len(many) == len(few)
