"""Execution attacked: who may sign a corrected step again, what a re-signature may not slip
in, numbers only as an operator types them, and the terminal's scan check kept to the people
who work the steps."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from batchrecords.models import BatchStop, DataField, StepStatus, StepValue
from batchrecords.services.corrections import correct_value
from batchrecords.services.execution import LotScan
from batchrecords.services.scanning import check_scan
from batchrecords.services.values import InvalidValue, parse_one
from custody.models import ScanRefusal
from deviations.models import Deviation
from tests.batchrecords.execution_kit import counts, perform, up_to, verify, written
from tests.batchrecords.world import run
from tests.mes.factories import PASSWORD
from tests.refusals import refused


def _correct(world, code, key, value, *, actor=None, reason="Transcription error"):
    step = run(world, code)
    return correct_value(actor=actor or world.operator, password=PASSWORD, run=step,
                         revision=step.revision, terminal=world.terminal, field_key=key,
                         value=value, reason=reason)


def _current(step) -> dict:
    return {v.field.key: v.value for v in StepValue.objects.filter(
        run=step, corrected_by__isnull=True).select_related("field")}


# --- a corrected step signed again -------------------------------------------------------------

@pytest.mark.req("EBR-EXEC-012:resign-values")
def test_a_step_corrected_from_empty_is_signed_again_without_new_values_or_scans(world):
    # given T02 performed without its optional remarks, then the remarks corrected in
    up_to(world, "T02")
    perform(world, "T02", values={})
    _correct(world, "T02", "remarks", "Medium warmed twice")
    before = counts(world)

    # when the re-signature tries to enter the value anew, it is refused and writes nothing
    with refused("already_recorded"):
        perform(world, "T02", values={"remarks": "Something else"})
    assert written(before, counts(world)) == {}

    # and signed again as it stands, the corrected value is the only current one
    again = perform(world, "T02", values={})
    assert again.status == StepStatus.DONE
    assert _current(again) == {"remarks": "Medium warmed twice"}


@pytest.mark.req("EBR-EXEC-012:resign-performer")
def test_only_the_person_who_performed_a_corrected_step_signs_it_performed_again(world):
    # given S01 performed by the operator, and its concentration corrected by a second person
    perform(world, "R01")
    perform(world, "S01")
    _correct(world, "S01", "vcc", "1.4", actor=world.verifier)
    before = counts(world)

    # then the corrector (who did not perform the step) is refused the performed signature
    with refused("not_the_performer", match="Ann Operator"):
        perform(world, "S01", actor=world.verifier, values={}, lots=[], equipment_scan="")
    assert written(before, counts(world)) == {}

    # and the operator who performed it signs it again
    again = perform(world, "S01", values={}, lots=[], equipment_scan="")
    assert (again.status, again.performed_by) == (StepStatus.DONE, world.operator)


@pytest.mark.req("EBR-EXEC-012:resign-performer")
def test_a_later_step_calculated_again_is_signed_again_by_its_own_performer(world):
    # given T03 performed by the operator and verified, then S01 corrected by the verifier
    up_to(world, "T03")
    perform(world, "T03")
    verify(world, "T03")
    _correct(world, "S01", "vcc", "1.2", actor=world.verifier)
    assert run(world, "T03").status == StepStatus.PENDING
    before = counts(world)

    with refused("not_the_performer"):
        perform(world, "T03", actor=world.verifier, values={}, lots=[], equipment_scan="")
    assert written(before, counts(world)) == {}
    assert perform(world, "T03", values={}, lots=[], equipment_scan="").performed_by == (
        world.operator)


# --- numbers as typed ----------------------------------------------------------------------------

@pytest.mark.req("EBR-EXEC-008:number-format")
@pytest.mark.parametrize("typed", ["1_5", "1,5", "1 000", "１５", "٣", "1e2", "1.5E0", "0x10",
                                   "+", ".", "1.2.3", "NaN", "-Infinity", "1e400"])
def test_a_number_is_only_digits_with_an_optional_sign_and_decimal_point(world, typed):
    field = DataField.objects.get(step__code="S01", key="volume",
                                  step__operation__version=world.version)
    with pytest.raises(InvalidValue):
        parse_one(field, typed, batch=world.batch, now=timezone.now())


@pytest.mark.req("EBR-EXEC-008:number-format")
@pytest.mark.parametrize(("typed", "stored"), [
    ("100", "100"), (" 0.50 ", "0.50"), ("-0", "0"), ("-0.000", "0.000"), ("+2.5", "2.5"),
    (".5", "0.5"), ("3.", "3"),
])
def test_a_number_is_stored_as_typed_in_plain_digits(world, typed, stored):
    field = DataField.objects.get(step__code="S01", key="volume",
                                  step__operation__version=world.version)
    parsed = parse_one(field, typed, batch=world.batch, now=timezone.now())
    assert parsed.value == stored
    assert parsed.number == Decimal(stored)


@pytest.mark.req("EBR-EXEC-008:number-format")
def test_a_number_with_an_underscore_is_refused_and_nothing_is_written(world):
    perform(world, "R01")
    before = counts(world)
    with refused("invalid_value", field="vcc"):
        perform(world, "S01", values={"vcc": "1_5", "volume": "100"})
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-006:quantity-format")
@pytest.mark.parametrize("quantity", ["1_00", "1e2", "１００", "0", "-100", "NaN", "1e400"])
def test_a_lot_quantity_is_a_plain_positive_number(world, quantity):
    perform(world, "R01")
    before = counts(world)
    with refused("invalid_value", field="lots.MED-TEX"):
        perform(world, "S01", lots=[LotScan("MED-TEX", "TX-1", quantity, "Reason")])
    assert written(before, counts(world)) == {}


# --- the scan check ------------------------------------------------------------------------------

@pytest.mark.req("EBR-EXEC-014:permission")
def test_a_person_who_does_not_work_the_steps_cannot_scan_at_the_terminal(world):
    # given a QA reviewer of the site (who may read the batch but not perform or verify)
    other_label = "G1234 26 999999 00"
    before = counts(world)
    with refused("permission_denied"):
        check_scan(actor=world.qa, run=run(world, "R01"), kind="patient_label",
                   scan=other_label, terminal=world.terminal)
    # nothing is recorded in their name: no refusal, deviation or stop
    assert written(before, counts(world)) == {}
    assert not BatchStop.objects.exists()
    assert not ScanRefusal.objects.exists() and not Deviation.objects.exists()


# --- not applicable after a correction ------------------------------------------------------------

@pytest.mark.req("EBR-EXEC-011:corrected")
def test_a_corrected_step_is_not_marked_not_applicable(world):
    from batchrecords.services.execution import mark_not_applicable

    # given T02 (which may be not applicable) performed with remarks, then corrected
    up_to(world, "T02")
    perform(world, "T02", values={"remarks": "Warmed"})
    _correct(world, "T02", "remarks", "Warmed at 37 °C")
    step = run(world, "T02")
    before = counts(world)

    # then it cannot be turned into "not applicable": its work is recorded
    with refused("already_recorded"):
        mark_not_applicable(actor=world.operator, password=PASSWORD, run=step,
                            revision=step.revision, terminal=world.terminal,
                            reason="Not needed after all")
    assert written(before, counts(world)) == {}


# --- lock order -----------------------------------------------------------------------------------

@pytest.mark.req("EBR-CONC-001:lock-order")
def test_a_step_write_locks_the_batch_before_the_step(world):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from batchrecords.services.runs import lock_run

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        lock_run(run(world, "R01"))
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locks) == 2
    assert locks[0].startswith('SELECT "batchrecords_batch"')
    assert locks[1].startswith('SELECT "batchrecords_steprun"')


@pytest.mark.req("EBR-EXEC-010:never-corrector")
def test_the_person_who_corrected_a_value_does_not_verify_the_step(world):
    # given T03 performed by the operator, verified, then corrected by the verifier
    up_to(world, "T03")
    perform(world, "T03")
    verify(world, "T03")
    _correct(world, "T03", "method", "Manual", actor=world.verifier)
    perform(world, "T03", values={}, lots=[], equipment_scan="")
    before = counts(world)

    # then the corrector may not be the second person for the corrected value
    with refused("verifier_is_corrector"):
        verify(world, "T03", actor=world.verifier)
    assert written(before, counts(world)) == {}
    assert run(world, "T03").status == StepStatus.PERFORMED


@pytest.mark.req("EBR-EXEC-013:closed")
def test_a_cancelled_batch_takes_no_more_comments(world):
    from batchrecords.services.batches import cancel_batch
    from batchrecords.services.execution import add_comment

    perform(world, "R01")
    cancel_batch(actor=world.supervisor, batch=world.batch, reason="Patient withdrew consent")
    before = counts(world)
    with refused("batch_closed", match="cancelled"):
        add_comment(actor=world.operator, run=run(world, "R01"), text="Bag discarded")
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-006:tolerance")
@pytest.mark.parametrize(("reason", "code"), [
    ("   ", "substitution_reason_required"), ("Spilt\x00", "invalid_value"),
    ("x" * 2001, "invalid_value"),
])
def test_a_substitution_reason_of_spaces_a_nul_or_too_long_is_refused(world, reason, code):
    perform(world, "R01")
    before = counts(world)
    with refused(code, field="lots.MED-TEX"):
        perform(world, "S01", lots=[LotScan("MED-TEX", "TX-1", "90", reason)])
    assert written(before, counts(world)) == {}


# --- stops and refused scans ----------------------------------------------------------------------

def _wrong_label(world) -> str:
    from tests.batchrecords.test_execution_scans import _other_patients_label

    return _other_patients_label(world)


@pytest.mark.req("EBR-EXEC-001:stopped-every-action")
def test_while_a_stop_is_open_no_step_is_skipped_corrected_or_scanned(world):
    from batchrecords.services.execution import mark_not_applicable

    # given T02 due, then a wrong label scanned at it stops the batch
    up_to(world, "T02")
    assert check_scan(actor=world.operator, run=run(world, "T02"), kind="patient_label",
                      scan=_wrong_label(world), terminal=world.terminal).stopped
    before = counts(world)

    # then every action on a step is refused with the stop's code, and writes nothing
    with refused("batch_stopped"):
        _correct(world, "S01", "vcc", "1.4")
    t02 = run(world, "T02")
    with refused("batch_stopped"):
        mark_not_applicable(actor=world.operator, password=PASSWORD, run=t02,
                            revision=t02.revision, terminal=world.terminal, reason="Not needed")
    with refused("batch_stopped"):
        check_scan(actor=world.operator, run=run(world, "T02"), kind="patient_label",
                   scan=_wrong_label(world), terminal=world.terminal)
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-001:stopped-every-action")
def test_while_a_stop_is_open_no_step_is_verified(world):
    up_to(world, "T03")
    perform(world, "T03")
    assert check_scan(actor=world.operator, run=run(world, "T03"), kind="patient_label",
                      scan=_wrong_label(world), terminal=world.terminal).stopped
    before = counts(world)
    with refused("batch_stopped"):
        verify(world, "T03")
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-005:atomic-refusal")
def test_a_wrong_label_whose_recording_fails_leaves_no_half_written_rows(world, monkeypatch):
    # given the batch's stop cannot be written (the database refuses it)
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(BatchStop, "save", broken)
    before = counts(world)

    # when a wrong label is scanned, the failure surfaces
    with pytest.raises(RuntimeError):
        perform(world, "R01", label_scan=_wrong_label(world))

    # and custody's refusal, the deviation and the exception went with it: nothing half-written
    assert written(before, counts(world)) == {}
