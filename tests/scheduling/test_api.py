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


@pytest.mark.req("SCH-API-006")
def test_a_write_answers_with_what_it_wrote_whatever_the_list_filters(world):
    from scheduling.models import SuiteHold
    from tests.scheduling.factories import make_suite

    client = api_client(world.planner)
    body = {"order": world.order.pk, "suite": world.suite.pk}
    made = post(client, f"{BASE}/bookings/?status=confirmed", body, key="bk-f")
    assert made.status_code == 201, made.content
    again = post(client, f"{BASE}/bookings/?status=confirmed", body, key="bk-f")
    assert (again.status_code, again.json()) == (201, made.json())  # replayed, not 409
    assert Booking.objects.count() == 1
    other = make_suite(world.admin, world.site, "S2")
    moved = post(
        client,
        f"{BASE}/bookings/{made.json()['id']}/move/?suite=S1",
        {"suite": other.pk, "reason": "S1 needed for a priority patient"},
    )
    assert (moved.status_code, moved.json()["suite"]) == (200, "S2"), moved.content
    used = post(
        api_client(world.op_a),
        f"{BASE}/logbook/?suite=S2",
        {"equipment": world.reactor.pk, "kind": "use", "batch_number": "LEI-26-0009"},
    )
    assert used.status_code == 201, used.content
    starts = timezone.now() + dt.timedelta(days=3)
    hold = post(
        api_client(world.supervisor),
        f"{BASE}/holds/?suite=S2",
        {
            "suite": world.suite.pk,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + dt.timedelta(hours=8)).isoformat(),
            "reason": "HVAC filter change",
        },
    )
    assert hold.status_code == 201, hold.content
    assert SuiteHold.objects.count() == 1


@pytest.mark.req("SCH-FEA-003")
def test_the_feasibility_of_a_proposed_move_does_not_count_the_orders_own_booking(world):
    from scheduling import services

    services.book(actor=world.planner, order=world.order, suite=world.suite)
    next_day = world.end + dt.timedelta(days=1)
    roster(world, world.op_a, world.suite, next_day, next_day)
    response = post(
        api_client(world.planner),
        f"{BASE}/feasibility/",
        {
            "order": world.order.pk,
            "suite": world.suite.pk,
            "start_date": (world.start + dt.timedelta(days=1)).isoformat(),
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["problems"] == []


@pytest.mark.req("SCH-FEA-004")
def test_the_prediction_uses_the_completed_booking_and_a_cancelled_order_has_none(world):
    from custody.services.orders import advance_order
    from scheduling import services

    url = f"{BASE}/orders/{world.order.pk}/prediction/"
    client = api_client(world.planner)
    booking = services.book(
        actor=world.planner,
        order=world.order,
        suite=world.suite,
        start=world.start + dt.timedelta(days=5),
    )
    services.complete(actor=world.planner, booking=booking, reason="Run finished")
    body = client.get(url).json()
    assert (body["basis"], body["booking"]) == ("booking", booking.pk)
    assert body["predicted_release"] == (booking.end_date + dt.timedelta(days=14)).isoformat()
    advance_order(
        actor=world.planner, order=world.order, status="cancelled", reason="Disease progression"
    )
    cancelled = client.get(url)
    assert (cancelled.status_code, cancelled.json()["code"]) == (404, "order_cancelled")


@pytest.mark.req("SCH-FEA-004")
def test_the_vein_to_vein_clock_starts_on_the_day_of_the_collected_event(world, password):
    from custody.services.events import Handoff, record_custody_event
    from scheduling import feasibility, selectors

    nurse = person("Operator", sites=[world.clinical], username="nurse")
    patient = world.order.patient
    collected_at = timezone.now() - dt.timedelta(days=1)
    record_custody_event(
        actor=nurse,
        password=password,
        handoff=Handoff(
            patient=patient,
            site=world.clinical,
            kind="collected",
            container_id="BAG-1",
            label_scan=patient.isbt.barcode_data + patient.isbt.check,
            occurred_at=collected_at,
        ),
    )
    world.order.refresh_from_db()
    day = timezone.localtime(collected_at, world.clinical.zone).date()
    assert day != world.order.planned_collection_date
    assert feasibility.collection_date(world.order) == day
    found = feasibility.assess(
        order=world.order, suite=world.suite, start=world.start, plan=world.plan
    )
    assert found.collection == day
    assert found.target_release == day + dt.timedelta(days=28)
    assert selectors.prediction_for(world.order).target_release == day + dt.timedelta(days=28)
    body = api_client(world.planner).get(f"{BASE}/orders/{world.order.pk}/prediction/").json()
    assert body["target_release"] == (day + dt.timedelta(days=28)).isoformat()


@pytest.mark.req("SCH-LOG-006")
def test_the_room_logbook_records_the_suites_cleaning_signed_and_its_maintenance(world, password):
    client = api_client(world.op_a)
    url = f"{BASE}/logbook/"
    wrong = post(
        client,
        url,
        {"suite": world.suite.pk, "kind": "cleaning", "text": "Floors", "password": "wrong"},
    )
    assert error_body_problem(wrong) is None and wrong.json()["code"] == "wrong_password"
    assert not LogbookEntry.objects.exists()
    cleaned = post(
        client,
        url,
        {
            "suite": world.suite.pk,
            "kind": "cleaning",
            "text": "Floors, walls and pass-box disinfected per SOP-CL-001",
            "password": password,
        },
    )
    assert cleaned.status_code == 201, cleaned.content
    assert cleaned.json()["signed_by"] == ["Ann Operator (performed)"]
    fixed = post(
        client,
        url,
        {"suite": world.suite.pk, "kind": "maintenance", "text": "Door closer replaced"},
    )
    assert fixed.status_code == 201, fixed.content
    entries = LogbookEntry.objects.filter(suite=world.suite, equipment__isnull=True)
    assert sorted(entries.values_list("kind", flat=True)) == ["cleaning", "maintenance"]


@pytest.mark.req("SCH-AVL-002")
def test_a_hold_is_lifted_with_a_reason_and_a_signature_in_the_room_logbook(world, password):
    from scheduling import selectors, services
    from scheduling.models import SuiteHold

    now = timezone.now()
    hold = services.plan_maintenance(
        actor=world.supervisor,
        suite=world.suite,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=8),
        reason="HVAC filter change",
    )
    assert not selectors.suite_is_available(world.suite)
    url = f"{BASE}/holds/{hold.pk}/lift/"
    # a planner may plan maintenance, not release the suite from it
    denied = post(api_client(world.planner), url, {"reason": "Done", "password": password})
    assert denied.status_code == 403
    wrong = post(api_client(world.supervisor), url, {"reason": "Done", "password": "wrong"})
    assert wrong.json()["code"] == "wrong_password"
    hold.refresh_from_db()
    assert hold.status == SuiteHold.Status.ACTIVE and not LogbookEntry.objects.exists()
    lifted = post(
        api_client(world.supervisor),
        url,
        {"reason": "Filters changed early; particle counts within limits", "password": password},
    )
    assert (lifted.status_code, lifted.json()["status"]) == (200, "lifted"), lifted.content
    assert selectors.suite_is_available(world.suite)
    entry = LogbookEntry.objects.get()
    assert (entry.kind, entry.to_status, entry.releases) == ("status_change", "lifted", True)
    assert [s.meaning for s in entry.signatures.all()] == ["released"]
    again = post(api_client(world.supervisor), url, {"reason": "Again", "password": password})
    assert again.json()["code"] == "hold_not_active"
