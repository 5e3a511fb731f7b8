"""Training records (trained, then verified) and SOP revisions (effective supersedes)."""

from __future__ import annotations

import datetime as dt

import pytest

from mes.errors import DomainError
from mes.models import ElectronicSignature
from tests.mes.factories import person
from tests.training.factories import SOPDocumentFactory, certified, trained
from training.models import SOPDocument, SOPRevision, TrainingRecord
from training.services import records, sops
from training.services.gate import check_certified

ON = dt.date(2026, 6, 1)


@pytest.mark.req("TRN-REC-001:trainee-signs", "TRN-REC-001:trainer-verifies", "TRN-REC-001:counts")
def test_the_trainee_signs_trained_then_the_trainer_signs_verified(
        operator, trainer, site, cell_selection, sop_revision, password):
    certified(operator, cell_selection, site)
    record = records.record_training(actor=operator, password=password,
                                     sop_revision=sop_revision, trainer=trainer, site=site,
                                     trained_on=dt.date(2026, 5, 20), assessment="passed")
    assert record.status == TrainingRecord.Status.AWAITING_VERIFICATION
    # Not yet verified: it does not count
    assert [r.code for r in check_certified(person=operator, qualification_codes=["CELL-SEL"],
                                            site=site, at=ON).reasons] == ["not_trained"]
    records.verify_training(actor=trainer, password=password, record=record)
    record.refresh_from_db()
    assert record.status == TrainingRecord.Status.COMPLETE
    assert list(ElectronicSignature.objects.values_list("signer__username", "meaning")) == [
        ("op1", "trained"), ("tr1", "verified")]
    assert check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                           at=ON).certified
    # Both signatures still verify: the status is outside the signed content
    from mes.services.signatures import verify

    assert all(verify(s).valid for s in ElectronicSignature.objects.all())


@pytest.mark.req("TRN-REC-001:trainer-verifies")
def test_only_the_named_trainer_verifies(operator, trainer, qa_user, site, sop_revision,
                                         password):
    record = records.record_training(actor=operator, password=password,
                                     sop_revision=sop_revision, trainer=trainer, site=site,
                                     trained_on=dt.date(2026, 5, 20), assessment="passed")
    with pytest.raises(DomainError, match="trainer named on the record") as refused:
        records.verify_training(actor=qa_user, password=password, record=record)
    assert refused.value.code == "permission_denied"
    record.refresh_from_db()
    assert record.status == TrainingRecord.Status.AWAITING_VERIFICATION
    assert ElectronicSignature.objects.count() == 1


@pytest.mark.req("TRN-REC-001:trainer-verifies")
def test_nobody_trains_themself(trainer, site, sop_revision, password):
    with pytest.raises(DomainError, match="cannot be the trainee") as refused:
        records.record_training(actor=trainer, password=password, sop_revision=sop_revision,
                                trainer=trainer, site=site, trained_on=dt.date(2026, 5, 20),
                                assessment="passed")
    assert refused.value.code == "permission_denied"
    assert not TrainingRecord.objects.exists()


@pytest.mark.req("TRN-REC-001:trainee-signs")
def test_the_trainee_signature_can_only_be_the_trainees(operator, trainer, site, sop_revision,
                                                        roles):
    record = trained(operator, sop_revision, trainer=trainer, site=site,
                     status=TrainingRecord.Status.AWAITING_VERIFICATION)
    other = person("Operator", sites=[site], username="op7", full_name="Olaf Other")
    from mes.services.signatures import apply_signature

    with pytest.raises(DomainError, match="Only the trainee") as refused:
        apply_signature(signer=other, record=record, meaning="trained")
    assert refused.value.code == "signature_refused"
    assert not ElectronicSignature.objects.exists()


@pytest.mark.req("TRN-REC-001:trainee-signs")
def test_training_is_recorded_on_the_effective_revision_only(operator, trainer, site,
                                                             sop_revision, password):
    draft = SOPRevision.objects.create(document=sop_revision.document, revision="2")
    with pytest.raises(DomainError, match="draft; training is recorded on") as refused:
        records.record_training(actor=operator, password=password, sop_revision=draft,
                                trainer=trainer, site=site, trained_on=dt.date(2026, 5, 20),
                                assessment="passed")
    assert refused.value.code == "revision_not_effective"
    with pytest.raises(DomainError, match="in the future") as refused:
        records.record_training(actor=operator, password=password, sop_revision=sop_revision,
                                trainer=trainer, site=site, trained_on=dt.date(2026, 6, 9),
                                assessment="passed")
    assert refused.value.code == "invalid"
    with pytest.raises(DomainError) as refused:
        records.record_training(actor=operator, password="wrong", sop_revision=sop_revision,
                                trainer=trainer, site=site, trained_on=dt.date(2026, 5, 20),
                                assessment="passed")
    assert refused.value.code == "wrong_password"
    assert not TrainingRecord.objects.exists()
    assert not ElectronicSignature.objects.exists()


@pytest.mark.req("TRN-SOP-001:supersede", "TRN-GATE-004:effective")
def test_a_new_effective_revision_supersedes_the_old_and_the_old_training_stops_counting(
        operator, trainer, qa_user, site, cell_selection, sop_revision):
    # Given Otto trained on rev. 1 and certified
    trained(operator, sop_revision, trainer=trainer, site=site)
    certified(operator, cell_selection, site)
    assert check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                           at=ON).certified
    # When QA makes rev. 2 effective today
    draft = sops.add_sop_revision(actor=qa_user, document=sop_revision.document, revision="2",
                                  summary="New bead lot handling")
    sops.make_revision_effective(actor=qa_user, revision=draft, effective_date=ON,
                                 reason="Change control CC-88 closed")
    # Then rev. 1 is superseded, rev. 2 in force, and Otto needs retraining
    sop_revision.refresh_from_db()
    draft.refresh_from_db()
    assert (sop_revision.status, draft.status) == ("superseded", "effective")
    assert sop_revision.history.first().history_change_reason.startswith("Superseded by rev. 2")
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=ON)
    assert [r.code for r in result.reasons] == ["retraining_required"]


@pytest.mark.req("TRN-SOP-001:not-before")
def test_a_revision_cannot_take_effect_before_the_one_in_force(qa_user, sop_revision):
    draft = sops.add_sop_revision(actor=qa_user, document=sop_revision.document, revision="2")
    with pytest.raises(DomainError, match="cannot take effect before") as refused:
        sops.make_revision_effective(actor=qa_user, revision=draft,
                                     effective_date=dt.date(2025, 12, 1), reason="Back-date")
    assert refused.value.code == "invalid"
    sop_revision.refresh_from_db()
    draft.refresh_from_db()
    assert (sop_revision.status, draft.status, draft.effective_date) == (
        "effective", "draft", None)
    assert (sop_revision.history.count(), draft.history.count()) == (1, 1)


@pytest.mark.req("TRN-SOP-001:one-effective")
def test_the_database_allows_one_effective_revision_per_sop(db):
    from django.db import IntegrityError, transaction

    document = SOPDocumentFactory(number="SOP-X")
    SOPRevision.objects.create(document=document, revision="1", status="effective",
                               effective_date=ON)
    with pytest.raises(IntegrityError), transaction.atomic():
        SOPRevision.objects.create(document=document, revision="2", status="effective",
                                   effective_date=ON)


@pytest.mark.req("TRN-SOP-001:who")
def test_only_qa_or_trainers_maintain_sops(operator):
    with pytest.raises(DomainError) as refused:
        sops.create_sop_document(actor=operator, number="SOP-Y", title="Mine")
    assert refused.value.code == "permission_denied"
    assert not SOPDocument.objects.exists() and not SOPDocument.history.exists()


@pytest.mark.req("TRN-REC-001:trainer-verifies")
def test_a_bare_verified_signature_cannot_bypass_the_verify_flow(operator, trainer, site,
                                                                 sop_revision):
    # Given a record awaiting verification, signed by the trainee
    record = trained(operator, sop_revision, trainer=trainer, site=site,
                     status=TrainingRecord.Status.AWAITING_VERIFICATION)
    from mes.services.signatures import apply_signature

    # When the trainer signs it directly (e.g. through the generic signature API)
    with pytest.raises(DomainError, match="verified from its page") as refused:
        apply_signature(signer=trainer, record=record, meaning="verified")
    assert refused.value.code == "signature_refused"
    # Then nothing is signed and the record still awaits the real verification
    assert not ElectronicSignature.objects.exists()
