"""Refused scans, stops and what a Supervisor confirms on a batch.

A refused scan is recorded as an exception in a transaction of its own, after the attempt it
belonged to was rolled back: the refusal leaves its trace and nothing else. A wrong patient's
label also stops the batch; only a Supervisor who did not scan it clears the stop, signed,
with a reason.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from batchrecords.models import Batch, BatchException, BatchStop, ExceptionKind, StepRun
from batchrecords.services import checks
from batchrecords.services.runs import StepRefused, record_exception
from mes import audit
from mes.errors import DomainError, NotFound, ReasonForChangeRequired
from mes.models import Meaning, User
from mes.services.signatures import apply_signature, reauthenticate

TEXT_LIMIT = 2000
KIND_NAMES = {"patient_label": "Patient label", "lot": "Reagent lot",
              "equipment": "Equipment"}


def clean_text(text, *, field: str = "text", what: str = "Text") -> str:
    text = (text or "").strip()
    if not text:
        raise ReasonForChangeRequired(f"{what} is required.", fields={field: ["Required."]})
    if "\x00" in text or len(text) > TEXT_LIMIT:
        raise DomainError(f"{what} is at most {TEXT_LIMIT} characters of plain text.",
                          code="invalid_value", fields={field: ["Too long or not text."]})
    return text


def record_refused_scan(*, actor: User, run: StepRun, kind: str, scanned: str,
                        error: DomainError) -> BatchException:
    """The refused lot or equipment scan, committed on its own after the rollback."""
    with transaction.atomic():
        return record_exception(
            batch=run.batch, run=run, kind=ExceptionKind.REFUSED_SCAN, actor=actor,
            code=error.code, field_key=kind, value=scanned,
            detail=(f"{KIND_NAMES.get(kind, kind)} “{scanned}” refused at step "
                    f"{run.step.code}: {error.message}"))


def record_label_refusal(*, actor: User, run: StepRun, refusal, deviation) -> BatchException:
    """Runs inside custody's transaction of the refusal: the exception (linked to the
    critical deviation of a mismatch) and, for a mismatch, the stop of the batch."""
    exception = record_exception(
        batch=run.batch, run=run, kind=ExceptionKind.REFUSED_SCAN, actor=actor,
        code=refusal.reason, field_key="patient_label", value=refusal.scanned,
        deviation=deviation,
        detail=(f"Patient label “{refusal.scanned}” refused at step {run.step.code}: "
                f"{refusal.message}"))
    if deviation is None:
        return exception
    # One open stop per batch: a second wrong label while stopped is recorded, not stopped
    # twice.
    Batch.objects.select_for_update().filter(pk=run.batch_id).values_list("pk").first()
    if not BatchStop.objects.filter(batch_id=run.batch_id, cleared_at__isnull=True).exists():
        stop = BatchStop(site_id=run.batch.site_id, batch_id=run.batch_id, exception=exception,
                         raised_at=exception.recorded_at)
        audit.stamp(stop, user=actor, reason=f"Wrong label scanned at step {run.step.code}")
        stop.save()
    return exception


def clear_stop(*, actor: User, password: str, stop: BatchStop, reason: str,
               request: HttpRequest | None = None) -> BatchStop:
    """A Supervisor, never the person whose scan raised it, clears a stop with a signature
    (meaning reviewed) and a reason."""
    checks.require_permission(actor, checks.SUPERVISE, "clear stops on batches")
    reason = clean_text(reason, field="reason", what="A reason")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        try:
            stop = (BatchStop.objects.select_for_update(of=("self",))
                    .select_related("batch__site", "exception__actor").get(pk=stop.pk))
        except BatchStop.DoesNotExist:
            raise NotFound("No such stop.") from None
        checks.require_site(actor, stop.batch)
        if stop.cleared_at is not None:
            raise StepRefused(f"The stop was already cleared by {stop.cleared_by.full_name}.",
                              code="stop_already_cleared")
        if stop.exception.actor_id == actor.pk:
            raise StepRefused("The person whose scan stopped the batch never clears the stop: "
                              "another Supervisor does.", code="supervisor_raised_stop",
                              status=403)
        stop.cleared_by, stop.cleared_at, stop.clear_reason = actor, timezone.now(), reason
        audit.stamp(stop, user=actor, reason=f"Stop cleared: {reason}")
        stop.save()
        apply_signature(signer=signer, record=stop, meaning=Meaning.REVIEWED,
                        reason=f"Stop cleared: {reason}")
    return stop


@transaction.atomic
def confirm_feasibility_problem(*, actor: User, batch: Batch, text: str,
                                run: StepRun | None = None) -> BatchException:
    """A Supervisor confirms a problem with making the batch as planned (recorded for the
    review as an exception)."""
    checks.require_permission(actor, checks.SUPERVISE, "confirm problems on batches")
    text = clean_text(text, what="What the problem is")
    batch = (Batch.objects.select_for_update(of=("self",)).select_related("site")
             .get(pk=batch.pk))
    checks.require_site(actor, batch)
    if run is not None and run.batch_id != batch.pk:
        raise NotFound("No such step in this batch.")
    return record_exception(batch=batch, run=run, kind=ExceptionKind.FEASIBILITY, actor=actor,
                            detail=text)
