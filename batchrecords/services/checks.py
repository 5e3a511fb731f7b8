"""The checks every write on a batch's step makes before anything is written: the batch may
be worked on, it is the step's turn, the suite is booked for the batch today and available,
the terminal is registered to that suite, and the person is certified for the step.

Each check raises ``runs.StepRefused`` with its own code and a message that says what to do;
``step_turn`` and ``turn_problems`` answer the same questions for the pages without raising.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Max
from django.utils import timezone

from batchrecords.models import (
    EXECUTABLE_BATCH,
    FINISHED_STEP,
    Batch,
    BatchStop,
    StepRun,
    StepStatus,
)
from batchrecords.services.runs import StepRefused
from mes import identifiers
from mes.errors import NotFound, PermissionRefused
from mes.models import User
from scheduling.models import Booking, Suite, Terminal
from scheduling.selectors import suite_is_available
from training.services.gate import check_certified

PERFORM = "batchrecords.perform_step"
VERIFY = "batchrecords.verify_step"
SUPERVISE = "batchrecords.supervise_batch"


def require_permission(actor: User, permission: str, action: str) -> None:
    if not actor.has_perm(permission):
        raise PermissionRefused(f"{actor.full_name} is not authorised to {action}.")


def require_site(actor: User, batch: Batch) -> None:
    # A batch of a site the person cannot see does not exist for them.
    if not actor.has_site(batch.site):
        raise NotFound("No such batch.")


def _when(batch: Batch, moment: dt.datetime) -> str:
    return identifiers.when_text(moment, batch.site)


def check_pending(run: StepRun) -> None:
    if run.status != StepStatus.PENDING:
        who = run.performed_by.full_name if run.performed_by_id else "someone"
        when = _when(run.batch, run.performed_at) if run.performed_at else "earlier"
        raise StepRefused(
            f"Step {run.step.code} was already {run.get_status_display().lower()} by {who} at "
            f"{when}. Nothing was saved: reload the batch to see the next step.",
            code="already_performed")


def check_executable(batch: Batch) -> None:
    """Steps are worked on only while the batch is planned or in progress, and not while a
    stop (a wrong patient's label) waits for a Supervisor."""
    if batch.status not in EXECUTABLE_BATCH:
        raise StepRefused(
            f"Batch {batch.number} is {batch.get_status_display().lower()}: its steps can no "
            "longer be performed.", code="batch_not_executable")
    check_not_stopped(batch)


def check_not_stopped(batch: Batch) -> None:
    stop = BatchStop.objects.filter(batch=batch, cleared_at__isnull=True).first()
    if stop is not None:
        raise StepRefused(
            f"Batch {batch.number} is stopped since {_when(batch, stop.raised_at)}: a wrong "
            "label was scanned. Nothing can be done on it until a Supervisor clears the stop.",
            code="batch_stopped")


@dataclass(frozen=True)
class TurnCheck:
    """Whether a step may be performed at a moment, and why not."""

    ok: bool
    code: str = ""
    message: str = ""
    # The step is allowed but past the latest start of its window (recorded as an exception).
    late: bool = False
    earliest: dt.datetime | None = None
    latest: dt.datetime | None = None
    previous_finished_at: dt.datetime | None = None


def turn_problems(run: StepRun, at: dt.datetime | None = None) -> TurnCheck:
    """The sequence (every step of an earlier stage finished; within a stage any order) and
    the time window after the previous stage (two queries)."""
    at = at or timezone.now()
    step = run.step
    waiting = list(
        StepRun.objects.filter(batch_id=run.batch_id, stage__lt=run.stage)
        .exclude(status__in=FINISHED_STEP).select_related("step").order_by("sequence")[:3]
    )
    if waiting:
        names = ", ".join(f"{w.step.code} {w.step.title}" for w in waiting)
        return TurnCheck(
            ok=False, code="not_your_turn",
            message=(f"Step {step.code} is not due yet: finish the earlier steps first "
                     f"({names})."))
    if step.window_min_minutes is None and step.window_max_minutes is None:
        return TurnCheck(ok=True)
    previous = (StepRun.objects.filter(batch_id=run.batch_id, stage__lt=run.stage)
                .aggregate(stage=Max("stage")))["stage"]
    if previous is None:
        return TurnCheck(ok=True)
    finished = (StepRun.objects.filter(batch_id=run.batch_id, stage=previous)
                .aggregate(at=Max("performed_at")))["at"]
    if finished is None:
        return TurnCheck(ok=True)
    earliest = (finished + dt.timedelta(minutes=step.window_min_minutes)
                if step.window_min_minutes is not None else None)
    latest = (finished + dt.timedelta(minutes=step.window_max_minutes)
              if step.window_max_minutes is not None else None)
    if earliest is not None and at < earliest:
        return TurnCheck(
            ok=False, code="too_early", earliest=earliest, latest=latest,
            previous_finished_at=finished,
            message=(f"Step {step.code} starts at least {step.window_min_minutes} minutes after "
                     f"the previous step (finished {_when(run.batch, finished)}): it may start "
                     f"from {_when(run.batch, earliest)}."))
    late = latest is not None and at > latest
    return TurnCheck(ok=True, late=late, earliest=earliest, latest=latest,
                     previous_finished_at=finished)


def step_turn(run: StepRun) -> TurnCheck:
    """For the pages: may the step be performed now, and if not, why."""
    return turn_problems(run, timezone.now())


def check_turn(run: StepRun, at: dt.datetime) -> TurnCheck:
    turn = turn_problems(run, at)
    if not turn.ok:
        raise StepRefused(turn.message, code=turn.code)
    return turn


def booked_suite(batch: Batch, at: dt.datetime) -> Suite:
    """The suite of the batch's booking, which is active and covers today (site's zone),
    and which is available for work now."""
    booking = (Booking.objects.select_related("suite").filter(pk=batch.booking_id).first()
               if batch.booking_id else None)
    today = timezone.localtime(at, batch.site.zone).date()
    if booking is None or not booking.is_active or not (
            booking.start_date <= today <= booking.end_date):
        booked = (f" (booked {booking.start_date:%Y-%m-%d}–{booking.end_date:%Y-%m-%d}, "
                  f"{booking.get_status_display().lower()})" if booking else "")
        raise StepRefused(
            f"Batch {batch.number} is not booked in a suite for today "
            f"({today:%Y-%m-%d}){booked}. Ask the planner to book or move its slot.",
            code="not_booked_today")
    if not suite_is_available(booking.suite, at):
        raise StepRefused(
            f"Suite {booking.suite.code} is not available for work now "
            f"({booking.suite.get_status_display().lower()}, a hold or an open critical "
            "deviation). Wait until it is released again.", code="suite_not_available")
    return booking.suite


def check_terminal(terminal: Terminal | None, suite: Suite) -> None:
    """A device check (21 CFR 11.10(h)): the step is signed from a terminal registered to the
    suite the batch is booked in, never from an unknown device."""
    if terminal is None or terminal.status != Terminal.Status.ACTIVE:
        raise StepRefused(
            "This device is not a registered terminal (or its registration was withdrawn). "
            f"Use a terminal of suite {suite.code}, or ask a Supervisor to register this one.",
            code="terminal_not_registered", status=403)
    if terminal.suite_id != suite.pk:
        raise StepRefused(
            f"Terminal {terminal.name} is registered to another suite; this batch is made in "
            f"suite {suite.code}. Use a terminal of that suite.",
            code="terminal_wrong_suite", status=403)


def check_operator(actor: User, run: StepRun, suite: Suite, at: dt.datetime) -> None:
    """The training gate: certified for the step's qualifications and gowned for the suite."""
    result = check_certified(person=actor, qualification_codes=run.step.required_qualifications,
                             site=run.batch.site, at=at, cleanroom_grade=suite.grade)
    if not result.certified:
        raise StepRefused(
            result.message() + " Ask a person certified for this step.",
            code="not_certified", status=403,
            fields={"certification": [reason.message for reason in result.reasons]})


def check_station(actor: User, run: StepRun, terminal: Terminal | None,
                  at: dt.datetime) -> Suite:
    """The suite, the terminal and the person, in that order; the suite is returned."""
    suite = booked_suite(run.batch, at)
    check_terminal(terminal, suite)
    check_operator(actor, run, suite, at)
    return suite
