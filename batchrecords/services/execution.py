"""Performing, verifying and skipping a batch's steps at the suite.

``perform_step`` checks everything in one transaction, with the step run and its batch
locked: the revision the screen showed, the step's turn and time window, the suite booked for
the batch today and available, the terminal registered to that suite, the operator's
certification, the patient's label, each reagent lot (consumed under reagents' rules), the
equipment (written to its logbook) and every value; then it signs. Anything refused writes
nothing, except a refused scan, whose exception (and, for a wrong patient's label, custody's
refusal, its critical deviation and the batch's stop) commits on its own after the rollback.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from batchrecords.models import (
    BatchException,
    BatchStatus,
    ExceptionKind,
    Flag,
    StepRun,
    StepStatus,
    StepValue,
)
from batchrecords.services import checks, scanning, stops
from batchrecords.services.batches import advance_batch
from batchrecords.services.runs import (
    StepRefused,
    bump,
    check_revision,
    lock_run,
    record_exception,
)
from batchrecords.services.scanning import Attempt, LabelRefused, LotScan, ScanCheck
from batchrecords.services.values import ParsedValue, parse_values
from mes import audit
from mes.errors import DomainError
from mes.models import Meaning, User
from mes.services.signatures import apply_signature, reauthenticate
from scheduling.models import Suite, Terminal

# A batch decided on (or given up): its record takes no more entries.
CLOSED_BATCH = (BatchStatus.RELEASED, BatchStatus.REJECTED, BatchStatus.CANCELLED)

__all__ = ["LotScan", "ScanCheck", "add_comment", "mark_not_applicable", "perform_refusal",
           "perform_step", "verify_step"]


def _for_record(run: StepRun | int) -> StepRun:
    """The run as it stands after a rolled-back attempt, to record a refusal against."""
    pk = run.pk if isinstance(run, StepRun) else run
    return StepRun.objects.select_related("batch__site", "batch__patient", "step").get(pk=pk)


def perform_step(*, actor: User, password: str, run: StepRun, revision, terminal: Terminal | None,
                 values: dict[str, str] | None = None, label_scan: str = "",
                 lots: list[LotScan] | tuple = (), equipment_scan: str = "", comment: str = "",
                 request: HttpRequest | None = None) -> StepRun:
    """Record and sign a step as performed, after every check passed (see the module)."""
    checks.require_permission(actor, checks.PERFORM, "perform batch steps")
    signer = reauthenticate(user=actor, password=password, request=request)
    attempt = Attempt()
    try:
        with transaction.atomic():
            return _perform(signer, run, revision, terminal, values or {}, label_scan,
                            list(lots or ()), equipment_scan, comment, attempt)
    except LabelRefused as refused:
        # Custody records the refusal (with the batch's exception and stop) and raises.
        scanning.refuse_label(actor=signer, run=_for_record(run), scanned=refused.scan)
        raise  # not reached: refuse_label always raises
    except DomainError as error:
        if attempt.kind:
            stops.record_refused_scan(actor=signer, run=_for_record(run), kind=attempt.kind,
                                      scanned=attempt.scanned, error=error)
        raise


@dataclass(frozen=True)
class Judged:
    """What ``judge`` found a performance to be: a re-signature after a correction, or a first
    performance with its turn, parsed values, label, lots to consume and equipment."""

    resigning: bool
    suite: Suite
    turn: checks.TurnCheck | None = None
    parsed: list[ParsedValue] = field(default_factory=list)
    label: str = ""
    pairs: list = field(default_factory=list)
    equipment: str = ""


def judge(actor: User, run: StepRun, revision, terminal, values, label_scan, lots,
          equipment_scan, now: dt.datetime) -> Judged:
    """Every rule of a performance that reads and does not write, in the order the terminal
    shows refusals: the same for the signed performance (``_perform``) and for the terminal's
    question before the password (``perform_refusal``)."""
    batch, step = run.batch, run.step
    checks.require_site(actor, batch)
    check_revision(run, revision)
    checks.check_pending(run)
    checks.check_executable(batch)
    if awaiting_signatures_again(run):
        # A corrected step took its turn when it was first performed: its sequence and time
        # window are not judged again, and its values and scans stand (corrected one by one).
        check_earlier_performer(actor, run)
        if any(str(v or "").strip() for v in values.values()) or lots or (
                str(label_scan or "").strip()) or str(equipment_scan or "").strip():
            raise StepRefused(
                f"Step {step.code} was corrected: sign it again without entering its values or "
                "scans anew (correct a value on its own if needed).", code="already_recorded",
                status=400)
        return Judged(resigning=True, suite=checks.check_station(actor, run, terminal, now))
    turn = checks.check_turn(run, now)
    suite = checks.check_station(actor, run, terminal, now)
    parsed = parse_values(list(step.fields.order_by("position")), values, batch=batch, now=now)
    label = scanning.clean_scan(label_scan)
    if step.patient_label_scan and not label:
        raise StepRefused("Scan the patient's label on the material first.",
                          code="label_required", status=400,
                          fields={"label_scan": ["Scan the label."]})
    pairs = scanning.match_lots(list(step.materials.order_by("position")), lots)
    equipment = scanning.clean_scan(equipment_scan)
    if step.equipment_type_code and not equipment:
        raise StepRefused(f"Scan the {step.equipment_type_code} equipment you use.",
                          code="equipment_required", status=400,
                          fields={"equipment_scan": ["Scan the equipment."]})
    if equipment and not step.equipment_type_code:
        raise StepRefused("This step uses no equipment; nothing to scan.",
                          code="invalid_value", status=400,
                          fields={"equipment_scan": ["Not used at this step."]})
    return Judged(resigning=False, suite=suite, turn=turn, parsed=parsed, label=label,
                  pairs=pairs, equipment=equipment)


def perform_refusal(*, actor: User, run: StepRun, revision, terminal: Terminal | None,
                    values: dict[str, str] | None = None, label_scan: str = "",
                    lots: list[LotScan] | tuple = (), equipment_scan: str = "",
                    comment: str = "") -> DomainError | None:
    """Why ``perform_step`` would refuse, found without writing anything (the lots and the
    equipment are judged when they are used): the terminal asks before the password."""
    try:
        checks.require_permission(actor, checks.PERFORM, "perform batch steps")
        judge(actor, run, revision, terminal, values or {}, label_scan, list(lots or ()),
              equipment_scan, timezone.now())
        if (comment or "").strip():
            stops.clean_text(comment, field="comment", what="A comment")
    except DomainError as error:
        return error
    return None


def _perform(actor: User, run, revision, terminal, values, label_scan, lots, equipment_scan,
             comment, attempt: Attempt) -> StepRun:
    run = lock_run(run)
    batch, step = run.batch, run.step
    now = timezone.now()
    judged = judge(actor, run, revision, terminal, values, label_scan, lots, equipment_scan,
                   now)
    resigning, suite, turn = judged.resigning, judged.suite, judged.turn
    note = stops.clean_text(comment, field="comment", what="A comment") if (
        comment or "").strip() else ""
    if not resigning:
        parsed, label, pairs, equipment = (judged.parsed, judged.label, judged.pairs,
                                           judged.equipment)
        if label:
            scanning.accept_label(actor=actor, run=run, scanned=label, at=now)
        for material, lot_scan in pairs:
            attempt.start("lot", scanning.clean_scan(lot_scan.scan))
            scanning.consume(actor=actor, run=run, material=material, lot_scan=lot_scan, at=now)
            attempt.done()
        if equipment:
            attempt.start("equipment", equipment)
            scanning.use_equipment(actor=actor, run=run, scanned=equipment, suite=suite, at=now)
            attempt.done()
        for value in parsed:
            store_value(actor=actor, run=run, parsed=value, at=now)
        if turn.late:
            _record_late(actor, run, now, turn)
    if note:
        record_exception(batch=batch, run=run, kind=ExceptionKind.COMMENT, actor=actor,
                         detail=note)
    run.status = StepStatus.PERFORMED if step.second_person_verification else StepStatus.DONE
    run.performed_by, run.performed_at = actor, now
    run.started_at = run.started_at or now
    bump(run, actor=actor, reason=f"Step {step.code} performed"
         + (" again after a correction" if resigning else ""))
    apply_signature(signer=actor, record=run, meaning=Meaning.PERFORMED,
                    reason=f"Step {step.code} performed")
    finish(run, actor=actor)
    return run


def awaiting_signatures_again(run: StepRun) -> bool:
    """A pending step that was signed before (a correction sent it back) is signed again.
    Its signatures say so, not its values: a correction of a value left empty corrects
    nothing earlier, and the step must not be performed anew (values, lots and equipment
    a second time)."""
    return run.status == StepStatus.PENDING and run.signatures.exists()


def check_earlier_performer(actor: User, run: StepRun) -> None:
    """The performed signature attests who did the work: after a correction the person who
    performed the step signs it again, not the corrector nor anyone else at the terminal."""
    performer = (run.history.exclude(performed_by=None).order_by("-history_date", "-history_id")
                 .values_list("performed_by_id", flat=True).first())
    if performer is not None and performer != actor.pk:
        name = User.objects.get(pk=performer).full_name
        raise StepRefused(
            f"{name} performed step {run.step.code}: after its correction {name} signs it "
            "again, as the person who did the work.", code="not_the_performer", status=403)


def store_value(*, actor: User, run: StepRun, parsed: ParsedValue, at: dt.datetime,
                corrects: StepValue | None = None, reason: str = "") -> StepValue:
    """One value (append-only) and, out of limits, its flag, exception and deviation."""
    value = StepValue(site_id=run.site_id, run=run, field=parsed.field, value=parsed.value[:500],
                      number=parsed.number, flag=parsed.flag, entered_by=actor, entered_at=at,
                      revision=run.revision + 1, corrects=corrects, reason=reason)
    audit.stamp(value, user=actor, reason=reason or f"Entered at step {run.step.code}")
    value.save()
    if parsed.flag == Flag.ALERT:
        record_exception(batch=run.batch, run=run, kind=ExceptionKind.ALERT_LIMIT, actor=actor,
                         code="alert_limit", field_key=parsed.field.key, value=parsed.value,
                         detail=parsed.limit_crossed)
    elif parsed.flag == Flag.ACTION:
        deviation = _raise(actor, run, rule="batchrecords.action_limit",
                           title=f"{parsed.field.label} outside action limits",
                           description=parsed.limit_crossed,
                           data={"field": parsed.field.key, "value": parsed.value})
        record_exception(batch=run.batch, run=run, kind=ExceptionKind.ACTION_LIMIT, actor=actor,
                         code="action_limit", field_key=parsed.field.key, value=parsed.value,
                         detail=parsed.limit_crossed, deviation=deviation)
    if parsed.flag:
        run.flagged = True
    return value


def _raise(actor: User, run: StepRun, *, rule: str, title: str, description: str, data: dict):
    from deviations.services import raise_deviation

    batch = run.batch
    return raise_deviation(
        reporter=actor, site=batch.site, subject=run,
        title=f"{title} at step {run.step.code} of batch {batch.number}"[:200],
        description=description, classification="major" if run.step.critical else "minor",
        batch_number=batch.number, patient_coi=batch.patient.coi, source="automatic",
        rule=rule, data={"step": run.step.code, **data})


def _record_late(actor: User, run: StepRun, now: dt.datetime,
                 turn: checks.TurnCheck) -> BatchException:
    minutes = int((now - turn.previous_finished_at).total_seconds() // 60)
    detail = (f"Step {run.step.code} started {minutes} minutes after the previous step, later "
              f"than its window of {run.step.window_max_minutes} minutes.")
    deviation = _raise(actor, run, rule="batchrecords.time_window",
                       title="Step started outside its time window", description=detail,
                       data={"minutes": minutes, "window_max": run.step.window_max_minutes})
    return record_exception(batch=run.batch, run=run, kind=ExceptionKind.TIME_WINDOW,
                            actor=actor, code="window_max", value=str(minutes), detail=detail,
                            deviation=deviation)


def finish(run: StepRun, *, actor: User) -> None:
    """The batch moves on with its steps: in progress with the first, executed when every
    step is done or not applicable (the batch is locked with the run)."""
    batch = run.batch
    if batch.status == BatchStatus.PLANNED:
        advance_batch(actor=actor, batch=batch, status=BatchStatus.IN_PROGRESS,
                      reason=f"Step {run.step.code} performed")
    if batch.status == BatchStatus.IN_PROGRESS and not batch.steps.exclude(
            status__in=(StepStatus.DONE, StepStatus.NOT_APPLICABLE)).exists():
        advance_batch(actor=actor, batch=batch, status=BatchStatus.EXECUTED,
                      reason="Every step is done or not applicable")


def verify_step(*, actor: User, password: str, run: StepRun, revision,
                terminal: Terminal | None, request: HttpRequest | None = None) -> StepRun:
    """A second person, certified and never the performer, verifies a performed step."""
    checks.require_permission(actor, checks.VERIFY, "verify batch steps")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        run = lock_run(run)
        checks.require_site(signer, run.batch)
        check_revision(run, revision)
        if run.status != StepStatus.PERFORMED:
            raise StepRefused(f"Step {run.step.code} is {run.get_status_display().lower()}: "
                              "there is nothing to verify.", code="not_awaiting_verification")
        checks.check_executable(run.batch)
        if signer.pk == run.performed_by_id:
            raise StepRefused(f"{signer.full_name} performed step {run.step.code}: a second "
                              "person verifies it.", code="verifier_is_performer", status=403)
        if run.values.filter(corrected_by__isnull=True, corrects__isnull=False,
                             entered_by=signer).exists():
            # A corrected value is an entry of its corrector: a second person checks it.
            raise StepRefused(f"{signer.full_name} corrected a value of step {run.step.code}: "
                              "a second person verifies it.", code="verifier_is_corrector",
                              status=403)
        now = timezone.now()
        checks.check_station(signer, run, terminal, now)
        run.status, run.verified_by, run.verified_at = StepStatus.DONE, signer, now
        bump(run, actor=signer, reason=f"Step {run.step.code} verified")
        apply_signature(signer=signer, record=run, meaning=Meaning.VERIFIED,
                        reason=f"Step {run.step.code} verified")
        finish(run, actor=signer)
    return run


def mark_not_applicable(*, actor: User, password: str, run: StepRun, revision,
                        terminal: Terminal | None, reason: str,
                        request: HttpRequest | None = None) -> StepRun:
    """Skip a step the master record allows to be not applicable, with a reason, signed."""
    checks.require_permission(actor, checks.PERFORM, "perform batch steps")
    reason = stops.clean_text(reason, field="reason", what="A reason")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        run = lock_run(run)
        checks.require_site(signer, run.batch)
        check_revision(run, revision)
        checks.check_pending(run)
        checks.check_executable(run.batch)
        if not run.step.na_allowed:
            raise StepRefused(f"The master record does not allow step {run.step.code} to be "
                              "skipped: perform it.", code="na_not_allowed")
        if awaiting_signatures_again(run):
            # Its values, lots and equipment are recorded: a correction asks for the
            # signatures again, it does not make the work undone.
            raise StepRefused(f"Step {run.step.code} was performed and then corrected: sign "
                              "it again; it cannot be marked not applicable.",
                              code="already_recorded")
        now = timezone.now()
        checks.check_turn(run, now)
        checks.check_station(signer, run, terminal, now)
        run.status, run.na_reason = StepStatus.NOT_APPLICABLE, reason
        run.performed_by, run.performed_at = signer, now
        bump(run, actor=signer, reason=f"Step {run.step.code} not applicable: {reason}")
        record_exception(batch=run.batch, run=run, kind=ExceptionKind.NOT_APPLICABLE,
                         actor=signer, detail=f"Step {run.step.code} not applicable: {reason}")
        apply_signature(signer=signer, record=run, meaning=Meaning.PERFORMED,
                        reason=f"Not applicable: {reason}")
        finish(run, actor=signer)
    return run


@transaction.atomic
def add_comment(*, actor: User, run: StepRun, text: str) -> BatchException:
    """A comment on any step, recorded for the review; none once the batch is released,
    rejected or cancelled (the record that was decided on stays as it was decided on)."""
    if not (actor.has_perm(checks.PERFORM) or actor.has_perm(checks.VERIFY)
            or actor.has_perm(checks.SUPERVISE)):
        checks.require_permission(actor, checks.PERFORM, "comment on batch steps")
    text = stops.clean_text(text)
    run = _for_record(run)
    checks.require_site(actor, run.batch)
    if run.batch.status in CLOSED_BATCH:
        raise StepRefused(f"Batch {run.batch.number} is "
                          f"{run.batch.get_status_display().lower()}: its record is closed "
                          "to comments.", code="batch_closed")
    return record_exception(batch=run.batch, run=run, kind=ExceptionKind.COMMENT, actor=actor,
                            detail=text)
