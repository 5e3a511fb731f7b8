"""Independence (DEV-IND-001): the person who raised a deviation does not judge it. For each
judgement (classify, investigate, dispose, close, cancel) the service refuses the raiser
before asking for the password, the page does not offer it and says why, and the API answers
403 with the code; a refusal changes nothing. Recording facts and doing work stay open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from deviations.models import (
    CapaAction,
    ClassificationDecision,
    Closure,
    Deviation,
    Disposition,
    Investigation,
    Status,
)
from deviations.services import workflow
from mes.errors import DomainError
from mes.models import ElectronicSignature, Meaning, Notification
from tests.deviations.factories import raised
from tests.permission_matrix import api_client

HTMX = {"HTTP_HX_REQUEST": "true"}
URL = "/api/v1/deviations/"
JUDGEMENTS = ["classify", "investigate", "dispose", "close", "cancel"]

# What each judgement is given, in the service's, the page's and the API's words.
INPUT = {
    "classify": {"classification": "critical", "patient_impact": "yes",
                 "rationale": "Patient material in the suite"},
    "investigate": {"root_cause_category": "equipment", "narrative": "Door closer worn."},
    "dispose": {"decision": "hold", "rationale": "Hold until assessed"},
    "close": {"summary": "Door closer replaced.", "justification": ""},
    "cancel": {"reason": "Raised twice"},
}
SERVICE = {
    "classify": workflow.classify_deviation,
    "investigate": workflow.record_investigation,
    "dispose": workflow.dispose_material,
    "close": workflow.close_deviation,
    "cancel": workflow.cancel_deviation,
}
PAGE_FORM = {"classify": "classify-form", "investigate": "investigate-form",
             "dispose": "dispose-form", "close": "close-form", "cancel": "cancel-form"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def state(deviation) -> tuple:
    """Everything a decision could write."""
    deviation.refresh_from_db()
    return (deviation.status, deviation.classification, deviation.patient_impact,
            deviation.classification_confirmed, deviation.disposition,
            deviation.cancellation_reason, deviation.history.count(),
            ElectronicSignature.objects.count(), ClassificationDecision.objects.count(),
            Investigation.objects.count(), Disposition.objects.count(),
            Closure.objects.count())


@pytest.fixture
def raised_by_qa(site, qa_user, qa2, password):
    """A deviation QA person Quentin raised, acknowledged and investigated by Quinta (so
    every judgement is otherwise open to him)."""
    deviation = raised(qa_user, site, classification="major", patient_impact="no")
    workflow.acknowledge_deviation(actor=qa2, password=password, deviation=deviation)
    workflow.record_investigation(actor=qa2, password=password, deviation=deviation,
                                  root_cause_category="equipment", narrative="Worn closer.")
    deviation.refresh_from_db()
    return deviation


def call(action, actor, deviation, password):
    kwargs = dict(INPUT[action])
    if action != "cancel":
        kwargs["password"] = password
    return SERVICE[action](actor=actor, deviation=deviation, **kwargs)


@pytest.mark.parametrize("action", JUDGEMENTS)
@pytest.mark.req("DEV-IND-001:service")
def test_the_service_refuses_the_raiser_before_the_password(db, action, raised_by_qa,
                                                            qa_user, qa2, password):
    before = state(raised_by_qa)
    for attempt in (password, "wrong password"):
        with pytest.raises(DomainError) as refused:
            call(action, qa_user, raised_by_qa, attempt)
        assert refused.value.code == "independence_required"
        assert refused.value.status == 403
        assert "raised deviation" in refused.value.message
    assert state(raised_by_qa) == before
    # Another QA person may
    call(action, qa2, raised_by_qa, password)
    assert state(raised_by_qa) != before


@pytest.mark.req("DEV-IND-001:signature")
def test_the_signature_itself_refuses_the_raiser(db, raised_by_qa, qa_user):
    for record, meaning in (
            (ClassificationDecision(deviation=raised_by_qa, site=raised_by_qa.site),
             Meaning.REVIEWED),
            (Investigation(deviation=raised_by_qa, site=raised_by_qa.site), Meaning.AUTHORED),
            (Disposition(deviation=raised_by_qa, site=raised_by_qa.site), Meaning.APPROVED),
            (Closure(deviation=raised_by_qa, site=raised_by_qa.site), Meaning.APPROVED)):
        with pytest.raises(DomainError) as refused:
            record.check_signer(qa_user, meaning)
        assert refused.value.code == "independence_required", record


@pytest.mark.parametrize("action", JUDGEMENTS)
@pytest.mark.req("DEV-IND-001:page")
def test_the_page_does_not_offer_the_raiser_a_judgement_and_says_why(
        db, action, raised_by_qa, qa_user, qa2):
    url = reverse("deviations:detail", args=[raised_by_qa.pk])
    mine = client_for(qa_user).get(url).content.decode()
    theirs = client_for(qa2).get(url).content.decode()
    assert f'id="{PAGE_FORM[action]}"' not in mine
    assert f'id="{action}-blocked"' in mine
    assert "Quentin Quality raised deviation" in mine
    assert f'id="{PAGE_FORM[action]}"' in theirs and f'id="{action}-blocked"' not in theirs


@pytest.mark.parametrize("action", ["classify", "investigate", "dispose", "close"])
@pytest.mark.req("DEV-IND-001:page")
def test_a_signed_judgement_posted_by_the_raiser_is_refused_without_a_dialog(
        db, action, raised_by_qa, qa_user, password):
    before = state(raised_by_qa)
    client = client_for(qa_user)
    url = reverse(f"deviations:{action}", args=[raised_by_qa.pk])
    for extra in ({}, {"password": password}):
        response = client.post(url, {**INPUT[action], **extra}, **HTMX)
        assert response.status_code == 403
        body = response.content.decode()
        assert 'id="refusal"' in body and "raised deviation" in body
        assert 'name="password"' not in body  # no dialog to sign in
    page = client.post(url, INPUT[action])  # without JavaScript: a page that says why
    assert page.status_code == 403 and b'id="refusal"' in page.content
    assert state(raised_by_qa) == before


@pytest.mark.req("DEV-IND-001:page")
def test_cancelling_from_the_page_by_the_raiser_is_refused(db, raised_by_qa, qa_user):
    before = state(raised_by_qa)
    response = client_for(qa_user).post(
        reverse("deviations:cancel", args=[raised_by_qa.pk]), INPUT["cancel"], follow=True)
    assert "raised deviation" in response.content.decode()
    assert state(raised_by_qa) == before


@pytest.mark.parametrize("action", JUDGEMENTS)
@pytest.mark.req("DEV-IND-001:api", "DEV-API-001:decisions")
def test_the_api_refuses_the_raiser_with_403_and_the_code(db, action, raised_by_qa, qa_user,
                                                          qa2, password):
    before = state(raised_by_qa)
    body = dict(INPUT[action])
    if action != "cancel":
        body["password"] = password
    url = f"{URL}{raised_by_qa.pk}/{action}/"
    refused = api_client(qa_user).post(url, body, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "independence_required"
    assert set(refused.json()) == {"code", "message", "fields"}
    assert state(raised_by_qa) == before
    # The same call by another QA person is done
    done = api_client(qa2).post(url, body, format="json")
    assert done.status_code == 200, done.content
    expected_status = {"classify": Status.UNDER_INVESTIGATION,
                       "investigate": Status.UNDER_INVESTIGATION,
                       "dispose": Status.UNDER_INVESTIGATION, "close": Status.CLOSED,
                       "cancel": Status.CANCELLED}[action]
    assert done.json()["status"] == expected_status


@pytest.mark.req("DEV-IND-001:open-actions")
def test_the_raiser_may_acknowledge_record_facts_and_do_the_capa_work(
        db, site, qa_user, qa2, password):
    # Given a deviation a QA person raised
    deviation = raised(qa_user, site, classification="major", patient_impact="no")
    # Then he may acknowledge it for QA, record immediate actions, comment, add a CAPA
    # action and sign it performed: none of these judges the deviation
    workflow.acknowledge_deviation(actor=qa_user, password=password, deviation=deviation)
    workflow.record_immediate_actions(actor=qa_user, deviation=deviation, text="Door shut")
    workflow.add_comment(actor=qa_user, deviation=deviation, text="Seen on the round")
    capa = workflow.add_capa(actor=qa_user, deviation=deviation, owner=qa_user,
                             description="Replace closer",
                             due_date=timezone.localdate() + timedelta(days=3))
    workflow.complete_capa(actor=qa_user, password=password, capa=capa, note="Replaced")
    deviation.refresh_from_db()
    assert (deviation.status, deviation.acknowledged_by) == (Status.PENDING_CAPA, qa_user)
    assert CapaAction.objects.get().state == CapaAction.State.DONE
    assert Deviation.objects.count() == 1 and Notification.objects.exists()
