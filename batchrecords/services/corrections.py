"""Correcting a value after the step was signed (21 CFR 11.10(e): changes never obscure what
was recorded before).

A correction is a new value naming the one it corrects, with a reason and the corrector's
signature; the original stays. Calculated values of the step that read the corrected one are
calculated again the same way. The step goes back to pending with its performer and verifier
cleared, so its signatures are asked for again (``perform_step`` re-signs it without entering
the values anew, then ``verify_step`` where the step needs a second person).
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from batchrecords import formulas
from batchrecords.models import (
    BatchStatus,
    DataField,
    ExceptionKind,
    StepRun,
    StepStatus,
    StepValue,
)
from batchrecords.services import checks, stops
from batchrecords.services.batches import advance_batch
from batchrecords.services.execution import store_value
from batchrecords.services.runs import StepRefused, bump, check_revision, lock_run, record_exception
from batchrecords.services.values import InvalidValue, calculate, current_numbers, parse_one
from mes.models import Meaning, User
from mes.services.signatures import apply_signature, reauthenticate
from scheduling.models import Terminal

# A correction is made while the batch can still be worked on, or once executed (before QA
# takes it into review): the batch goes back to in progress until the step is signed again.
CORRECTABLE_BATCH = (BatchStatus.PLANNED, BatchStatus.IN_PROGRESS, BatchStatus.EXECUTED)


def correct_value(*, actor: User, password: str, run: StepRun, revision,
                  terminal: Terminal | None, field_key: str, value, reason: str,
                  request: HttpRequest | None = None) -> StepValue:
    """A signed step's value corrected with a reason and a signature (see the module)."""
    checks.require_permission(actor, checks.PERFORM, "correct batch step values")
    reason = stops.clean_text(reason, field="reason", what="A reason for the correction")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        run = lock_run(run)
        batch, step = run.batch, run.step
        checks.require_site(signer, batch)
        check_revision(run, revision)
        if run.status not in (StepStatus.PERFORMED, StepStatus.DONE):
            raise StepRefused(f"Step {step.code} is {run.get_status_display().lower()}: only a "
                              "signed step's values are corrected.", code="not_performed")
        if batch.status not in CORRECTABLE_BATCH:
            raise StepRefused(f"Batch {batch.number} is {batch.get_status_display().lower()}: "
                              "its values are no longer corrected at the suite.",
                              code="batch_not_executable")
        checks.check_not_stopped(batch)
        now = timezone.now()
        suite = checks.booked_suite(batch, now)
        checks.check_terminal(terminal, suite)
        checks.check_operator(signer, run, suite, now)
        field = step.fields.filter(key=(field_key or "").strip()).first()
        if field is None:
            raise StepRefused(f"Step {step.code} has no field “{field_key}”.",
                              code="invalid_value", status=400,
                              fields={"field_key": ["No such field at this step."]})
        if field.kind == DataField.Kind.CALCULATED:
            raise StepRefused(f"{field.label} is calculated: correct the values it is "
                              "calculated from.", code="invalid_value", status=400,
                              fields={field.key: ["Calculated, not typed in."]})
        if value is None or not str(value).strip():
            raise StepRefused(f"Enter the corrected value of {field.label}.",
                              code="missing_value", status=400, fields={field.key: ["Required."]})
        try:
            parsed = parse_one(field, value, batch=batch, now=now)
        except InvalidValue as error:
            raise StepRefused(f"{field.label}: {error}", code="invalid_value", status=400,
                              fields={field.key: [str(error)]}) from None
        current = _current(run)
        original = current.get(field.pk)
        recalculated = _recalculate(run, field, parsed, current)
        corrected = store_value(actor=signer, run=run, parsed=parsed, at=now, corrects=original,
                                reason=reason)
        for calculated in recalculated:
            store_value(actor=signer, run=run, parsed=calculated, at=now,
                        corrects=current.get(calculated.field.pk),
                        reason=f"Calculated again after {field.label} was corrected: {reason}")
        _recalculate_later_steps(
            run, numbers={**current_numbers(batch), field.key: parsed.number,
                          **{c.field.key: c.number for c in recalculated}},
            changed={field.key, *(c.field.key for c in recalculated)}, actor=signer, now=now,
            why=f"{field.label} was corrected at step {step.code}: {reason}")
        was = original.value if original else "(empty)"
        record_exception(
            batch=batch, run=run, kind=ExceptionKind.CORRECTION, actor=signer,
            field_key=field.key, value=parsed.value,
            detail=f"{field.label} corrected from {was} to {parsed.value}: {reason}")
        # The step's signatures are asked for again: the earlier ones stay on the record and
        # no longer match its content.
        run.status = StepStatus.PENDING
        run.performed_by = run.performed_at = run.verified_by = run.verified_at = None
        bump(run, actor=signer, reason=f"{field.label} corrected: {reason}")
        apply_signature(signer=signer, record=run, meaning=Meaning.PERFORMED,
                        reason=f"Correction of {field.label}: {reason}")
        if batch.status == BatchStatus.EXECUTED:
            advance_batch(actor=signer, batch=batch, status=BatchStatus.IN_PROGRESS,
                          reason=f"Step {step.code} corrected: its signatures are asked for "
                          "again")
    return corrected


def _current(run: StepRun) -> dict[int, StepValue]:
    """The step's current value of each field (a corrected value is replaced)."""
    return {v.field_id: v for v in run.values.filter(corrected_by__isnull=True)
            .select_related("field").order_by("pk")}


def _recalculate(run: StepRun, field: DataField, parsed, current: dict[int, StepValue]):
    """The step's calculated values that read the corrected field, calculated again (only
    those that change)."""
    numbers = {**current_numbers(run.batch)}
    if parsed.number is not None:
        numbers[field.key] = parsed.number
    results = []
    for calculated in run.step.fields.filter(kind=DataField.Kind.CALCULATED).order_by(
            "position"):
        try:
            result = calculate(calculated, numbers, batch=run.batch)
        except InvalidValue as error:
            raise StepRefused(f"With this correction {calculated.label} cannot be calculated: "
                              f"{error}", code="invalid_value", status=400,
                              fields={field.key: [str(error)]}) from None
        numbers[calculated.key] = result.number
        before = current.get(calculated.pk)
        if before is None or before.number != result.number:
            results.append(result)
    return results


def _recalculate_later_steps(run: StepRun, *, numbers: dict, changed: set[str], actor: User,
                             now, why: str) -> None:
    """Calculated values of the batch's other signed steps that read a corrected value (or a
    value calculated from it) are calculated again; each step that changes goes back to
    pending, so its performer (and verifier) sign the new result."""
    batch = run.batch
    fields = list(DataField.objects.filter(
        kind=DataField.Kind.CALCULATED, step__operation__version_id=batch.version_id,
    ).exclude(step_id=run.step_id))
    if not fields:
        return
    others = {other.step_id: other for other in StepRun.objects.select_for_update(of=("self",))
              .filter(batch=batch, step_id__in={f.step_id for f in fields},
                      status__in=(StepStatus.PERFORMED, StepStatus.DONE))
              .select_related("batch__site", "batch__patient", "step")}
    current = {(v.run_id, v.field_id): v for v in StepValue.objects.filter(
        run__in=others.values(), corrected_by__isnull=True)}
    fields.sort(key=lambda f: (others[f.step_id].sequence if f.step_id in others else 0,
                               f.position))
    for field in fields:
        other = others.get(field.step_id)
        if other is None or not (formulas.names_in(field.formula) & changed):
            continue
        try:
            result = calculate(field, numbers, batch=batch)
        except InvalidValue as error:
            raise StepRefused(f"With this correction {field.label} at step {other.step.code} "
                              f"cannot be calculated: {error}", code="invalid_value",
                              status=400, fields={"value": [str(error)]}) from None
        before = current.get((other.pk, field.pk))
        numbers[field.key] = result.number
        if before is not None and before.number == result.number:
            continue
        changed.add(field.key)
        store_value(actor=actor, run=other, parsed=result, at=now, corrects=before,
                    reason=f"Calculated again: {why}")
        record_exception(
            batch=batch, run=other, kind=ExceptionKind.CORRECTION, actor=actor,
            field_key=field.key, value=result.value,
            detail=(f"{field.label} calculated again from "
                    f"{before.value if before else '(empty)'} to {result.value}: {why}"))
        other.status = StepStatus.PENDING
        other.performed_by = other.performed_at = other.verified_by = other.verified_at = None
        bump(other, actor=actor, reason=f"{field.label} calculated again: {why}")
