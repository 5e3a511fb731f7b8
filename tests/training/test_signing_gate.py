"""Signatures that need a qualification pass the gate; other signatures are untouched."""

from __future__ import annotations

import pytest

from mes.errors import DomainError
from mes.models import ElectronicSignature, Meaning
from mes.services.signatures import _signing_gates, apply_signature
from tests.training.factories import certified, trained
from training.models import TrainingRecord
from training.services.gate import signing_gate


def awaiting(operator, trainer, site, sop_revision) -> TrainingRecord:
    return trained(operator, sop_revision, trainer=trainer, site=site,
                   status=TrainingRecord.Status.AWAITING_VERIFICATION)


@pytest.mark.req("TRN-GATE-006:declared")
def test_the_gate_is_registered_with_the_signature_service():
    assert signing_gate in _signing_gates


@pytest.mark.req("TRN-GATE-006:declared")
def test_a_record_that_requires_a_qualification_refuses_an_uncertified_signer(
        operator, trainer, site, cell_selection, sop_revision):
    # Given a record whose "trained" signature requires CELL-SEL (as a batch step would)
    record = awaiting(operator, trainer, site, sop_revision)
    record.required_qualifications = lambda meaning: ["CELL-SEL"] if meaning == "trained" \
        else []
    # When Otto, not certified, signs: refused with the gate's reasons, nothing stored
    with pytest.raises(DomainError) as refused:
        apply_signature(signer=operator, record=record, meaning=Meaning.TRAINED)
    assert refused.value.code == "not_certified"
    assert "not certified for CELL-SEL at PLANT1" in refused.value.message
    assert not ElectronicSignature.objects.exists()
    # And once certified (and trained on the SOP), the same signature goes through
    trained(operator, sop_revision, trainer=trainer, site=site)
    certified(operator, cell_selection, site)
    apply_signature(signer=operator, record=record, meaning=Meaning.TRAINED)
    assert ElectronicSignature.objects.count() == 1


@pytest.mark.req("TRN-GATE-006:declared", "TRN-GATE-005")
def test_a_record_may_require_gowning_for_a_grade(operator, trainer, site, sop_revision,
                                                  gowning_b):
    record = awaiting(operator, trainer, site, sop_revision)
    record.required_cleanroom_grade = lambda meaning: "B"
    with pytest.raises(DomainError, match="not gowning-qualified for grade B") as refused:
        apply_signature(signer=operator, record=record, meaning=Meaning.TRAINED)
    assert refused.value.code == "not_certified"
    assert not ElectronicSignature.objects.exists()
    certified(operator, gowning_b, site)
    apply_signature(signer=operator, record=record, meaning=Meaning.TRAINED)


@pytest.mark.req("TRN-GATE-006:undeclared")
def test_records_that_declare_nothing_are_untouched(operator, trainer, site, sop_revision):
    # Otto holds no certification at all, and signs a record that requires none
    record = awaiting(operator, trainer, site, sop_revision)
    apply_signature(signer=operator, record=record, meaning=Meaning.TRAINED)
    assert ElectronicSignature.objects.get().signer == operator


@pytest.mark.req("TRN-GATE-006:undeclared")
def test_an_empty_requirement_for_this_meaning_is_untouched(operator, trainer, site,
                                                            sop_revision):
    record = awaiting(operator, trainer, site, sop_revision)
    record.required_qualifications = lambda meaning: []
    apply_signature(signer=operator, record=record, meaning=Meaning.TRAINED)
    assert ElectronicSignature.objects.count() == 1
