"""Scans at a step (patient label, reagent lots, equipment), the stop a wrong label raises and
who clears it, and the terminal's instant check of each barcode (EBR-EXEC-005 to -007,
EBR-EXEC-014, EBR-EXC-002, EBR-EXC-003)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from batchrecords.models import BatchException, BatchStop, ExceptionKind, StepScan
from batchrecords.services.execution import LotScan
from batchrecords.services.scanning import check_scan
from batchrecords.services.stops import clear_stop, confirm_feasibility_problem
from custody.models import ScanRefusal
from deviations.models import Deviation
from mes import audit
from mes.models import ElectronicSignature, Meaning
from reagents.models import LotStatus, StockEntry
from scheduling.models import Equipment
from tests.batchrecords.execution_kit import counts, perform, up_to, written
from tests.batchrecords.world import run
from tests.mes.factories import PASSWORD, person
from tests.reagents.factories import lot
from tests.refusals import refused
from tests.scheduling.factories import another_order, make_equipment, make_suite


def _label_of(patient) -> str:
    return patient.isbt.barcode_data if patient.din else patient.coi


def _other_patients_label(world) -> str:
    return _label_of(another_order(world, initials="ZZ", hospital_number="H-0099").patient)


def _only_a_refused_scan(world, code, *, step, **kwargs) -> BatchException:
    before = counts(world)
    with refused(code):
        perform(world, step, **kwargs)
    changed = written(before, counts(world))
    assert set(changed) == {"exceptions"}, changed
    assert changed["exceptions"][1] == changed["exceptions"][0] + 1
    exception = BatchException.objects.latest("pk")
    assert (exception.kind, exception.code) == (ExceptionKind.REFUSED_SCAN, code)
    return exception


@pytest.mark.req("EBR-EXEC-005:required")
def test_a_step_that_needs_the_label_is_refused_without_it(world):
    before = counts(world)
    with refused("label_required", field="label_scan"):
        perform(world, "R01", label_scan="")
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-005:mismatch")
def test_another_patients_label_raises_a_critical_deviation_and_stops_the_batch(world):
    wrong = _other_patients_label(world)
    before = counts(world)

    with refused("label_mismatch", match="WRONG PATIENT"):
        perform(world, "R01", label_scan=wrong)

    changed = written(before, counts(world))
    assert set(changed) == {"exceptions", "stops", "deviations", "scan_refusals"}, changed
    deviation = Deviation.objects.get()
    assert (deviation.classification, deviation.patient_impact) == ("critical", "yes")
    exception = BatchException.objects.get()
    assert (exception.kind, exception.value, exception.deviation) == (
        ExceptionKind.REFUSED_SCAN, wrong, deviation)
    stop = BatchStop.objects.get()
    assert (stop.batch, stop.exception, stop.cleared_at) == (world.batch, exception, None)
    assert ScanRefusal.objects.get().reason == ScanRefusal.Reason.OTHER_PATIENT


@pytest.mark.req("EBR-EXEC-001:stopped", "EBR-EXC-002:signed")
def test_a_stopped_batch_refuses_every_step_until_a_supervisor_clears_it(world):
    with refused("label_mismatch"):
        perform(world, "R01", label_scan=_other_patients_label(world))
    before = counts(world)
    with refused("batch_stopped", match="Supervisor"):
        perform(world, "R01")
    assert written(before, counts(world)) == {}

    stop = clear_stop(actor=world.supervisor, password=PASSWORD, stop=BatchStop.objects.get(),
                      reason="Label of the bag next door; bags segregated, QA informed")

    assert (stop.cleared_by, stop.clear_reason) == (
        world.supervisor, "Label of the bag next door; bags segregated, QA informed")
    signature = ElectronicSignature.objects.get(object_id=stop.pk, content_type__model="batchstop")
    assert (signature.signer, signature.meaning) == (world.supervisor, Meaning.REVIEWED)
    perform(world, "R01")


@pytest.mark.req("EBR-EXC-002:supervisor")
def test_only_a_supervisor_clears_a_stop_with_a_reason(world):
    with refused("label_mismatch"):
        perform(world, "R01", label_scan=_other_patients_label(world))
    stop = BatchStop.objects.get()
    before = counts(world)

    with refused("permission_denied"):
        clear_stop(actor=world.verifier, password=PASSWORD, stop=stop, reason="Fine")
    with refused("reason_required", field="reason"):
        clear_stop(actor=world.supervisor, password=PASSWORD, stop=stop, reason=" ")

    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXC-002:not-scanner", "EBR-EXEC-014:mismatch")
def test_the_supervisor_whose_scan_stopped_the_batch_does_not_clear_it(world):
    answer = check_scan(actor=world.supervisor, run=run(world, "R01"), kind="patient_label",
                        scan=_other_patients_label(world), terminal=world.terminal)
    assert (answer.ok, answer.code, answer.stopped) == (False, "label_mismatch", True)
    stop = BatchStop.objects.get()
    assert Deviation.objects.get().classification == "critical"

    with refused("supervisor_raised_stop"):
        clear_stop(actor=world.supervisor, password=PASSWORD, stop=stop, reason="Checked")

    other = person("Supervisor", sites=[world.site], username="super2", full_name="Sue Second")
    clear_stop(actor=other, password=PASSWORD, stop=stop, reason="Checked the bags")
    assert BatchStop.objects.get().cleared_by == other


@pytest.mark.req("EBR-EXEC-005:unreadable")
def test_an_unreadable_label_is_refused_with_custodys_code_and_no_stop(world):
    before = counts(world)
    with pytest.raises(Exception) as info:
        perform(world, "R01", label_scan="=G12345")
    assert info.value.code in ("unreadable", "wrong_check_character")
    changed = written(before, counts(world))
    assert set(changed) == {"exceptions", "scan_refusals"}, changed
    assert BatchException.objects.get().code == info.value.code


@pytest.mark.req("EBR-EXEC-006:required")
def test_a_step_without_a_lot_of_each_material_is_refused(world):
    up_to(world, "S01")
    before = counts(world)
    with refused("lot_required", match="MED-TEX", field="lots.MED-TEX"):
        perform(world, "S01", lots=[])
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-006:refused")
def test_a_lot_of_another_material_is_refused_with_only_its_exception(world):
    up_to(world, "S01")
    exception = _only_a_refused_scan(world, "wrong_material", step="S01",
                                     lots=[LotScan("MED-TEX", "VV-1")])
    assert (exception.value, exception.field_key) == ("VV-1", "lot")


@pytest.mark.req("EBR-EXEC-006:refused")
@pytest.mark.parametrize(("setup", "code"), [
    ({"status": LotStatus.QUARANTINE}, "lot_quarantined"),
    ({"expiry": dt.date(2020, 1, 1)}, "lot_expired"),
    ({"quantity": "10"}, "insufficient_quantity"),
])
def test_a_lot_that_reagents_refuses_keeps_reagents_code(world, setup, code):
    up_to(world, "S01")
    lot(site=world.site, material_=world.medium, supplier_lot="TX-BAD", **setup)
    _only_a_refused_scan(world, code, step="S01", lots=[LotScan("MED-TEX", "TX-BAD")])


@pytest.mark.req("EBR-EXEC-006:refused")
def test_an_unknown_lot_is_refused(world):
    up_to(world, "S01")
    _only_a_refused_scan(world, "lot_unknown", step="S01", lots=[LotScan("MED-TEX", "NOPE-9")])


@pytest.mark.req("EBR-EXEC-006:tolerance")
def test_a_quantity_outside_tolerance_needs_a_substitution_reason(world):
    up_to(world, "S01")
    before = counts(world)
    with refused("substitution_reason_required", field="lots.MED-TEX"):
        perform(world, "S01", lots=[LotScan("MED-TEX", "TX-1", "120")])
    assert written(before, counts(world)) == {}

    done = perform(world, "S01", lots=[LotScan("MED-TEX", "TX-1", "120",
                                               "Larger volume collected")])

    scan = StepScan.objects.get(run=done, kind=StepScan.Kind.LOT)
    assert StockEntry.objects.get(pk=scan.stock_entry_id).quantity == -120
    exception = BatchException.objects.get(run=done)
    assert exception.kind == ExceptionKind.SUBSTITUTION
    assert "Larger volume collected" in exception.detail


@pytest.mark.req("EBR-EXEC-007:required")
def test_a_step_that_needs_equipment_is_refused_without_a_scan(world):
    up_to(world, "S01")
    before = counts(world)
    with refused("equipment_required", field="equipment_scan"):
        perform(world, "S01", equipment_scan="")
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-007:suite")
def test_equipment_of_another_suite_is_refused(world):
    other = make_suite(world.admin, world.site, "S2")
    make_equipment(world.admin, other, world.cell_separator, "CS-09")
    up_to(world, "S01")
    _only_a_refused_scan(world, "equipment_wrong_suite", step="S01", equipment_scan="CS-09")


@pytest.mark.req("EBR-EXEC-007:type")
def test_equipment_of_another_type_is_refused(world):
    up_to(world, "S01")
    _only_a_refused_scan(world, "equipment_wrong_type", step="S01", equipment_scan="BR-01")


@pytest.mark.req("EBR-EXEC-007:usable")
def test_equipment_that_is_not_clean_is_refused(world):
    separator = world.separator
    separator.cleaning_status = Equipment.Cleaning.DIRTY
    audit.stamp(separator, user=world.admin, reason="Test: used elsewhere")
    separator.save()
    up_to(world, "S01")
    _only_a_refused_scan(world, "equipment_not_usable", step="S01")


@pytest.mark.req("EBR-EXEC-014:check")
def test_the_terminal_checks_each_scan_and_writes_nothing(world):
    step = run(world, "S01")
    before = counts(world)

    def scan(kind, text):
        return check_scan(actor=world.operator, run=step, kind=kind, scan=text,
                          terminal=world.terminal)

    label, medium, vector = (scan("patient_label", world.label), scan("lot", "TX-1"),
                             scan("lot", "VV-1"))
    separator, reactor = scan("equipment", "CS-01"), scan("equipment", "BR-01")
    unreadable = scan("patient_label", "=G12345")

    assert (label.ok, medium.ok, separator.ok) == (True, True, True)
    assert "TX-1" in medium.recognised
    assert (vector.ok, vector.code) == (False, "wrong_material")
    assert (reactor.ok, reactor.code) == (False, "equipment_wrong_type")
    assert not unreadable.ok and not unreadable.stopped
    # only the two refused scans are written, each as the batch's refused-scan exception
    assert written(before, counts(world)) == {"exceptions": (0, 2)}
    refusals = BatchException.objects.filter(run=step, kind=ExceptionKind.REFUSED_SCAN)
    assert sorted((e.code, e.value, e.actor) for e in refusals) == [
        ("equipment_wrong_type", "BR-01", world.operator),
        ("wrong_material", "VV-1", world.operator)]


@pytest.mark.req("EBR-EXEC-014:check", "EBR-EXC-001:refused-at-check")
def test_the_scan_check_tells_an_expired_lot_and_records_the_refusal(world):
    lot(site=world.site, material_=world.medium, supplier_lot="TX-OLD",
        expiry=timezone.now().date() - dt.timedelta(days=1))
    answer = check_scan(actor=world.operator, run=run(world, "S01"), kind="lot", scan="TX-OLD",
                        terminal=world.terminal)
    assert (answer.ok, answer.code) == (False, "lot_expired")
    refusal = BatchException.objects.get(kind=ExceptionKind.REFUSED_SCAN)
    assert (refusal.code, refusal.value, refusal.run_id) == ("lot_expired", "TX-OLD",
                                                              run(world, "S01").pk)


@pytest.mark.req("EBR-EXC-003:confirm")
def test_a_supervisor_confirms_a_feasibility_problem(world):
    exception = confirm_feasibility_problem(actor=world.supervisor, batch=world.batch,
                                            text="Apheresis volume too low for the full dose")
    assert (exception.kind, exception.actor) == (ExceptionKind.FEASIBILITY, world.supervisor)
    before = counts(world)
    with refused("permission_denied"):
        confirm_feasibility_problem(actor=world.operator, batch=world.batch, text="Low volume")
    with refused("reason_required", field="text"):
        confirm_feasibility_problem(actor=world.supervisor, batch=world.batch, text="")
    assert written(before, counts(world)) == {}
