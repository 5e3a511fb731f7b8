"""What every write on a batch's step shares: the step run locked, the revision the screen
showed checked against the stored one, the revision moved on, and departures recorded as
exception records in the same transaction as the event."""

from __future__ import annotations

from batchrecords.models import Batch, BatchException, StepRun
from mes import audit
from mes.errors import Conflict, DomainError, NotFound
from mes.models import User


class StepRefused(DomainError):
    """A step action refused by a rule of execution (the code says which)."""

    code = "step_refused"
    status = 409


class StaleStep(Conflict):
    code = "stale_step"
    status = 409


def lock_run(run: StepRun | int) -> StepRun:
    """The step run, its batch and master step, locked for this transaction (the batch too,
    so that two steps finishing at once both see each other when the batch's status moves)."""
    pk = run.pk if isinstance(run, StepRun) else run
    # The batch is locked first, then the step: every write on a batch takes its locks in
    # that order (a correction then locks the later steps it calculates again), so two
    # writes never hold one lock each while waiting for the other's (a deadlock, a 500).
    # Only the batch row is locked, not its patient or site; it is read under the lock, so
    # a concurrent step's move of its status is seen.
    try:
        batch = (Batch.objects.select_for_update(of=("self",))
                 .select_related("patient", "site").get(steps__pk=pk))
        locked = (
            StepRun.objects.select_for_update(of=("self",))
            # Only rows that never change are joined: a row joined to one that was waited
            # for is the version from before the wait (e.g. no performer yet).
            .select_related("step", "step__operation", "site")
            .get(pk=pk)
        )
    except (Batch.DoesNotExist, StepRun.DoesNotExist):
        raise NotFound("No such step.") from None
    locked.batch = batch
    return locked


def check_revision(run: StepRun, revision) -> None:
    """A write names the revision its screen showed; an older one means someone else wrote
    to the step since. Nothing is written: the person reloads and sees what changed."""
    try:
        expected = int(revision)
    except (TypeError, ValueError):
        raise StaleStep(
            "The screen did not say which version of the step it showed. Reload the step.",
            code="stale_step", fields={"revision": ["Required."]},
        ) from None
    if expected != run.revision:
        who = f" by {run.performed_by.full_name}" if run.performed_by_id else ""
        raise StaleStep(
            f"This step was changed{who} since your screen was loaded (version {expected}, now "
            f"{run.revision}). Nothing was saved: reload the step, check what changed and "
            "enter again if still needed.",
            fields={"revision": ["Out of date."]},
        )


def bump(run: StepRun, *, actor: User, reason: str) -> StepRun:
    """Move the step's revision on and save it (its history records who and why). The run is
    locked (``lock_run``), so the increment cannot be lost to a concurrent write."""
    run.revision += 1
    audit.stamp(run, user=actor, reason=reason)
    run.save()
    return run


def record_exception(*, batch: Batch, kind: str, actor: User, detail: str,
                     run: StepRun | None = None, code: str = "", field_key: str = "",
                     value: str = "", second_person: User | None = None,
                     deviation=None) -> BatchException:
    """One departure, written in the caller's transaction (so it commits or rolls back with
    the event it records)."""
    exception = BatchException(
        site_id=batch.site_id, batch=batch, run=run, kind=kind, code=code[:48],
        field_key=field_key[:48], value=str(value)[:500], detail=detail, actor=actor,
        second_person=second_person, deviation=deviation,
    )
    audit.stamp(exception, user=actor, reason=detail[:200])
    exception.save()
    return exception
