"""Batches for the overview and the batches API tests: more patients' batches, a flagged or
stopped batch, and a batch of many steps with values, scans and exceptions on every step
(written directly: what matters to a read is that the rows are there)."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from batchrecords.models import (
    Batch,
    BatchStop,
    ExceptionKind,
    Flag,
    StepRun,
    StepScan,
    StepStatus,
    StepValue,
)
from batchrecords.services.batches import open_batch
from batchrecords.services.runs import record_exception
from deviations.models import Deviation
from mes import audit
from tests.batchrecords.world import approved_version
from tests.scheduling.factories import another_order


def new_batch(world, index: int) -> Batch:
    order = another_order(world, initials="AB", hospital_number=f"H-{1000 + index}")
    with audit.acting_as(world.supervisor):
        return open_batch(actor=world.supervisor, patient=order.patient, automatic=True)


def more_batches(world, count: int, *, start: int = 0) -> list[Batch]:
    return [new_batch(world, index) for index in range(start, start + count)]


def _save(record, world, reason: str):
    audit.stamp(record, user=world.admin, reason=f"Test: {reason}")
    record.save()
    return record


def flag_a_step(batch: Batch, world) -> StepRun:
    step = batch.steps.order_by("sequence").first()
    step.flagged = True
    return _save(step, world, "a flagged entry")


def stop_batch(batch: Batch, world) -> BatchStop:
    step = batch.steps.order_by("sequence").first()
    refusal = record_exception(batch=batch, run=step, kind=ExceptionKind.REFUSED_SCAN,
                               actor=world.operator, code="label_mismatch",
                               value="=G123426999999", detail="Another patient's label")
    return _save(BatchStop(site_id=batch.site_id, batch=batch, exception=refusal), world,
                 "stopped")


def document(steps: int) -> dict:
    """A master record of ``steps`` steps in operations of five, each step with a limited
    number and a text."""
    operations = []
    for index in range(steps):
        if index % 5 == 0:
            operations.append({"code": f"OP{len(operations) + 1}",
                               "name": f"Operation {len(operations) + 1}", "steps": []})
        operations[-1]["steps"].append({
            "code": f"S{index + 1:02d}", "title": f"Step {index + 1}",
            "second_person_verification": index % 2 == 0,
            "fields": [
                {"key": f"n{index + 1}", "label": f"Reading {index + 1}", "kind": "number",
                 "unit": "mL", "alert_low": 1, "alert_high": 2},
                {"key": f"t{index + 1}", "label": f"Note {index + 1}", "kind": "text",
                 "required": False},
            ]})
    return {"format": "cgt-mes/master-record@1", "product": "CART-19",
            "title": "Long process (test)", "change_summary": "Many steps.",
            "operations": operations}


def big_batch(world, *, steps: int) -> Batch:
    """A batch of ``steps`` steps, each done with a value in limits, a flagged value and its
    correction, a lot, a piece of equipment and exceptions (one with a deviation)."""
    approved_version(author=world.supervisor, approver=world.qa, site=world.site,
                     document=document(steps))
    batch = new_batch(world, 900)
    deviation = Deviation.objects.order_by("pk").first()
    now = timezone.now()
    runs = StepRun.objects.filter(batch=batch).select_related("step").prefetch_related(
        "step__fields")
    for step_run in runs:
        number, text = list(step_run.step.fields.order_by("position"))
        values = [StepValue(site_id=batch.site_id, run=step_run, field=number, value="1.5",
                            number=Decimal("1.5"), entered_by=world.operator, revision=1),
                  StepValue(site_id=batch.site_id, run=step_run, field=text, value="3",
                            entered_by=world.operator, revision=1)]
        for value in values:
            _save(value, world, "entered")
        flagged = _save(StepValue(site_id=batch.site_id, run=step_run, field=number,
                                  value="2.5", number=Decimal("2.5"), flag=Flag.ALERT,
                                  entered_by=world.operator, revision=2, corrects=values[0],
                                  reason="Typo"), world, "corrected")
        assert flagged.corrects_id
        _save(StepScan(site_id=batch.site_id, run=step_run, kind=StepScan.Kind.LOT,
                       scanned="TX-1", lot=world.medium_lot, quantity=Decimal("1"),
                       scanned_by=world.operator, revision=1), world, "lot")
        _save(StepScan(site_id=batch.site_id, run=step_run, kind=StepScan.Kind.EQUIPMENT,
                       scanned="CS-01", equipment=world.separator,
                       scanned_by=world.operator, revision=1), world, "equipment")
        record_exception(batch=batch, run=step_run, kind=ExceptionKind.ALERT_LIMIT,
                         actor=world.operator, detail="Outside alert limits",
                         deviation=deviation, second_person=world.verifier)
        step_run.status = StepStatus.DONE
        step_run.performed_by, step_run.performed_at = world.operator, now
        step_run.verified_by, step_run.verified_at = world.verifier, now
        step_run.flagged = True
        _save(step_run, world, "done")
    return batch
