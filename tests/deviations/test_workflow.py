"""Acknowledge, classify, dispose, investigate, CAPA, close, cancel: who signs what, and in
what order. A refused action leaves no record, no history and no signature."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deviations.models import (
    CapaAction,
    Closure,
    Comment,
    Deviation,
    Disposition,
    Investigation,
    Status,
)
from deviations.services import workflow
from mes.errors import DomainError
from mes.models import ElectronicSignature, Meaning
from mes.services.signatures import signatures_for, verify
from tests.deviations.factories import raised


def snapshot(deviation):
    deviation.refresh_from_db()
    return (deviation.status, deviation.disposition, deviation.history.count(),
            ElectronicSignature.objects.count(), Disposition.objects.count(),
            Closure.objects.count(), Investigation.objects.count())


def investigated(deviation, investigator, password):
    return workflow.record_investigation(
        actor=investigator, password=password, deviation=deviation,
        root_cause_category="equipment", narrative="Door closer worn; replaced.")


@pytest.fixture
def acknowledged(site, operator, qa_user, password):
    deviation = raised(operator, site, classification="major", patient_impact="no")
    return workflow.acknowledge_deviation(actor=qa_user, password=password,
                                          deviation=deviation)


@pytest.mark.req("DEV-SIG-001:acknowledge")
def test_qa_acknowledges_with_a_signature(db, site, operator, qa_user, password):
    deviation = raised(operator, site)
    workflow.acknowledge_deviation(actor=qa_user, password=password, deviation=deviation,
                                   note="On it")
    deviation.refresh_from_db()
    assert (deviation.status, deviation.acknowledged_by) == (Status.ACKNOWLEDGED, qa_user)
    [signature] = signatures_for(deviation)
    assert (signature.meaning, signature.signer) == (Meaning.ACKNOWLEDGED, qa_user)
    assert verify(signature).valid  # later status changes do not break it
    assert deviation.history.first().history_change_reason == \
        "Acknowledged by Quentin Quality: On it"


@pytest.mark.req("DEV-SIG-001:unauthorised", "DEV-SIG-001:wrong-password")
def test_an_operator_cannot_acknowledge_and_a_wrong_password_signs_nothing(
        db, site, operator, qa_user, password):
    deviation = raised(operator, site)
    before = snapshot(deviation)
    with pytest.raises(DomainError) as refused:
        workflow.acknowledge_deviation(actor=operator, password=password, deviation=deviation)
    assert refused.value.code == "permission_denied"
    assert snapshot(deviation) == before
    with pytest.raises(DomainError) as refused:
        workflow.acknowledge_deviation(actor=qa_user, password="wrong", deviation=deviation)
    assert refused.value.code == "wrong_password"
    assert snapshot(deviation) == before


@pytest.mark.req("DEV-IND-001:service", "DEV-SIG-001:dispose")
def test_the_raiser_cannot_sign_the_disposition(db, site, qa_user, qa2, password):
    deviation = raised(qa_user, site, classification="critical")
    workflow.acknowledge_deviation(actor=qa2, password=password, deviation=deviation)
    before = snapshot(deviation)
    with pytest.raises(DomainError) as refused:
        workflow.dispose_material(actor=qa_user, password=password, deviation=deviation,
                                  decision="continue", rationale="Looks fine to me")
    assert refused.value.code == "independence_required"
    assert snapshot(deviation) == before
    workflow.dispose_material(actor=qa2, password=password, deviation=deviation,
                              decision="hold", rationale="Hold pending sterility")
    deviation.refresh_from_db()
    assert deviation.disposition == "hold"
    disposition = Disposition.objects.get()
    assert signatures_for(disposition)[0].meaning == Meaning.APPROVED


@pytest.mark.req("DEV-IND-001:service")
def test_the_raiser_cannot_sign_the_closure(db, site, qa_user, qa2, password):
    deviation = raised(qa_user, site, classification="major", patient_impact="no")
    workflow.acknowledge_deviation(actor=qa2, password=password, deviation=deviation)
    investigated(deviation, qa2, password)
    before = snapshot(deviation)
    with pytest.raises(DomainError) as refused:
        workflow.close_deviation(actor=qa_user, password=password, deviation=deviation,
                                 summary="Done")
    assert refused.value.code == "independence_required"
    assert snapshot(deviation) == before
    workflow.close_deviation(actor=qa2, password=password, deviation=deviation, summary="Done")
    deviation.refresh_from_db()
    assert deviation.status == Status.CLOSED
    assert deviation.next_escalation_at is None


@pytest.mark.req("DEV-SIG-001:investigate")
def test_the_investigation_is_signed_authored_and_a_revision_is_a_new_record(
        db, site, acknowledged, qa_user, supervisor, password):
    first = investigated(acknowledged, supervisor, password)
    revised = workflow.record_investigation(
        actor=qa_user, password=password, deviation=acknowledged,
        root_cause_category="personnel", narrative="Door held open by hand during transfer.")
    assert [(s.signer, s.meaning) for s in signatures_for(first)] == [
        (supervisor, Meaning.AUTHORED)]
    assert [(s.signer, s.meaning) for s in signatures_for(revised)] == [
        (qa_user, Meaning.AUTHORED)]
    assert list(Investigation.objects.order_by("pk")) == [first, revised]
    assert Deviation.objects.get(pk=acknowledged.pk).status == Status.UNDER_INVESTIGATION


@pytest.mark.req("DEV-CLS-001:capa", "DEV-SIG-001:close")
def test_closure_needs_capa_done_or_a_signed_justification(
        db, site, operator, qa_user, acknowledged, password):
    deviation = acknowledged
    investigated(deviation, qa_user, password)
    capa = workflow.add_capa(actor=qa_user, deviation=deviation, owner=operator,
                             description="Retrain on door discipline",
                             due_date=timezone.localdate() + timedelta(days=14),
                             effectiveness_check="No repeat in 3 months")
    assert Deviation.objects.get(pk=deviation.pk).status == Status.PENDING_CAPA
    before = snapshot(deviation)
    with pytest.raises(DomainError) as refused:
        workflow.close_deviation(actor=qa_user, password=password, deviation=deviation,
                                 summary="Contained")
    assert refused.value.code == "capa_open"
    assert snapshot(deviation) == before

    closure = workflow.close_deviation(
        actor=qa_user, password=password, deviation=deviation, summary="Contained",
        justification="Retraining is scheduled; the effect is checked in the CAPA system")
    [signature] = signatures_for(closure)
    assert signature.meaning == Meaning.APPROVED
    assert signature.reason.startswith("Retraining is scheduled")
    assert closure.canonical_content()["justification"].startswith("Retraining")
    assert capa.state == CapaAction.State.OPEN


@pytest.mark.req("DEV-CLS-001:capa", "DEV-SIG-001:capa")
def test_closure_after_every_capa_is_done(db, site, operator, qa_user, acknowledged, password):
    deviation = acknowledged
    investigated(deviation, qa_user, password)
    capa = workflow.add_capa(actor=qa_user, deviation=deviation, owner=operator,
                             description="Replace door closer",
                             due_date=timezone.localdate() + timedelta(days=3))
    workflow.complete_capa(actor=operator, password=password, capa=capa,
                           note="Closer replaced, work order 88")
    capa.refresh_from_db()
    assert capa.state == CapaAction.State.DONE
    assert signatures_for(capa)[0].signer == operator
    workflow.close_deviation(actor=qa_user, password=password, deviation=deviation,
                             summary="Closer replaced")
    assert Deviation.objects.get(pk=deviation.pk).status == Status.CLOSED


@pytest.mark.req("DEV-SIG-001:capa")
def test_only_the_owner_or_a_capa_manager_completes_a_capa(db, site, operator, qa_user,
                                                           acknowledged, password, roles):
    from tests.mes.factories import person

    colleague = person("Operator", sites=[site], username="op2")
    capa = workflow.add_capa(actor=qa_user, deviation=acknowledged, owner=operator,
                             description="Replace door closer",
                             due_date=timezone.localdate() + timedelta(days=3))
    signatures = ElectronicSignature.objects.count()
    with pytest.raises(DomainError) as refused:
        workflow.complete_capa(actor=colleague, password=password, capa=capa, note="Done")
    assert refused.value.code == "signature_refused"
    assert ElectronicSignature.objects.count() == signatures
    capa.refresh_from_db()
    assert (capa.state, capa.done_at) == (CapaAction.State.OPEN, None)
    assert not signatures_for(capa)


@pytest.mark.req("DEV-CLS-001:investigation", "DEV-CLS-001:disposition")
def test_closure_needs_an_investigation_and_a_disposition_when_one_was_due(
        db, site, operator, qa_user, password):
    deviation = raised(operator, site, classification="critical")
    workflow.acknowledge_deviation(actor=qa_user, password=password, deviation=deviation)
    before = snapshot(deviation)
    with pytest.raises(DomainError) as refused:
        workflow.close_deviation(actor=qa_user, password=password, deviation=deviation,
                                 summary="x")
    assert refused.value.code == "no_investigation"
    assert snapshot(deviation) == before
    investigated(deviation, qa_user, password)
    before = snapshot(deviation)
    with pytest.raises(DomainError) as refused:
        workflow.close_deviation(actor=qa_user, password=password, deviation=deviation,
                                 summary="x")
    assert refused.value.code == "no_disposition"
    assert snapshot(deviation) == before
    assert not Closure.objects.exists()


@pytest.mark.req("DEV-CAN-001:qa-only", "DEV-CAN-001:reason", "DEV-CAN-001:kept")
def test_only_qa_cancels_with_a_reason(db, site, operator, qa_user, qp, supervisor):
    deviation = raised(operator, site)
    before = snapshot(deviation)
    for actor in (operator, supervisor, qp):
        with pytest.raises(DomainError) as refused:
            workflow.cancel_deviation(actor=actor, deviation=deviation, reason="Duplicate")
        assert refused.value.code == "permission_denied"
    with pytest.raises(DomainError) as refused:
        workflow.cancel_deviation(actor=qa_user, deviation=deviation, reason="  ")
    assert refused.value.code == "reason_required"
    assert snapshot(deviation) == before

    workflow.cancel_deviation(actor=qa_user, deviation=deviation, reason="Duplicate of 0001")
    deviation.refresh_from_db()
    assert (deviation.status, deviation.cancellation_reason) == (Status.CANCELLED,
                                                                 "Duplicate of 0001")
    latest = deviation.history.first()
    assert (latest.history_user, latest.history_change_reason) == (
        qa_user, "Cancelled: Duplicate of 0001")
    assert Deviation.objects.filter(pk=deviation.pk).exists()  # never deleted


@pytest.mark.req("DEV-STATE-001:order")
def test_nothing_is_disposed_or_investigated_before_acknowledgement(
        db, site, operator, qa_user, password):
    deviation = raised(operator, site, classification="critical")
    before = snapshot(deviation)
    with pytest.raises(DomainError) as refused:
        workflow.dispose_material(actor=qa_user, password=password, deviation=deviation,
                                  decision="hold", rationale="Hold")
    assert refused.value.code == "not_acknowledged"
    assert snapshot(deviation) == before
    with pytest.raises(DomainError) as refused:
        investigated(deviation, qa_user, password)
    assert refused.value.code == "not_acknowledged"
    assert snapshot(deviation) == before


@pytest.mark.req("DEV-STATE-001:table")
def test_a_closed_or_cancelled_deviation_takes_no_more_decisions(
        db, site, operator, qa_user, password):
    deviation = raised(operator, site)
    workflow.cancel_deviation(actor=qa_user, deviation=deviation, reason="Raised in error")
    before = snapshot(deviation)
    with pytest.raises(DomainError) as refused:
        workflow.acknowledge_deviation(actor=qa_user, password=password, deviation=deviation)
    assert refused.value.code == "not_active"
    with pytest.raises(DomainError) as refused:
        workflow.cancel_deviation(actor=qa_user, deviation=deviation, reason="Again")
    assert refused.value.code == "not_active"
    assert snapshot(deviation) == before
    assert deviation.cancellation_reason == "Raised in error"


@pytest.mark.req("DEV-STATE-001:table")
def test_the_transition_table_refuses_a_jump(db, site, operator):
    deviation = raised(operator, site)
    with pytest.raises(DomainError) as refused:
        deviation.move_to(Status.CLOSED)
    assert refused.value.code == "invalid_transition"
    assert deviation.status == Status.OPEN
    deviation.refresh_from_db()
    assert deviation.status == Status.OPEN


@pytest.mark.req("DEV-SIG-001:classify", "DEV-DL-001:reclassify")
def test_classification_is_signed_and_moves_the_deadlines(db, site, operator, qa_user,
                                                         password):
    deviation = raised(operator, site, classification="minor", patient_impact="no")
    decision = workflow.classify_deviation(
        actor=qa_user, password=password, deviation=deviation, classification="critical",
        patient_impact="yes", rationale="Patient material at risk")
    deviation.refresh_from_db()
    assert (deviation.classification, deviation.classification_confirmed) == ("critical", True)
    assert deviation.acknowledge_due_at == deviation.detected_at + timedelta(minutes=15)
    assert deviation.disposition_due_at == deviation.detected_at + timedelta(hours=2)
    assert signatures_for(decision)[0].meaning == Meaning.REVIEWED


@pytest.mark.req("DEV-UI-002:timeline")
def test_comments_join_the_timeline_even_after_closure(db, site, operator, qa_user):
    deviation = raised(operator, site)
    workflow.cancel_deviation(actor=qa_user, deviation=deviation, reason="Duplicate")
    comment = workflow.add_comment(actor=operator, deviation=deviation, text="Understood")
    assert Comment.objects.get() == comment
    with pytest.raises(DomainError) as refused:
        workflow.add_comment(actor=operator, deviation=deviation, text=" ")
    assert refused.value.code == "invalid"
    assert list(Comment.objects.all()) == [comment]
