"""The scheduling API: scoped reads, bookings with Idempotency-Key, move/confirm/cancel with a
reason, feasibility without writing, the predicted release date, logbook entries."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from scheduling.models import Booking, LogbookEntry, ReagentReservation
from tests.custody.factories import plant
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    API,
    NO_PERMISSION,
    OTHER_SITE,
    api_client,
    assert_permission_matrix,
    error_body_problem,
)
from tests.scheduling.factories import roster

BASE = "/api/v1/scheduling"


def post(client, url, data, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(url, json.dumps(data), content_type="application/json", **headers)


@pytest.fixture
def outsider(world):
    """A planner (with every scheduling permission) at another plant only."""
    return person("Planner", sites=[plant(code="PLANT2", fin="G2222")], username="planner2")


@pytest.fixture
def nobody(world):
    return person(None, sites=[world.site], username="nobody")


@pytest.mark.req("SCH-API-001")
@pytest.mark.parametrize(
    "path",
    [
        "suites/{suite}/",
        "equipment/{reactor}/",
        "bookings/{booking}/",
        "bookings/{booking}/feasibility/",
        "logbook/{entry}/",
    ],
)
def test_each_record_is_seen_only_at_its_site(world, outsider, nobody, path):
    from scheduling import services

    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    entry = services.record_use(actor=world.op_a, equipment=world.reactor, batch_number="B1")
    url = f"{BASE}/" + path.format(
        suite=world.suite.pk, reactor=world.reactor.pk, booking=booking.pk, entry=entry.pk
    )
    assert_permission_matrix(
        api_client,
        url,
        {NO_PERMISSION: nobody, OTHER_SITE: outsider, ALLOWED: world.planner},
        API,
        error_body=True,
    )


@pytest.mark.req("SCH-API-001")
def test_lists_hold_only_the_callers_sites(world, outsider):
    assert api_client(outsider).get(f"{BASE}/suites/").json()["results"] == []
    suites = api_client(world.planner).get(f"{BASE}/suites/").json()["results"]
    assert [(s["code"], s["available_now"]) for s in suites] == [("S1", True)]
    pieces = api_client(world.op_a).get(f"{BASE}/equipment/?suite=S1").json()["results"]
    assert [(p["identifier"], p["cleaning_status"]) for p in pieces] == [
        ("BR-01", "clean"),
        ("CS-01", "clean"),
    ]


@pytest.mark.req("SCH-API-002")
def test_a_booking_by_api_is_idempotent_and_moves_confirms_and_cancels_with_a_reason(world):
    client = api_client(world.planner)
    body = {"order": world.order.pk, "suite": world.suite.pk}
    first = post(client, f"{BASE}/bookings/", body, key="bk-1")
    assert first.status_code == 201, first.content
    again = post(client, f"{BASE}/bookings/", body, key="bk-1")
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (
        201,
        first.json(),
        "true",
    )
    assert Booking.objects.count() == 1
    booking = first.json()
    assert (booking["start_date"], booking["status"], booking["patient_coi"]) == (
        world.start.isoformat(),
        "tentative",
        world.order.patient.coi,
    )
    url = f"{BASE}/bookings/{booking['id']}/"
    # moving without a reason is a 400 with the one error body
    refused = post(client, url + "move/", {"start_date": "2030-01-01"})
    assert refused.status_code == 400 and error_body_problem(refused) is None
    later = world.start + dt.timedelta(days=1)
    roster(
        world,
        world.op_a,
        world.suite,
        world.end + dt.timedelta(days=1),
        world.end + dt.timedelta(days=1),
    )
    moved = post(
        client,
        url + "move/",
        {"start_date": later.isoformat(), "reason": "Apheresis one day later"},
    )
    assert (moved.status_code, moved.json()["start_date"]) == (200, later.isoformat())
    confirmed = post(client, url + "confirm/", {})
    assert confirmed.status_code == 200, confirmed.content
    cancelled = post(client, url + "cancel/", {"reason": "Patient withdrew"})
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert not ReagentReservation.objects.filter(status="active").exists()


@pytest.mark.req("SCH-API-002")
def test_a_double_booking_by_api_is_a_409(world):
    from tests.scheduling.factories import another_order

    client = api_client(world.planner)
    post(client, f"{BASE}/bookings/", {"order": world.order.pk, "suite": world.suite.pk})
    other = another_order(world)
    response = post(
        client,
        f"{BASE}/bookings/",
        {"order": other.pk, "suite": world.suite.pk, "start_date": world.start.isoformat()},
    )
    assert (response.status_code, response.json()["code"]) == (409, "suite_taken")


@pytest.mark.req("SCH-API-003")
def test_the_feasibility_of_a_proposal_writes_nothing(world):
    client = api_client(world.planner)
    world.reactor.calibration_due = world.start
    from mes import audit

    audit.stamp(world.reactor, user=world.admin, reason="Test: due soon")
    world.reactor.save()
    response = post(
        client, f"{BASE}/feasibility/", {"order": world.order.pk, "suite": world.suite.pk}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["feasible"] is False
    assert [p["code"] for p in body["problems"]] == ["equipment_calibration_due"]
    assert body["predicted_release"] == (world.end + dt.timedelta(days=14)).isoformat()
    assert Booking.objects.count() == 0 and ReagentReservation.objects.count() == 0
    # another site's order is a 404
    other = person("Planner", sites=[plant(code="PLANT2", fin="G2222")], username="p2")
    response = post(
        api_client(other),
        f"{BASE}/feasibility/",
        {"order": world.order.pk, "suite": world.suite.pk},
    )
    assert response.status_code == 404 and error_body_problem(response) is None


@pytest.mark.req("SCH-API-004")
def test_the_treating_site_reads_the_predicted_release_date(world):
    from scheduling import services

    # a person of the treating (clinical) site only, who may see orders
    clinician = person("Planner", sites=[world.clinical], username="clinician")
    url = f"{BASE}/orders/{world.order.pk}/prediction/"
    before = api_client(clinician).get(url)
    assert before.status_code == 200, before.content
    assert before.json()["basis"] == "plan"
    booking = services.book(
        actor=world.planner,
        order=world.order,
        suite=world.suite,
        start=world.start + dt.timedelta(days=5),
    )
    body = api_client(clinician).get(url).json()
    assert (body["basis"], body["booking"], body["predicted_release"], body["on_target"]) == (
        "booking",
        booking.pk,
        (booking.end_date + dt.timedelta(days=14)).isoformat(),
        False,
    )
    outsider = person("Planner", sites=[plant(code="PLANT2", fin="G2222")], username="p3")
    assert api_client(outsider).get(url).status_code == 404


@pytest.mark.req("SCH-LOG-002")
def test_logbook_entries_are_written_by_api_and_releases_need_a_signature(world, password):
    client = api_client(world.op_a)
    used = post(
        client,
        f"{BASE}/logbook/",
        {"equipment": world.reactor.pk, "kind": "use", "batch_number": "LEI-26-0009"},
    )
    assert used.status_code == 201, used.content
    assert used.json()["recorded_by"] == "Ann Operator"
    until = (timezone.now() + dt.timedelta(days=3)).isoformat()
    refused = post(
        client,
        f"{BASE}/logbook/",
        {
            "equipment": world.reactor.pk,
            "kind": "cleaning",
            "clean_until": until,
            "text": "Cleaned",
            "password": password,
        },
    )
    assert refused.status_code == 403 and error_body_problem(refused) is None
    cleaned = post(
        api_client(world.supervisor),
        f"{BASE}/logbook/",
        {
            "equipment": world.reactor.pk,
            "kind": "cleaning",
            "clean_until": until,
            "text": "Cleaned per SOP-CL-3",
            "password": password,
        },
    )
    assert cleaned.status_code == 201, cleaned.content
    assert cleaned.json()["signed_by"] == ["Sid Supervisor (released)"]
    listed = client.get(f"{BASE}/logbook/?equipment=BR-01").json()["results"]
    assert [e["kind"] for e in listed] == ["cleaning", "use"]
    assert LogbookEntry.objects.count() == 2


@pytest.mark.req("SCH-API-005")
def test_a_maintenance_window_is_planned_and_listed_by_api(world):
    from scheduling.models import SuiteHold

    client = api_client(world.supervisor)
    starts = timezone.now() + dt.timedelta(days=3)
    body = {
        "suite": world.suite.pk,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + dt.timedelta(hours=8)).isoformat(),
    }
    refused = post(client, f"{BASE}/holds/", body)
    assert refused.status_code == 400 and error_body_problem(refused) is None
    assert not SuiteHold.objects.exists()
    made = post(client, f"{BASE}/holds/", {**body, "reason": "HVAC filter change"}, key="h-1")
    assert made.status_code == 201, made.content
    assert (made.json()["kind"], made.json()["placed_by"]) == ("maintenance", "Sid Supervisor")
    listed = client.get(f"{BASE}/holds/?suite=S1").json()["results"]
    assert [h["reason"] for h in listed] == ["HVAC filter change"]
    outsider = person("Planner", sites=[plant(code="PLANT2", fin="G2222")], username="p4")
    assert post(api_client(outsider), f"{BASE}/holds/", {**body, "reason": "x"}).status_code == 404
    assert api_client(outsider).get(f"{BASE}/holds/").json()["results"] == []
