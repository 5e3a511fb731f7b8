"""The batches API: scoped reads (list, detail, progress), the step actions through the
execution services (perform, verify, not applicable, corrections, comments), the revision
(409), Idempotency-Key, a locked account's token and bad input (always a 4xx error body)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from batchrecords.models import BatchException, StepStatus
from tests.batchrecords.execution_kit import counts, inputs, perform, up_to, written
from tests.batchrecords.overview_kit import big_batch, more_batches
from tests.batchrecords.world import run
from tests.mes.factories import SiteFactory, person
from tests.permission_matrix import (
    ALLOWED,
    API,
    NO_PERMISSION,
    OTHER_SITE,
    api_client,
    assert_permission_matrix,
    error_body_problem,
)

BASE = "/api/v1/batchrecords/batches"


def token_client(user, terminal_secret: str | None = None) -> APIClient:
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=user).key}"}
    if terminal_secret:
        headers["HTTP_X_MES_TERMINAL"] = terminal_secret
    client.credentials(**headers)
    return client


def step_url(world, code: str, action: str, batch=None) -> str:
    return f"{BASE}/{(batch or world.batch).pk}/steps/{world.runs[code].pk}/{action}/"


def post(client, url, body, key: str | None = None):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def error(response) -> dict:
    problem = error_body_problem(response)
    assert problem is None, problem
    return response.json()


def r01_body(world, **overrides) -> dict:
    given = inputs(world, "R01")
    return {"password": world.password, "revision": run(world, "R01").revision,
            "values": given["values"], "label_scan": given["label_scan"], **overrides}


@pytest.fixture
def outsider(world):
    return person("QA Reviewer", sites=[SiteFactory(code="PLANT2")], username="qa-far")


@pytest.fixture
def nobody(world):
    return person(None, sites=[world.site], username="nobody")


@pytest.fixture
def operator_api(world):
    return token_client(world.operator, world.terminal_secret)


# --- reads -----------------------------------------------------------------------------------

@pytest.mark.req("EBR-API-001:scoped")
@pytest.mark.parametrize("path", ["{batch}/", "{batch}/progress/"])
def test_a_batch_is_read_only_at_its_site(world, outsider, nobody, path):
    url = f"{BASE}/" + path.format(batch=world.batch.pk)
    assert_permission_matrix(api_client, url,
                             {NO_PERMISSION: nobody, OTHER_SITE: outsider, ALLOWED: world.qa},
                             API, error_body=True)


@pytest.mark.req("EBR-API-001:list")
def test_the_list_filters_by_status_and_by_coi(world, outsider):
    others = more_batches(world, 2)
    perform(world, "R01")
    client = api_client(world.qa)

    listed = client.get(f"{BASE}/").json()["results"]
    assert {b["number"] for b in listed} == {world.batch.number, *(b.number for b in others)}
    mine = next(b for b in listed if b["id"] == world.batch.pk)
    assert (mine["status"], mine["steps_done"], mine["steps_total"], mine["suite"]) == (
        "in_progress", 1, 5, world.suite.code)
    assert mine["patient_coi"] == world.patient.coi and mine["product"] == world.product.code

    in_progress = client.get(f"{BASE}/", {"status": "in_progress"}).json()["results"]
    assert [b["id"] for b in in_progress] == [world.batch.pk]
    for coi in (world.label, world.patient.coi):  # as scanned and as stored
        found = client.get(f"{BASE}/", {"coi": coi}).json()["results"]
        assert [b["id"] for b in found] == [world.batch.pk]
    assert client.get(f"{BASE}/", {"coi": "G999926000001"}).json()["results"] == []
    unknown = client.get(f"{BASE}/", {"status": "shipped"})
    assert unknown.status_code == 400 and error(unknown)["fields"] == {
        "status": ["Unknown status."]}
    assert api_client(outsider).get(f"{BASE}/").json()["results"] == []


@pytest.mark.req("EBR-API-001:budget")
def test_the_list_runs_the_same_queries_for_3_and_for_12_batches(world):
    client = api_client(world.qa)
    more_batches(world, 2)
    client.get(f"{BASE}/")
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(f"{BASE}/").json()["results"]) == 3
    more_batches(world, 9, start=2)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(f"{BASE}/").json()["results"]) == 12
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.req("EBR-API-001:budget")
def test_the_detail_and_progress_run_the_same_queries_for_5_and_for_45_steps(world):
    perform(world, "R01")
    perform(world, "S01", values={"vcc": "3.5", "volume": "100"})
    client = api_client(world.qa)
    client.get(f"{BASE}/")

    def queries(batch) -> list[int]:
        found = []
        for path in ("", "progress/"):
            with CaptureQueriesContext(connection) as captured:
                assert client.get(f"{BASE}/{batch.pk}/{path}").status_code == 200
            found.append(len(captured.captured_queries))
        return found

    small = queries(world.batch)
    big = big_batch(world, steps=45)
    assert len(client.get(f"{BASE}/{big.pk}/").json()["steps"]) == 45
    assert queries(big) == small


@pytest.mark.req("EBR-API-001:detail", "EBR-API-002:correction")
def test_the_detail_lists_the_steps_and_a_correction_beside_its_original(world, operator_api):
    perform(world, "R01")
    perform(world, "S01")
    s01 = run(world, "S01")

    corrected = post(operator_api, step_url(world, "S01", "corrections"), {
        "password": world.password, "revision": s01.revision, "field_key": "volume",
        "value": "98", "reason": "Read the wrong graduation"})

    assert corrected.status_code == 201, corrected.content
    assert corrected.json()["status"] == StepStatus.PENDING
    body = api_client(world.qa).get(f"{BASE}/{world.batch.pk}/").json()
    assert [s["code"] for s in body["steps"]] == ["R01", "S01", "T01", "T02", "T03"]
    r01, s01 = body["steps"][:2]
    assert (r01["status"], r01["performed_by"], r01["revision"]) == (
        "done", world.operator.username, 1)
    volume = next(v for v in s01["values"] if v["key"] == "volume")
    assert (volume["value"], volume["reason"], volume["unit"]) == (
        "98", "Read the wrong graduation", "mL")
    assert [e["value"] for e in volume["earlier"]] == ["100"]
    assert {e["kind"] for e in body["exception_list"]} == {"correction"}


@pytest.mark.req("EBR-API-001:progress")
def test_the_progress_counts_per_operation_with_the_next_steps_and_checks(world, operator_api):
    perform(world, "R01")
    perform(world, "S01", values={"vcc": "2.5", "volume": "100"})

    body = api_client(world.qa).get(f"{BASE}/{world.batch.pk}/progress/").json()

    assert (body["total"], body["done"], body["awaiting_verification"]) == (5, 2, 0)
    assert [(op["code"], op["done"], op["total"]) for op in body["operations"]] == [
        ("RECEIPT", 1, 1), ("SELECT", 1, 1), ("TRANSDUCE", 0, 3)]
    assert [s["code"] for s in body["next_steps"]] == ["T01", "T02"]
    assert body["exceptions"] == 1 and body["exceptions_by_kind"] == {"alert_limit": 1}
    assert body["passed_checks"]["label_scans_matched"] == 1
    assert body["passed_checks"]["lots_verified"] == 1
    assert body["open_stop"] is False


# --- step actions ----------------------------------------------------------------------------

@pytest.mark.req("EBR-API-002:perform", "EBR-API-002:verify")
def test_an_operator_performs_and_a_second_person_verifies_through_the_api(world, operator_api):
    up_to(world, "T03")
    t03 = run(world, "T03")
    given = inputs(world, "T03")
    performed = post(operator_api, step_url(world, "T03", "perform"), {
        "password": world.password, "revision": t03.revision, "values": given["values"],
        "lots": [{"material_code": "LV-CD19", "scan": "VV-1"}], "equipment_scan": "BR-01",
        "comment": "Vector thawed on time"})
    assert performed.status_code == 200, performed.content
    assert (performed.json()["status"], performed.json()["revision"]) == ("performed", 1)
    assert {v["key"] for v in performed.json()["values"]} >= {"method", "dose_volume"}

    before = counts(world)
    own = post(operator_api, step_url(world, "T03", "verify"),
               {"password": world.password, "revision": 1})
    assert own.status_code == 403 and error(own)["code"] == "verifier_is_performer"
    assert written(before, counts(world)) == {}

    verifier = token_client(world.verifier, world.terminal_secret)
    verified = post(verifier, step_url(world, "T03", "verify"),
                    {"password": world.password, "revision": 1})
    assert verified.status_code == 200, verified.content
    assert (verified.json()["status"], verified.json()["verified_by"]) == (
        "done", world.verifier.username)


@pytest.mark.req("EBR-API-002:not-applicable", "EBR-API-002:comment")
def test_a_step_is_marked_not_applicable_and_commented_through_the_api(world, operator_api):
    up_to(world, "T01")
    t02 = run(world, "T02")
    skipped = post(operator_api, step_url(world, "T02", "not-applicable"), {
        "password": world.password, "revision": t02.revision, "reason": "Medium pre-warmed"})
    assert skipped.status_code == 200, skipped.content
    assert (skipped.json()["status"], skipped.json()["na_reason"]) == (
        "not_applicable", "Medium pre-warmed")

    commented = post(operator_api, step_url(world, "T02", "comments"),
                     {"comment": "Warmer was already at 37 °C"})
    assert commented.status_code == 201, commented.content
    assert (commented.json()["kind"], commented.json()["step"]) == ("comment", "T02")
    assert BatchException.objects.filter(run=world.runs["T02"], kind="comment").count() == 1


@pytest.mark.req("EBR-API-002:terminal")
def test_without_a_registered_terminal_nothing_is_performed(world):
    before = counts(world)
    response = post(token_client(world.operator), step_url(world, "R01", "perform"),
                    r01_body(world))
    assert response.status_code == 403
    assert error(response)["code"] == "terminal_not_registered"
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-API-003:stale")
def test_a_stale_revision_is_a_409_and_nothing_is_written(world, operator_api):
    before = counts(world)
    response = post(operator_api, step_url(world, "R01", "perform"),
                    r01_body(world, revision=7))
    assert response.status_code == 409
    assert error(response)["code"] == "stale_step"
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-API-003:idempotent", "EBR-API-003:repeat")
def test_one_idempotency_key_performs_once_and_a_repeat_without_it_is_a_409(world,
                                                                             operator_api):
    url, body = step_url(world, "R01", "perform"), r01_body(world)
    first = post(operator_api, url, body, key="perform-r01")
    assert first.status_code == 200, first.content
    after_first = counts(world)

    again = post(operator_api, url, body, key="perform-r01")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert written(after_first, counts(world)) == {}  # performed once, one signature

    repeat = post(operator_api, url, body)
    assert repeat.status_code == 409
    assert error(repeat)["code"] in ("stale_step", "already_performed")
    assert written(after_first, counts(world)) == {}


# --- refusals of the request itself ----------------------------------------------------------

@pytest.mark.req("EBR-API-001:scoped")
def test_another_sites_batch_or_another_batchs_step_is_a_404(world, outsider):
    other = more_batches(world, 1)[0]
    far = token_client(person("Operator", sites=[outsider.sites().get()], username="op-far"),
                       world.terminal_secret)
    before = counts(world)
    assert far.get(f"{BASE}/{world.batch.pk}/").status_code == 404
    refused = post(far, step_url(world, "R01", "perform"), r01_body(world))
    assert refused.status_code == 404 and error(refused)["code"] == "not_found"
    # a step of the world's batch named under another batch's id
    crossed = post(token_client(world.operator, world.terminal_secret),
                   step_url(world, "R01", "perform", batch=other), r01_body(world))
    assert crossed.status_code == 404 and error(crossed)["code"] == "not_found"
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-API-004:bad-input")
@pytest.mark.parametrize("body", [
    "nul-in-value", "nul-in-key", "deep", "values-list", "value-object", "revision-text",
    "lots-object", "quantity-text", "huge-revision", "password-missing",
])
def test_bad_input_is_a_400_error_body_and_writes_nothing(world, operator_api, body):
    bodies = {
        "nul-in-value": r01_body(world, values={"seal_intact": "ye\x00s"}),
        "nul-in-key": r01_body(world, values={"seal\x00": "yes"}),
        "deep": r01_body(world, values=json.loads("[" * 200 + "]" * 200)),
        "values-list": r01_body(world, values=["yes"]),
        "value-object": r01_body(world, values={"seal_intact": {"a": 1}}),
        "revision-text": r01_body(world, revision="latest"),
        "lots-object": r01_body(world, lots={"material_code": "X"}),
        "quantity-text": r01_body(world, lots=[{"material_code": "MED-TEX", "scan": "TX-1",
                                                "quantity": "lots"}]),
        "huge-revision": r01_body(world, revision=10**30),
        "password-missing": {k: v for k, v in r01_body(world).items() if k != "password"},
    }
    before = counts(world)
    response = post(operator_api, step_url(world, "R01", "perform"), bodies[body])
    assert response.status_code == 400, response.content
    error(response)
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-API-004:bad-input")
def test_a_form_encoded_body_is_refused_not_read(world, operator_api):
    response = operator_api.post(step_url(world, "R01", "perform"),
                                 {"password": world.password, "revision": 0})
    assert response.status_code == 415
    error(response)


@pytest.mark.req("EBR-API-004:locked")
def test_a_locked_accounts_token_is_refused_before_any_step_action(world, client,
                                                                   operator_api):
    for _ in range(5):
        client.post("/login/", {"username": world.operator.username, "password": "wrong"})
    before = counts(world)
    response = post(operator_api, step_url(world, "R01", "perform"), r01_body(world))
    assert response.status_code == 401
    assert error(response)["code"] == "account_locked"
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-API-003:key-reused")
def test_one_idempotency_key_with_another_body_is_refused_not_replayed(world, operator_api):
    # given a perform made with a key
    url = step_url(world, "R01", "perform")
    first = post(operator_api, url, r01_body(world), key="perform-r01")
    assert first.status_code == 200, first.content
    after_first = counts(world)

    # when the same key comes with another body (another comment), or for another step
    other = post(operator_api, url, r01_body(world, comment="Seal checked twice"),
                 key="perform-r01")
    elsewhere = post(operator_api, step_url(world, "S01", "perform"),
                     {"password": world.password, "revision": 0}, key="perform-r01")

    # then each is a 422 with the error body, not the first answer replayed, and nothing more
    # is written
    for response in (other, elsewhere):
        assert response.status_code == 422
        assert "Idempotent-Replayed" not in response
        assert error(response)["code"] == "idempotency_key_reused"
    assert written(after_first, counts(world)) == {}


@pytest.mark.req("EBR-API-003:password")
def test_the_stored_fingerprint_of_a_signed_write_cannot_be_checked_against_passwords(
        world, operator_api):
    import hashlib

    from mes.models import IdempotencyRecord

    # given a signed perform with a key (the password travels in the body)
    url, body = step_url(world, "R01", "perform"), r01_body(world)
    assert post(operator_api, url, body, key="perform-r01").status_code == 200
    record = IdempotencyRecord.objects.get(key="perform-r01")

    # then the fingerprint is not a plain hash of the body: guessing the password and hashing
    # what else the body holds finds nothing
    guessed = {"method": "POST", "path": url, "data": body}
    plain = hashlib.sha256(json.dumps(guessed, sort_keys=True, default=str,
                                      separators=(",", ":")).encode()).hexdigest()
    assert record.fingerprint != plain
    assert world.password not in json.dumps(record.response_body)


@pytest.mark.req("EBR-API-004:bad-input")
def test_ids_out_of_range_are_a_404_not_a_500(world, operator_api):
    huge = "9" * 30
    before = counts(world)
    for url in (f"{BASE}/{huge}/", f"{BASE}/{world.batch.pk}/steps/{huge}/perform/",
                f"{BASE}/{huge}/steps/{world.runs['R01'].pk}/verify/"):
        response = (operator_api.get(url) if url.endswith(f"{huge}/")
                    else post(operator_api, url, r01_body(world)))
        assert response.status_code == 404, (url, response.status_code)
        assert error(response)["code"] == "not_found"
    assert written(before, counts(world)) == {}
