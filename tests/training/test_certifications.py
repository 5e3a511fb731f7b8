"""Certification decisions: signed approved with a reason, by a Trainer or QA, never oneself."""

from __future__ import annotations

import datetime as dt

import pytest

from mes.errors import (
    DomainError,
)
from mes.models import ElectronicSignature, Meaning
from tests.mes.factories import person
from tests.training.factories import certified, supersede, trained
from training.models import Certification, CertificationDecision
from training.services import certifications
from training.services.gate import check_certified


def nothing_written() -> bool:
    return (not Certification.objects.exists() and not CertificationDecision.objects.exists()
            and not ElectronicSignature.objects.exists()
            and not Certification.history.exists())


@pytest.fixture
def trained_operator(operator, trainer, site, sop_revision):
    trained(operator, sop_revision, trainer=trainer, site=site)
    return operator


@pytest.mark.req("TRN-CERT-001:signed")
def test_a_trainer_grants_a_certification_signed_as_approved(trained_operator, trainer, site,
                                                             cell_selection, password):
    cert = certifications.grant_certification(
        actor=trainer, password=password, person=trained_operator,
        qualification=cell_selection, site=site, valid_from=dt.date(2026, 3, 1),
        reason="Passed the observed aseptic run")
    assert (cert.status, cert.valid_from, cert.valid_until) == (
        Certification.Status.ACTIVE, dt.date(2026, 3, 1), dt.date(2027, 2, 28))
    decision = cert.decisions.get()
    assert (decision.action, decision.decided_by, decision.reason) == (
        "grant", trainer, "Passed the observed aseptic run")
    signature = ElectronicSignature.objects.get()
    assert (signature.object_id, signature.signer, signature.meaning, signature.reason,
            signature.site) == (decision.pk, trainer, Meaning.APPROVED,
                                "Passed the observed aseptic run", site)
    history = cert.history.get()
    assert (history.history_user, history.history_change_reason) == (
        trainer, "Passed the observed aseptic run")
    assert check_certified(person=trained_operator, qualification_codes=["CELL-SEL"],
                           site=site, at=dt.date(2026, 6, 1)).certified


@pytest.mark.req("TRN-CERT-001:who")
def test_qa_may_grant_too(trained_operator, qa_user, site, cell_selection, password):
    certifications.grant_certification(actor=qa_user, password=password,
                                       person=trained_operator, qualification=cell_selection,
                                       site=site, reason="QA assessment")
    assert Certification.objects.filter(person=trained_operator).count() == 1


@pytest.mark.req("TRN-CERT-001:not-self")
def test_nobody_certifies_themself(site, cell_selection, sop_revision, password, roles):
    # Given a trainer who is trained on the SOP by another trainer
    tina = person("Trainer", sites=[site], username="tr2", full_name="Tia Self")
    other = person("Trainer", sites=[site], username="tr3", full_name="Theo Other")
    trained(tina, sop_revision, trainer=other, site=site)
    with pytest.raises(DomainError, match="their own certification") as refused:
        certifications.grant_certification(actor=tina, password=password, person=tina,
                                           qualification=cell_selection, site=site,
                                           reason="I know it")
    assert refused.value.code == "permission_denied"
    assert nothing_written()


@pytest.mark.req("TRN-CERT-001:not-self")
def test_the_signature_itself_refuses_a_decision_on_ones_own_certification(
        trained_operator, trainer, site, cell_selection):
    # Even past the service, the record's own check refuses a trainer signing about themself
    cert = certified(trainer, cell_selection, site)
    decision = CertificationDecision.objects.create(
        certification=cert, site=site, action="suspend", reason="x", decided_by=trainer)
    from mes.services.signatures import apply_signature

    with pytest.raises(DomainError, match="own certification") as refused:
        apply_signature(signer=trainer, record=decision, meaning=Meaning.APPROVED)
    assert refused.value.code == "signature_refused"
    assert not ElectronicSignature.objects.exists()


@pytest.mark.req("TRN-CERT-001:who")
def test_granting_needs_the_role(trained_operator, site, cell_selection, password, roles):
    supervisor = person("Supervisor", sites=[site], username="sup9", full_name="Sue Perv")
    with pytest.raises(DomainError, match="not authorised to grant") as refused:
        certifications.grant_certification(actor=supervisor, password=password,
                                           person=trained_operator,
                                           qualification=cell_selection, site=site,
                                           reason="Helping out")
    assert refused.value.code == "permission_denied"
    assert nothing_written()


@pytest.mark.req("TRN-CERT-001:password")
def test_granting_needs_a_valid_signature(trained_operator, trainer, site, cell_selection):
    with pytest.raises(DomainError, match="password is not correct") as refused:
        certifications.grant_certification(actor=trainer, password="wrong",
                                           person=trained_operator,
                                           qualification=cell_selection, site=site,
                                           reason="Passed")
    assert refused.value.code == "wrong_password"
    assert nothing_written()


@pytest.mark.req("TRN-CERT-001:reason")
def test_granting_needs_a_reason(trained_operator, trainer, site, cell_selection, password):
    with pytest.raises(DomainError) as refused:
        certifications.grant_certification(actor=trainer, password=password,
                                           person=trained_operator,
                                           qualification=cell_selection, site=site,
                                           reason="  ")
    assert refused.value.code == "reason_required"
    assert nothing_written()


@pytest.mark.req("TRN-CERT-001:who")
def test_a_trainer_of_another_site_cannot_grant_here(trained_operator, site, other_site,
                                                     cell_selection, password, roles):
    far = person("Trainer", sites=[other_site], username="tr9", full_name="Far Trainer")
    with pytest.raises(DomainError, match="no access to PLANT1") as refused:
        certifications.grant_certification(actor=far, password=password,
                                           person=trained_operator,
                                           qualification=cell_selection, site=site,
                                           reason="Remote")
    assert refused.value.code == "permission_denied"
    assert nothing_written()


@pytest.mark.req("TRN-CERT-002:training")
def test_granting_without_current_training_is_refused(operator, trainer, site, cell_selection,
                                                      sop_revision, password):
    with pytest.raises(DomainError, match="No completed training on SOP-CS rev. 1") as refused:
        certifications.grant_certification(actor=trainer, password=password, person=operator,
                                           qualification=cell_selection, site=site,
                                           reason="Passed")
    assert refused.value.code == "training_incomplete"
    assert nothing_written()


@pytest.mark.req("TRN-CERT-002:one-current")
def test_a_second_current_certification_is_refused(trained_operator, trainer, site,
                                                   cell_selection, password):
    certifications.grant_certification(actor=trainer, password=password,
                                       person=trained_operator, qualification=cell_selection,
                                       site=site, reason="Passed")
    with pytest.raises(DomainError, match="already holds an? active") as refused:
        certifications.grant_certification(actor=trainer, password=password,
                                           person=trained_operator,
                                           qualification=cell_selection, site=site,
                                           reason="Again")
    assert refused.value.code == "already_certified"
    assert Certification.objects.count() == 1
    assert ElectronicSignature.objects.count() == 1


@pytest.mark.req("TRN-CERT-001:signed")
def test_suspend_reinstate_and_revoke_are_signed_decisions_with_reasons(
        trained_operator, trainer, qa_user, site, cell_selection, password):
    cert = certified(trained_operator, cell_selection, site)
    certifications.suspend_certification(actor=trainer, password=password, certification=cert,
                                         reason="Deviation DEV-12 under investigation")
    cert.refresh_from_db()
    assert cert.status == Certification.Status.SUSPENDED
    certifications.reinstate_certification(actor=qa_user, password=password,
                                           certification=cert, reason="Retrained after DEV-12")
    certifications.revoke_certification(actor=trainer, password=password, certification=cert,
                                        reason="Repeated aseptic failures")
    cert.refresh_from_db()
    assert cert.status == Certification.Status.REVOKED
    decisions = list(cert.decisions.values_list("action", "decided_by__username", "reason"))
    assert decisions == [("suspend", "tr1", "Deviation DEV-12 under investigation"),
                         ("reinstate", "qa1", "Retrained after DEV-12"),
                         ("revoke", "tr1", "Repeated aseptic failures")]
    signatures = list(ElectronicSignature.objects.values_list("signer__username", "meaning",
                                                              "reason"))
    assert signatures == [("tr1", "approved", "Deviation DEV-12 under investigation"),
                          ("qa1", "approved", "Retrained after DEV-12"),
                          ("tr1", "approved", "Repeated aseptic failures")]
    reasons = list(cert.history.order_by("history_id").values_list("history_change_reason",
                                                                     flat=True))
    assert reasons[1:] == ["Deviation DEV-12 under investigation", "Retrained after DEV-12",
                           "Repeated aseptic failures"]


@pytest.mark.req("TRN-CERT-001:transitions")
def test_a_revoked_certification_cannot_be_reinstated(trained_operator, trainer, site,
                                                      cell_selection, password):
    cert = certified(trained_operator, cell_selection, site,
                     status=Certification.Status.REVOKED)
    with pytest.raises(DomainError, match="cannot go from “revoked” to “active”") as refused:
        certifications.reinstate_certification(actor=trainer, password=password,
                                               certification=cert, reason="Changed my mind")
    assert refused.value.code == "transition_refused"
    assert not CertificationDecision.objects.exists()
    assert not ElectronicSignature.objects.exists()


@pytest.mark.req("TRN-CERT-001:password")
def test_a_wrong_password_on_suspension_changes_nothing(trained_operator, trainer, site,
                                                        cell_selection):
    cert = certified(trained_operator, cell_selection, site)
    with pytest.raises(DomainError) as refused:
        certifications.suspend_certification(actor=trainer, password="nope",
                                             certification=cert, reason="Investigation")
    assert refused.value.code == "wrong_password"
    cert.refresh_from_db()
    assert cert.status == Certification.Status.ACTIVE
    assert cert.history.count() == 1
    assert not CertificationDecision.objects.exists()


@pytest.mark.req("TRN-CERT-001:signed", "TRN-CERT-002:training")
def test_renewal_extends_from_the_current_end_and_needs_current_training(
        trained_operator, trainer, site, cell_selection, sop_revision, password):
    cert = certified(trained_operator, cell_selection, site,
                     valid_until=dt.date(2026, 12, 10))
    renewed = certifications.renew_certification(actor=trainer, password=password,
                                                 certification=cert, reason="Annual requal")
    assert renewed.valid_until == dt.date(2027, 12, 10)
    # When a new SOP revision is effective, renewal waits for the retraining
    supersede(sop_revision, "2", dt.date(2026, 5, 1))
    with pytest.raises(DomainError, match="superseded revision of SOP-CS") as refused:
        certifications.renew_certification(actor=trainer, password=password,
                                           certification=renewed, reason="Again")
    assert refused.value.code == "training_incomplete"
    assert CertificationDecision.objects.filter(action="renew").count() == 1
    renewed.refresh_from_db()
    assert (renewed.valid_until, renewed.history.count()) == (dt.date(2027, 12, 10), 2)
    assert ElectronicSignature.objects.count() == 1


@pytest.mark.req("TRN-CERT-001:not-self")
@pytest.mark.parametrize("decide, status", [
    (certifications.suspend_certification, Certification.Status.ACTIVE),
    (certifications.revoke_certification, Certification.Status.ACTIVE),
    (certifications.renew_certification, Certification.Status.ACTIVE),
    (certifications.reinstate_certification, Certification.Status.SUSPENDED),
])
def test_nobody_decides_on_their_own_certification(trainer, operator, site, cell_selection,
                                                   sop_revision, password, decide, status):
    # Given a trainer, trained and certified, whose certification is theirs to keep or lose
    trained(trainer, sop_revision, trainer=operator, site=site)
    cert = certified(trainer, cell_selection, site, status=status)
    # When they try to suspend, revoke, renew or reinstate it themself, it is refused
    with pytest.raises(DomainError, match="their own certification") as refused:
        decide(actor=trainer, password=password, certification=cert, reason="My call")
    assert refused.value.code == "permission_denied"
    # And nothing changed
    cert.refresh_from_db()
    assert cert.status == status and cert.history.count() == 1
    assert not CertificationDecision.objects.exists()
    assert not ElectronicSignature.objects.exists()
