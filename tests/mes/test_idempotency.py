"""``Idempotency-Key`` on integration POSTs: the first response is stored and replayed, the
same key for a different request is a 422, a repeat while the first still runs is a 409, and
a server error frees the key so the client can retry.

Besides the real signature endpoint, the tests use a stand-in intake endpoint defined here,
whose handler counts the calls it really handles and fails on demand.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import include, path
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from mes import audit
from mes.api.idempotency import fingerprint, idempotent
from mes.errors import DomainError
from mes.models import (
    AccessChange,
    ElectronicSignature,
    IdempotencyRecord,
    Meaning,
    SecurityEvent,
)
from tests.mes.factories import person

pytestmark = pytest.mark.urls(__name__)

KEY = "lims-7f3c2a90-receipt-0001"
SIGNATURES = "/api/v1/signatures/"
INTAKE = "/intake/"
SLOW_INTAKE = "/slow-intake/"

# What the stand-in handlers really did, and what they are told to do next.
handled: list[str] = []
faults: list[str] = []
slow_handler_entered = threading.Event()
second_request_answered = threading.Event()


class IntakeView(APIView):
    """Receives apheresis material; pops a queued fault to fail the way a test needs."""

    @idempotent
    def post(self, request):
        handled.append(request.user.username)
        fault = faults.pop(0) if faults else None
        if fault == "domain_error":
            raise DomainError("The batch is on hold; nothing was received.",
                              code="batch_on_hold", fields={"din": ["On hold."]})
        if fault == "crash":
            raise RuntimeError("the label printer driver fell over")
        if fault == "server_error":
            return Response({"detail": "The custody service is unavailable."}, status=503)
        return Response({"received": request.data.get("din"), "call": len(handled)},
                        status=201)


class SlowIntakeView(APIView):
    """Holds its request open until the test says the concurrent repeat was answered."""

    @idempotent
    def post(self, request):
        handled.append(request.user.username)
        slow_handler_entered.set()
        second_request_answered.wait(timeout=10)
        return Response({"received": request.data.get("din"), "call": len(handled)},
                        status=201)


urlpatterns = [
    path("api/v1/", include("mes.api.urls")),
    path("intake/", IntakeView.as_view()),
    path("slow-intake/", SlowIntakeView.as_view()),
]


@pytest.fixture(autouse=True)
def _fresh_handlers():
    handled.clear()
    faults.clear()
    slow_handler_entered.clear()
    second_request_answered.clear()
    yield
    faults.clear()
    second_request_answered.set()  # never leave a slow handler waiting


def client_for(user, **kwargs) -> APIClient:
    client = APIClient(**kwargs)
    client.force_authenticate(user)
    return client


def post(client, url, body, key=KEY):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def receipt(din="W1234 25 123456 A") -> dict:
    return {"din": din, "volume_ml": 180}


# --- the stand-in intake endpoint -----------------------------------------------------


@pytest.mark.req("FND-API-004:replay")
def test_a_repeat_is_replayed_and_the_handler_runs_once(operator):
    # given an integration posted a receipt with a key
    client = client_for(operator)
    first = post(client, INTAKE, receipt())
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first

    # when it posts the same receipt with the same key again
    again = post(client, INTAKE, receipt())

    # then it gets the first response back, marked as replayed, and nothing ran twice
    assert again.status_code == 201
    assert again.json() == first.json() == {"received": "W1234 25 123456 A", "call": 1}
    assert again["Idempotent-Replayed"] == "true"
    assert handled == ["op1"]
    record = IdempotencyRecord.objects.get(user=operator, key=KEY)
    assert (record.state, record.response_status) == (IdempotencyRecord.State.COMPLETED, 201)


@pytest.mark.req("FND-API-004:retention")
def test_a_key_is_still_honoured_a_day_later(operator):
    # given a receipt posted with a key
    client = client_for(operator)
    first = post(client, INTAKE, receipt())

    # when the integration retries it 25 hours later
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=False):
        again = post(client, INTAKE, receipt())

    # then the first answer is still replayed
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert handled == ["op1"]


@pytest.mark.req("FND-API-004:replay")
def test_without_a_key_every_request_is_handled(operator):
    # given an integration that sends no key
    client = client_for(operator)

    # when it posts the same receipt twice
    responses = [client.post(INTAKE, receipt(), format="json") for _ in range(2)]

    # then both are handled and nothing is stored
    assert [r.json()["call"] for r in responses] == [1, 2]
    assert handled == ["op1", "op1"]
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.req("FND-API-004:mismatch", "FND-API-002")
def test_the_same_key_with_a_different_body_is_a_422(operator):
    # given a receipt posted with a key
    client = client_for(operator)
    first = post(client, INTAKE, receipt())

    # when the key comes back with another patient's donation number
    reused = post(client, INTAKE, receipt(din="W1234 25 999999 B"))

    # then it is refused in the error body, the handler did not run, the first answer stands
    assert reused.status_code == 422
    assert reused.json() == {"code": "idempotency_key_reused", "message": reused.json()["message"],
                             "fields": {}}
    assert "Idempotency-Key" in reused.json()["message"]
    assert handled == ["op1"]
    record = IdempotencyRecord.objects.get(user=operator, key=KEY)
    assert record.response_body == first.json()


@pytest.mark.req("FND-API-004:mismatch")
def test_the_same_key_on_another_endpoint_is_a_422(operator):
    # given a key already used for a receipt
    client = client_for(operator)
    post(client, INTAKE, receipt())

    # when the same key and body go to another endpoint
    elsewhere = post(client, SLOW_INTAKE, receipt())

    # then it is not replayed as if it were the receipt
    assert elsewhere.status_code == 422
    assert elsewhere.json()["code"] == "idempotency_key_reused"
    assert handled == ["op1"]


@pytest.mark.req("FND-API-004:concurrent", "FND-API-002")
def test_a_repeat_while_the_first_is_still_running_is_a_409(operator):
    # given the first request with this key is still being processed
    raw = APIRequestFactory().post(INTAKE, receipt(), format="json")
    IdempotencyRecord.objects.create(
        user=operator, key=KEY, method="POST", path=INTAKE,
        fingerprint=fingerprint(Request(raw, parsers=[JSONParser()])),
    )

    # when the same request arrives again
    repeat = post(client_for(operator), INTAKE, receipt())

    # then the caller is told to retry shortly, and the handler did not run
    assert repeat.status_code == 409
    assert repeat.json()["code"] == "idempotency_in_progress"
    assert set(repeat.json()) == {"code", "message", "fields"}
    assert handled == []
    assert IdempotencyRecord.objects.get(key=KEY).state == IdempotencyRecord.State.IN_PROGRESS


@pytest.mark.postgres
@pytest.mark.req("FND-API-004:concurrent")
def test_a_concurrent_repeat_is_a_409_while_the_first_runs(transactional_db, operator):
    # given a first request whose handler is still running in another thread
    outcome = {}

    def first_request():
        try:
            outcome["first"] = post(client_for(operator), SLOW_INTAKE, receipt())
        finally:
            connection.close()

    worker = threading.Thread(target=first_request)
    worker.start()
    assert slow_handler_entered.wait(timeout=10), "the first request never reached its handler"

    # when the same request arrives meanwhile
    try:
        second = post(client_for(operator), SLOW_INTAKE, receipt())
    finally:
        second_request_answered.set()
        worker.join(timeout=15)

    # then the repeat is a 409, the first completes, and a later repeat gets its answer
    assert not worker.is_alive()
    assert second.status_code == 409
    assert second.json()["code"] == "idempotency_in_progress"
    assert outcome["first"].status_code == 201
    later = post(client_for(operator), SLOW_INTAKE, receipt())
    assert later.status_code == 201
    assert later["Idempotent-Replayed"] == "true"
    assert later.json() == outcome["first"].json()
    assert handled == ["op1"]


@pytest.mark.req("FND-API-004:replay")
def test_an_unexpected_exception_frees_the_key(operator):
    # given the handler crashes on the first attempt
    faults.append("crash")
    client = client_for(operator, raise_request_exception=False)

    # when the request fails with a server error
    failed = post(client, INTAKE, receipt())

    # then nothing is kept for the key
    assert failed.status_code == 500
    assert not IdempotencyRecord.objects.filter(key=KEY).exists()

    # and the client's retry with the same key really runs
    retry = post(client, INTAKE, receipt())
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert handled == ["op1", "op1"]


@pytest.mark.req("FND-API-004:replay")
def test_a_server_error_response_frees_the_key(operator):
    # given the handler answers 503 on the first attempt
    faults.append("server_error")
    client = client_for(operator)

    # when the request gets that answer
    failed = post(client, INTAKE, receipt())

    # then the key is free and the retry runs
    assert failed.status_code == 503
    assert not IdempotencyRecord.objects.filter(key=KEY).exists()
    retry = post(client, INTAKE, receipt())
    assert (retry.status_code, retry.json()["call"]) == (201, 2)
    assert "Idempotent-Replayed" not in retry


@pytest.mark.req("FND-API-004:replay")
def test_keys_belong_to_one_user(operator, qa_user):
    # given one integration account used a key
    post(client_for(operator), INTAKE, receipt())

    # when another account sends the same key and body
    other = post(client_for(qa_user), INTAKE, receipt())

    # then the other account's request is handled on its own, not replayed
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other
    assert other.json()["call"] == 2
    assert handled == ["op1", "qa1"]
    assert IdempotencyRecord.objects.filter(key=KEY).count() == 2


@pytest.mark.req("FND-API-004:replay", "FND-API-002")
def test_a_domain_error_is_stored_and_replayed(operator):
    # given the first attempt was refused by a domain rule
    faults.append("domain_error")
    client = client_for(operator)
    refused = post(client, INTAKE, receipt())
    assert refused.status_code == 400
    assert refused.json() == {"code": "batch_on_hold",
                              "message": "The batch is on hold; nothing was received.",
                              "fields": {"din": ["On hold."]}}

    # when the same request is repeated with the same key
    again = post(client, INTAKE, receipt())

    # then the refusal is replayed, not re-decided
    assert again.status_code == 400
    assert again.json() == refused.json()
    assert again["Idempotent-Replayed"] == "true"
    assert handled == ["op1"]


@pytest.mark.req("FND-API-004:mismatch", "FND-API-002")
def test_an_overlong_key_is_refused(operator):
    # given a key longer than can be stored
    client = client_for(operator)

    # when it is sent
    response = post(client, INTAKE, receipt(), key="k" * 256)

    # then the request is refused before the handler runs
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert handled == []
    assert not IdempotencyRecord.objects.exists()


# --- the signature endpoint -----------------------------------------------------------


@pytest.fixture
def integration_user(site, roles):
    return person("Administrator", sites=[site], username="lims-bridge",
                  full_name="LIMS Bridge Integration")


@pytest.fixture
def token_client(integration_user):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=integration_user).key}")
    return client


@pytest.fixture
def access_change(admin_user, site, roles):
    newcomer = person(None, username="newcomer", full_name="Nora Newcomer")
    change = AccessChange(user=newcomer, action=AccessChange.Action.GRANT, site=site,
                          reason="Joins the cleanroom team", requested_by=admin_user)
    audit.stamp(change, user=admin_user, reason=change.reason)
    change.save()
    return change


def approval(change, password) -> dict:
    return {"record_type": "mes.accesschange", "record_id": change.pk,
            "meaning": Meaning.APPROVED, "password": password, "reason": "Access approved"}


@pytest.mark.req("FND-API-004:replay", "FND-SIG-006:sign")
def test_a_repeated_signature_request_is_replayed_not_signed_twice(token_client,
                                                                     access_change, password):
    # given an integration approved an access change with a key
    first = post(token_client, SIGNATURES, approval(access_change, password))
    assert first.status_code == 201, first.content

    # when its retry of the same request arrives
    again = post(token_client, SIGNATURES, approval(access_change, password))

    # then it gets the same signature back (not a 409 "already signed"), and there is one
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ElectronicSignature.objects.count() == 1
    assert "password" not in IdempotencyRecord.objects.get(key=KEY).response_body


@pytest.mark.req("FND-API-004:replay", "FND-SIG-006:sign")
def test_a_refused_signature_is_replayed_without_another_password_check(
        token_client, access_change):
    # given a signature refused for a wrong password, sent with a key
    refused = post(token_client, SIGNATURES, approval(access_change, "not-the-password"))
    assert (refused.status_code, refused.json()["code"]) == (403, "wrong_password")

    # when the same request is retried with the same key
    again = post(token_client, SIGNATURES, approval(access_change, "not-the-password"))

    # then the refusal is replayed, counted once toward lockout, and nothing is signed
    assert again.status_code == 403
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == refused.json()
    assert SecurityEvent.objects.filter(username="lims-bridge").count() == 1
    assert ElectronicSignature.objects.count() == 0


@pytest.mark.req("FND-API-004:retention")
def test_stored_responses_are_purged_only_after_the_retention_period(db, admin_user, settings):
    import time_machine
    from django.utils import timezone

    from mes.models import IdempotencyRecord
    from mes.tasks import purge_idempotency_records

    settings.IDEMPOTENCY_RETENTION_HOURS = 1  # below the floor: 24 hours still apply
    with time_machine.travel(timezone.now(), tick=False) as clock:
        record = IdempotencyRecord.objects.create(
            user=admin_user, key="k-purge", method="POST", path="/x/", fingerprint="f",
            state=IdempotencyRecord.State.COMPLETED, response_status=201, response_body={})
        clock.shift(timedelta(hours=23, minutes=59))
        assert purge_idempotency_records.apply().get() == 0
        assert IdempotencyRecord.objects.filter(pk=record.pk).exists()
        clock.shift(timedelta(minutes=2))
        assert purge_idempotency_records.apply().get() == 1
    assert not IdempotencyRecord.objects.filter(pk=record.pk).exists()
    assert record.history.filter(history_type="-").exists()  # the deletion is on record
