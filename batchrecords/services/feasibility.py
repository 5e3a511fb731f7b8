"""Feasibility problems a Supervisor confirmed a booking despite (scheduling signs each such
confirmation): the patient's batch keeps each problem as an exception, so its review reads
what was known and accepted before manufacturing, and by whom."""

from __future__ import annotations

from batchrecords.models import ACTIVE_BATCH, Batch, BatchException, ExceptionKind
from batchrecords.services.runs import record_exception
from scheduling.models import Booking, BookingConfirmation


def record_confirmed_problems(*, batch: Batch,
                              confirmation: BookingConfirmation) -> list[BatchException]:
    name = confirmation.confirmed_by.full_name
    day = confirmation.confirmed_at.date().isoformat()
    return [
        record_exception(
            batch=batch, kind=ExceptionKind.FEASIBILITY, actor=confirmation.confirmed_by,
            code=str(problem.get("code", ""))[:48], value=problem.get("date") or "",
            detail=(f"{problem.get('message', '')} The booking was confirmed despite it by "
                    f"{name} on {day}: {confirmation.reason}"))
        for problem in confirmation.problems
    ]


def on_opening(batch: Batch) -> None:
    """A batch opened on a booking already confirmed with problems takes them over."""
    if batch.booking_id is None:
        return
    confirmation = (BookingConfirmation.objects.filter(booking_id=batch.booking_id)
                    .select_related("confirmed_by").order_by("-confirmed_at", "-pk").first())
    if confirmation is not None and confirmation.problems:
        record_confirmed_problems(batch=batch, confirmation=confirmation)


def on_confirmation(*, booking: Booking, confirmation: BookingConfirmation) -> None:
    """A booking of a batch in the making was confirmed despite problems."""
    batch = Batch.objects.filter(booking=booking, status__in=ACTIVE_BATCH).first()
    if batch is not None:
        record_confirmed_problems(batch=batch, confirmation=confirmation)
