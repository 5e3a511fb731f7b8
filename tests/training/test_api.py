"""The training API: read (scoped), ask the gate, record LMS completions idempotently."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mes.errors import DomainError
from mes.models import ElectronicSignature, Meaning, User
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
from tests.training.factories import certified, trained
from training.models import Certification, CertificationDecision, TrainingRecord
from training.services import certifications, records
from training.services.gate import check_certified


@pytest.fixture
def far_supervisor(other_site, roles):
    return person("Supervisor", sites=[other_site], username="far1", full_name="Far Away")


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def lms_account(site, roles):
    """The learning system's integration account: it may report completions, nothing more."""
    account = person(None, sites=[site], username="lms", full_name="Learning system (LMS)")
    for codename in ("import_training_record", "view_certification"):
        account.user_permissions.add(Permission.objects.get(
            content_type__app_label="training", codename=codename))
    return User.objects.get(pk=account.pk)


@pytest.fixture
def lms(lms_account, trainer):
    """The learning system's integration, calling with its own token (the completions name
    the trainer ``tr1``)."""
    return token_client(lms_account)


COMPLETION = {"trainee": "op1", "trainer": "tr1", "sop": "SOP-CS", "revision": "1",
              "site": "PLANT1", "trained_on": "2026-05-30", "assessment": "passed",
              "external_reference": "LMS-2026-0001"}


@pytest.mark.req("TRN-API-001:read", "TRN-API-001:scoped")
def test_reading_a_certification_is_scoped(site, operator, supervisor, far_supervisor,
                                           cell_selection):
    cert = certified(operator, cell_selection, site)
    url = reverse("api-certification-detail", args=[cert.pk])
    responses = assert_permission_matrix(
        api_client, url, {NO_PERMISSION: operator, OTHER_SITE: far_supervisor,
                          ALLOWED: supervisor}, API, error_body=True)
    body = responses[ALLOWED].json()
    assert (body["person"], body["qualification"], body["site"], body["status"],
            body["valid_until"]) == ("op1", "CELL-SEL", "PLANT1", "active", "2027-01-31")
    listing = api_client(far_supervisor).get(reverse("api-certification-list")).json()
    assert listing["count"] == 0


@pytest.mark.req("TRN-API-001:read", "TRN-API-001:scoped")
def test_reading_training_records_with_their_signatures(site, operator, trainer, supervisor,
                                                        far_supervisor, sop_revision):
    record = trained(operator, sop_revision, trainer=trainer, site=site)
    url = reverse("api-training-record-detail", args=[record.pk])
    responses = assert_permission_matrix(
        api_client, url, {NO_PERMISSION: operator, OTHER_SITE: far_supervisor,
                          ALLOWED: supervisor}, API, error_body=True)
    assert responses[ALLOWED].json()["sop"] == "SOP-CS"


@pytest.mark.req("TRN-API-001:gate", "TRN-GATE-001:one-answer")
def test_asking_the_gate(site, operator, trainer, supervisor, cell_selection, sop_revision):
    trained(operator, sop_revision, trainer=trainer, site=site)
    certified(operator, cell_selection, site, valid_until=dt.date(2026, 5, 31))
    client = api_client(supervisor)
    url = reverse("api-training-gate")
    answer = client.post(url, {"person": "op1", "site": "PLANT1",
                               "qualifications": ["CELL-SEL"], "cleanroom_grade": "B"},
                         format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["certified"] is False and body["on"] == "2026-06-01"
    assert [r["code"] for r in body["reasons"]] == ["expired", "not_gowning_qualified"]
    assert body["reasons"][0]["date"] == "2026-05-31"

    earlier = client.post(url, {"person": "op1", "site": "PLANT1",
                                "qualifications": ["CELL-SEL"],
                                "at": "2026-05-01T08:00:00Z"}, format="json").json()
    assert earlier["certified"] is True and earlier["reasons"] == []


@pytest.mark.req("TRN-API-001:gate")
def test_the_gate_refuses_bad_questions_with_the_error_body(site, operator, supervisor,
                                                            far_supervisor, cell_selection):
    url = reverse("api-training-gate")
    unknown = api_client(supervisor).post(url, {"person": "op1", "site": "PLANT1",
                                                "qualifications": ["NOPE"]}, format="json")
    assert unknown.status_code == 400 and error_body_problem(unknown) is None
    assert unknown.json()["code"] == "unknown_qualification"
    other_site = api_client(far_supervisor).post(url, {"person": "op1", "site": "PLANT1",
                                                       "qualifications": ["CELL-SEL"]},
                                                 format="json")
    assert other_site.status_code == 404 and error_body_problem(other_site) is None
    nobody = api_client(operator).post(url, {"person": "op1", "site": "PLANT1",
                                             "qualifications": ["CELL-SEL"]}, format="json")
    assert nobody.status_code == 403


@pytest.mark.req("TRN-API-001:lms-idempotent")
def test_an_lms_completion_is_recorded_once(lms, site, operator, trainer, sop_revision):
    url = reverse("api-training-record-list")
    first = lms.post(url, COMPLETION, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    replay = lms.post(url, COMPLETION, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    # Without the key, the learning system's own reference still records it once
    again = lms.post(url, COMPLETION, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert TrainingRecord.objects.count() == 1


@pytest.mark.req("TRN-LMS-001:pending", "TRN-LMS-001:attributed")
def test_an_lms_completion_awaits_the_named_trainer_and_is_the_integrations_alone(
        lms, lms_account, site, operator, trainer, sop_revision):
    # When the learning system reports a passed completion naming Tina as the trainer
    response = lms.post(reverse("api-training-record-list"), COMPLETION, format="json")
    # Then it is recorded, awaiting Tina's verification, attributed to the integration alone
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["source"], body["status"], body["trainer"], body["recorded_by"],
            body["signatures"]) == ("lms", "awaiting_verification", "tr1", "lms", [])
    record = TrainingRecord.objects.get()
    assert (record.status, record.recorded_by) == ("awaiting_verification", lms_account)
    [created] = record.history.all()
    assert created.history_user == lms_account
    assert "awaiting verification by Tina Trainer" in created.history_change_reason
    assert not ElectronicSignature.objects.exists()
    # and Tina is told there is a record to verify
    assert trainer.notifications.filter(subject__contains="LMS-2026-0001").exists()


@pytest.mark.req("TRN-LMS-001:pending")
def test_the_trainers_own_token_is_not_a_signature(site, operator, trainer, sop_revision):
    # Given an integration that calls with the trainer's own token
    response = token_client(trainer).post(reverse("api-training-record-list"), COMPLETION,
                                          format="json")
    # Then the record still waits for the trainer to sign with their password
    assert response.status_code == 201, response.content
    assert (response.json()["status"], response.json()["signatures"]) == (
        "awaiting_verification", [])
    assert not ElectronicSignature.objects.exists()


@pytest.mark.req("TRN-LMS-001:gate", "TRN-LMS-001:verified")
def test_an_unsigned_lms_completion_does_not_certify_until_the_trainer_signs(
        lms, site, operator, trainer, supervisor, cell_selection, sop_revision, password):
    certified(operator, cell_selection, site)
    assert lms.post(reverse("api-training-record-list"), COMPLETION,
                    format="json").status_code == 201
    gate_url = reverse("api-training-gate")
    question = {"person": "op1", "site": "PLANT1", "qualifications": ["CELL-SEL"]}
    # The gate (asked through the API) does not count the unsigned record
    answer = api_client(supervisor).post(gate_url, question, format="json").json()
    assert answer["certified"] is False
    assert [r["code"] for r in answer["reasons"]] == ["not_trained"]
    # nor does a grant: refused, and nothing is written
    other = person("Operator", sites=[site], username="op9", full_name="Oona Other")
    assert lms.post(reverse("api-training-record-list"),
                    {**COMPLETION, "trainee": "op9", "external_reference": "LMS-2026-0002"},
                    format="json").status_code == 201
    counts = (Certification.objects.count(), CertificationDecision.objects.count(),
              ElectronicSignature.objects.count(), Certification.history.count())
    with pytest.raises(DomainError) as refused:
        certifications.grant_certification(
            actor=trainer, password=password, person=other, qualification=cell_selection,
            site=site, reason="Observed performance passed")
    assert refused.value.code == "training_incomplete"
    assert (Certification.objects.count(), CertificationDecision.objects.count(),
            ElectronicSignature.objects.count(), Certification.history.count()) == counts

    # When Tina signs it verified, it counts
    record = TrainingRecord.objects.get(external_reference="LMS-2026-0001")
    records.verify_training(actor=trainer, password=password, record=record)
    record.refresh_from_db()
    assert record.status == TrainingRecord.Status.COMPLETE
    [signature] = record.signatures.all()
    assert (signature.signer, signature.meaning) == (trainer, Meaning.VERIFIED)
    assert api_client(supervisor).post(gate_url, question,
                                       format="json").json()["certified"] is True
    assert check_certified(person=operator, qualification_codes=["CELL-SEL"],
                           site=site).certified


@pytest.mark.req("TRN-API-001:lms-idempotent")
def test_an_lms_reference_reused_for_other_facts_is_a_conflict(lms, site, operator,
                                                               sop_revision):
    url = reverse("api-training-record-list")
    assert lms.post(url, COMPLETION, format="json").status_code == 201
    clash = lms.post(url, {**COMPLETION, "assessment": "failed"}, format="json")
    assert clash.status_code == 409 and error_body_problem(clash) is None
    same_key = lms.post(url, COMPLETION, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    other = lms.post(url, {**COMPLETION, "trained_on": "2026-05-29"}, format="json",
                     HTTP_IDEMPOTENCY_KEY="k-2")
    assert same_key.status_code == 200 and other.status_code == 422
    assert TrainingRecord.objects.count() == 1


@pytest.mark.req("TRN-API-001:lms-refusals")
def test_bad_lms_completions_are_clear_4xx_and_write_nothing(lms, site, operator, trainer,
                                                             sop_revision, supervisor):
    url = reverse("api-training-record-list")
    cases = [
        ({**COMPLETION, "trained_on": "not a date"}, 400),
        ({**COMPLETION, "sop": "SOP-NONE"}, 404),
        ({**COMPLETION, "trainee": "tr1"}, 403),  # trainer == trainee
        ({**COMPLETION, "trained_on": "2026-07-01"}, 400),  # in the future
        ({k: v for k, v in COMPLETION.items() if k != "external_reference"}, 400),
    ]
    for payload, expected in cases:
        response = lms.post(url, payload, format="json")
        assert response.status_code == expected, (payload, response.content)
        assert error_body_problem(response) is None
    refused = api_client(supervisor).post(url, COMPLETION, format="json")
    assert refused.status_code == 403
    assert not TrainingRecord.objects.exists()


@pytest.mark.req("TRN-API-001:schema")
def test_the_schema_documents_the_training_endpoints(client, supervisor):
    client.force_login(supervisor)
    schema = client.get("/api/v1/schema/").content.decode()
    for path in ("/api/v1/training/certifications/", "/api/v1/training/gate/",
                 "/api/v1/training/training-records/"):
        assert path in schema


@pytest.mark.req("TRN-API-001:lms-answer")
def test_a_completion_posted_with_a_list_filter_in_the_url_is_still_answered(
        lms, site, operator, sop_revision):
    # Given an integration that posts to the list URL with a trainee filter left in it
    url = reverse("api-training-record-list") + "?trainee=somebody-else"
    # When it records a completion, the answer is the record, not a server error
    response = lms.post(url, COMPLETION, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["trainee"] == "op1"
    assert TrainingRecord.objects.filter(external_reference="LMS-2026-0001").count() == 1
