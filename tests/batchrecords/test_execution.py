"""Performing a batch's steps at the suite: what a step writes, its signature, values against
limits, verification, not applicable, corrections, comments and the pinned master version."""

from __future__ import annotations

from decimal import Decimal

import pytest

from batchrecords.models import (
    BatchException,
    BatchStatus,
    ExceptionKind,
    Flag,
    Step,
    StepScan,
    StepStatus,
    StepValue,
)
from batchrecords.selectors import passed_checks
from batchrecords.services.authoring import change_step
from batchrecords.services.corrections import correct_value
from batchrecords.services.execution import LotScan, add_comment, mark_not_applicable
from batchrecords.services.versions import approve_version, new_version_from, submit_for_review
from deviations.models import Deviation
from mes.models import ElectronicSignature, Meaning
from mes.services.signatures import verify as verify_signature
from reagents.models import StockEntry
from scheduling.models import LogbookEntry
from tests.batchrecords.execution_kit import counts, perform, up_to, verify, written
from tests.batchrecords.world import run
from tests.mes.factories import PASSWORD, person
from tests.refusals import refused


def _signatures(step, meaning=None):
    found = ElectronicSignature.objects.filter(object_id=step.pk,
                                               content_type__model="steprun")
    return list(found.filter(meaning=meaning) if meaning else found)


def _values(step) -> dict:
    return {v.field.key: v for v in StepValue.objects.filter(run=step).select_related("field")}


@pytest.mark.req("EBR-EXEC-005:match", "EBR-EXEC-009:status", "EBR-EXEC-009:batch")
def test_performing_the_first_step_records_its_value_and_label_and_starts_the_batch(world):
    done = perform(world, "R01")

    assert done.status == StepStatus.DONE
    assert (done.performed_by, done.revision) == (world.operator, 1)
    assert _values(done)["seal_intact"].value == "yes"
    label = StepScan.objects.get(run=done)
    assert (label.kind, label.scanned) == (StepScan.Kind.PATIENT_LABEL, world.label)
    world.batch.refresh_from_db()
    assert world.batch.status == BatchStatus.IN_PROGRESS
    assert world.batch.started_at is not None


@pytest.mark.req("EBR-EXEC-006:consume", "EBR-EXEC-007:logbook")
def test_a_step_consumes_its_lot_and_writes_the_equipment_logbook(world):
    up_to(world, "S01")
    on_hand = world.medium_lot.quantity_on_hand

    done = perform(world, "S01")

    lot_scan = StepScan.objects.get(run=done, kind=StepScan.Kind.LOT)
    entry = StockEntry.objects.get(pk=lot_scan.stock_entry_id)
    assert (entry.quantity, entry.batch_number, entry.patient_coi) == (
        Decimal("-100"), world.batch.number, world.patient.coi)
    world.medium_lot.refresh_from_db()
    assert world.medium_lot.quantity_on_hand == on_hand - 100
    equipment = StepScan.objects.get(run=done, kind=StepScan.Kind.EQUIPMENT)
    use = LogbookEntry.objects.get(pk=equipment.logbook_entry_id)
    assert (use.equipment, use.batch_number) == (world.separator, world.batch.number)


@pytest.mark.req("EBR-EXEC-006:consume")
def test_a_lot_is_found_by_its_gs1_label_too(world):
    up_to(world, "S01")
    lot = world.medium_lot

    done = perform(world, "S01", lots=[LotScan("MED-TEX", f"(01){lot.gtin}(10){lot.supplier_lot}")])

    assert StepScan.objects.get(run=done, kind=StepScan.Kind.LOT).lot == lot


@pytest.mark.req("EBR-EXEC-008:calculated", "EBR-EXEC-009:status", "EBR-EXEC-010:verify",
                 "EBR-EXEC-009:batch")
def test_the_dose_is_calculated_and_a_second_person_verifies_the_last_step(world):
    up_to(world, "T03")

    performed = perform(world, "T03")

    assert performed.status == StepStatus.PERFORMED
    dose = _values(performed)["dose_volume"]
    assert dose.number == Decimal("15")  # 5 * 1.5 * 100 / 50
    world.batch.refresh_from_db()
    assert world.batch.status == BatchStatus.IN_PROGRESS

    verified = verify(world, "T03")

    assert (verified.status, verified.verified_by) == (StepStatus.DONE, world.verifier)
    assert len(_signatures(verified, Meaning.VERIFIED)) == 1
    world.batch.refresh_from_db()
    assert world.batch.status == BatchStatus.EXECUTED
    assert world.batch.executed_at is not None


@pytest.mark.req("EBR-EXEC-009:signature")
def test_the_performed_signature_covers_values_and_scans_and_survives_verification(world):
    up_to(world, "T03")
    performed = perform(world, "T03")
    signature = _signatures(performed, Meaning.PERFORMED)[0]
    assert verify_signature(signature).valid

    verify(world, "T03")

    assert verify_signature(signature).valid
    # A value slipped in after signing would show.
    step = run(world, "T03")
    content = step.canonical_content()
    assert len(content["values"]) == 3 and len(content["scans"]) == 2


@pytest.mark.req("EBR-EXEC-008:alert")
def test_a_value_outside_alert_limits_is_flagged_with_an_exception_and_no_deviation(world):
    up_to(world, "S01")

    done = perform(world, "S01", values={"vcc": "2.5", "volume": "100"})

    assert _values(done)["vcc"].flag == Flag.ALERT
    assert done.flagged
    exception = BatchException.objects.get(run=done)
    assert (exception.kind, exception.field_key, exception.value) == (
        ExceptionKind.ALERT_LIMIT, "vcc", "2.5")
    assert exception.deviation is None
    assert not Deviation.objects.exists()


@pytest.mark.req("EBR-EXEC-008:action")
def test_a_value_outside_action_limits_raises_a_deviation_linked_to_its_exception(world):
    up_to(world, "S01")

    done = perform(world, "S01", values={"vcc": "3.5", "volume": "100"})

    assert _values(done)["vcc"].flag == Flag.ACTION
    exception = BatchException.objects.get(run=done)
    assert exception.kind == ExceptionKind.ACTION_LIMIT
    deviation = Deviation.objects.get()
    assert exception.deviation == deviation
    assert (deviation.source, deviation.rule, deviation.batch_number, deviation.patient_coi) == (
        "automatic", "batchrecords.action_limit", world.batch.number, world.patient.coi)
    assert "action limits" in deviation.description


@pytest.mark.req("EBR-EXEC-010:never-performer")
def test_the_performer_never_verifies_their_own_step(world):
    up_to(world, "T03")
    perform(world, "T03")
    before = counts(world)

    with refused("verifier_is_performer"):
        verify(world, "T03", actor=world.operator)

    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-004:verify")
def test_a_verifier_without_certification_is_refused_with_the_gates_reasons(world):
    up_to(world, "T03")
    perform(world, "T03")
    uncertified = person("Operator", sites=[world.site], username="opc", full_name="Cy New")
    before = counts(world)

    with refused("not_certified", match="EXPANSION|GOWN", field="certification"):
        verify(world, "T03", actor=uncertified)

    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-010:awaiting")
def test_only_a_step_awaiting_verification_is_verified(world):
    before = counts(world)
    with refused("not_awaiting_verification"):
        verify(world, "R01")
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-011:recorded", "EBR-EXEC-002:parallel")
def test_a_step_allowed_to_be_skipped_is_not_applicable_with_a_reason(world):
    up_to(world, "T01")
    step = run(world, "T02")

    skipped = mark_not_applicable(actor=world.operator, password=PASSWORD, run=step,
                                  revision=step.revision, terminal=world.terminal,
                                  reason="Medium delivered pre-warmed")

    assert (skipped.status, skipped.na_reason) == (StepStatus.NOT_APPLICABLE,
                                                   "Medium delivered pre-warmed")
    assert BatchException.objects.get(run=skipped).kind == ExceptionKind.NOT_APPLICABLE
    assert len(_signatures(skipped, Meaning.PERFORMED)) == 1
    perform(world, "T01")  # the other step of the group, after it


@pytest.mark.req("EBR-EXEC-011:allowed", "EBR-EXEC-011:reason")
def test_not_applicable_needs_the_master_records_permission_and_a_reason(world):
    up_to(world, "T01")
    before = counts(world)

    with refused("na_not_allowed"):
        step = run(world, "T01")
        mark_not_applicable(actor=world.operator, password=PASSWORD, run=step,
                            revision=step.revision, terminal=world.terminal, reason="Not needed")
    with refused("reason_required", field="reason"):
        step = run(world, "T02")
        mark_not_applicable(actor=world.operator, password=PASSWORD, run=step,
                            revision=step.revision, terminal=world.terminal, reason="  ")

    assert written(before, counts(world)) == {}


def _correct(world, code, key, value, reason="Transcription error", actor=None):
    step = run(world, code)
    return correct_value(actor=actor or world.operator, password=PASSWORD, run=step,
                         revision=step.revision, terminal=world.terminal, field_key=key,
                         value=value, reason=reason)


@pytest.mark.req("EBR-EXEC-012:original", "EBR-EXEC-012:resign", "EBR-EXEC-012:exception")
def test_a_correction_keeps_the_original_and_asks_for_the_signatures_again(world):
    up_to(world, "T03")
    perform(world, "T03")
    verify(world, "T03")
    original = _values(run(world, "T03"))["method"]
    first_signature = _signatures(run(world, "T03"), Meaning.PERFORMED)[0]

    corrected = _correct(world, "T03", "method", "Manual")

    assert (corrected.corrects, corrected.value, corrected.reason) == (
        original, "Manual", "Transcription error")
    assert StepValue.objects.get(pk=original.pk).value == "Pump"
    step = run(world, "T03")
    assert (step.status, step.performed_by, step.verified_by) == (StepStatus.PENDING, None, None)
    assert BatchException.objects.get(run=step, kind=ExceptionKind.CORRECTION).value == "Manual"
    assert not verify_signature(first_signature).valid
    world.batch.refresh_from_db()
    assert world.batch.status == BatchStatus.IN_PROGRESS

    # signed again without entering the values anew (and out of its time window by now)
    again = perform(world, "T03", values={}, lots=[], equipment_scan="")
    assert again.status == StepStatus.PERFORMED
    verify(world, "T03")
    step = run(world, "T03")
    assert step.status == StepStatus.DONE
    assert len(_signatures(step, Meaning.PERFORMED)) == 3  # performed, corrected, again
    assert len(_signatures(step, Meaning.VERIFIED)) == 2
    world.batch.refresh_from_db()
    assert world.batch.status == BatchStatus.EXECUTED


@pytest.mark.req("EBR-EXEC-012:dependents")
def test_a_corrected_value_calculates_later_steps_again_and_asks_for_their_signatures(world):
    # given T03's dose volume calculated from S01's viable cell concentration, signed
    up_to(world, "T03")
    perform(world, "T03")
    verify(world, "T03")
    dose = _values(run(world, "T03"))["dose_volume"]

    # when S01's concentration is corrected
    _correct(world, "S01", "vcc", "1.2")

    # then the dose is calculated again (the first result stays), and T03 is signed again
    values = StepValue.objects.filter(run=run(world, "T03"), field__key="dose_volume")
    again = values.get(corrects=dose)
    assert Decimal(again.number) == Decimal(dose.number) * Decimal("1.2") / Decimal(
        _values(run(world, "S01"))["vcc"].corrects.number)
    assert StepValue.objects.get(pk=dose.pk).value == dose.value
    t03 = run(world, "T03")
    assert (t03.status, t03.performed_by, t03.verified_by) == (StepStatus.PENDING, None, None)
    assert BatchException.objects.filter(run=t03, kind=ExceptionKind.CORRECTION).count() == 1


@pytest.mark.req("EBR-EXEC-012:integrity")
def test_the_integrity_check_accepts_signatures_overtaken_by_a_correction_but_not_tampering(
        world):
    from mes.services.integrity import run_integrity_check
    from tests.mes.integrity_helpers import owner_sql

    # given a step corrected after signing, then signed again
    perform(world, "R01")
    perform(world, "S01")
    _correct(world, "S01", "vcc", "1.4")
    perform(world, "S01", values={}, lots=[], equipment_scan="")
    assert len(_signatures(run(world, "S01"))) == 3
    # then the earlier signatures are not findings
    check = run_integrity_check(user=world.admin)
    assert [f for f in check.findings if f["kind"] == "signature_broken"] == []

    # but a signed step changed behind the application's back is
    r01 = run(world, "R01")
    for table in ("batchrecords_steprun", "batchrecords_historicalsteprun"):
        owner_sql(f"UPDATE {table} SET na_reason = 'forged' WHERE id = %s", [r01.pk],
                  tables=(table,))
    check = run_integrity_check(user=world.admin)
    broken = [f for f in check.findings if f["kind"] == "signature_broken"]
    assert [f["pk"] for f in broken] == [_signatures(r01, Meaning.PERFORMED)[0].pk]


@pytest.mark.req("EBR-EXEC-012:reason")
def test_a_correction_without_a_reason_is_refused_and_writes_nothing(world):
    perform(world, "R01")
    before = counts(world)

    with refused("reason_required", field="reason"):
        _correct(world, "R01", "seal_intact", "no", reason="")
    with refused("invalid_value", field="seal_intact"):
        _correct(world, "R01", "seal_intact", "perhaps")

    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-013:comment")
def test_comments_are_recorded_on_any_step_as_exceptions(world):
    comment = add_comment(actor=world.operator, run=run(world, "T03"), text="Vector thawed late")
    performed = perform(world, "R01", comment="Bag slightly cold")

    assert (comment.kind, comment.detail) == (ExceptionKind.COMMENT, "Vector thawed late")
    assert BatchException.objects.get(run=performed).detail == "Bag slightly cold"
    with refused("reason_required", field="text"):
        add_comment(actor=world.operator, run=run(world, "T03"), text=" ")


@pytest.mark.req("EBR-EXEC-015:pinned")
def test_the_pinned_master_version_survives_a_newer_approval(world):
    second = new_version_from(actor=world.supervisor, source=world.version,
                              change_summary="The bag's label is checked at receipt instead.")
    receipt = Step.objects.get(operation__version=second, code="R01")
    change_step(actor=world.supervisor, step=receipt, reason="CC-2",
                patient_label_scan=False)
    submit_for_review(actor=world.supervisor, version=second)
    approve_version(actor=world.qa, password=PASSWORD, version=second, reason="CC-2")
    world.version.refresh_from_db()
    assert world.version.status == "superseded"

    # v1's R01 still needs the label
    with refused("label_required"):
        perform(world, "R01", label_scan="")
    done = perform(world, "R01")

    world.batch.refresh_from_db()
    assert world.batch.version == world.version
    assert done.step.operation.version == world.version
    assert _values(done)["seal_intact"].field.step.operation.version_id == world.version.pk


@pytest.mark.req("EBR-EXC-001:counted")
def test_the_checks_that_passed_are_counted_in_two_queries(world, django_assert_num_queries):
    up_to(world, "T01")

    with django_assert_num_queries(2):
        passed = passed_checks(world.batch)

    assert passed == {"label_scans_matched": 1, "lots_verified": 1, "equipment_verified": 1,
                      "values_in_limits": 1, "values_checked": 1}
