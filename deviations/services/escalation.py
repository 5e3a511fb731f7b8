"""Escalation: what is past its deadline goes up the site's ladder, one level at a time,
each level exactly once per deadline, each step recorded and notified."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from deviations.models import Deviation, EscalationEvent
from deviations.services import ladder
from mes import audit
from mes.services.notifications import notify


def refresh_next_escalation(deviation: Deviation) -> None:
    """Set when the next level is due for the deadline the deviation now works against
    (in memory; the caller saves)."""
    _kind, due = deviation.running_deadline()
    deviation.next_escalation_at = ladder.next_escalation_at(
        due, deviation.escalation_level, ladder.ladder_for(deviation.site))


def escalate_overdue(*, now: datetime | None = None) -> int:
    """Escalate every deviation whose next escalation is due; returns how many levels were
    told. Each deviation is handled in its own transaction with its row locked (skipping
    ones another run holds), so a crash loses nothing and two runs escalate once."""
    now = now or timezone.now()
    due_ids = list(Deviation.objects.filter(next_escalation_at__lte=now)
                   .order_by("next_escalation_at").values_list("pk", flat=True))
    return sum(escalate_deviation(deviation_id=pk, now=now) for pk in due_ids)


def escalate_deviation(*, deviation_id: int, now: datetime | None = None) -> int:
    now = now or timezone.now()
    actor = audit.current_actor() or audit.system_user()
    told = 0
    with transaction.atomic():
        deviation = (Deviation.objects.select_for_update(skip_locked=True, of=("self",))
                     .select_related("site").filter(pk=deviation_id).first())
        if deviation is None:
            return 0
        levels = ladder.ladder_for(deviation.site)
        # Catch up level by level (a worker that was down still tells each level once).
        while deviation.next_escalation_at is not None and deviation.next_escalation_at <= now:
            kind, due = deviation.running_deadline()
            if kind is None or deviation.escalation_level >= len(levels):
                deviation.next_escalation_at = None
                audit.stamp(deviation, user=actor, reason="Nothing left to escalate")
                deviation.save(update_fields=["next_escalation_at"])
                break
            level = levels[deviation.escalation_level]
            recorded = _record_escalation(deviation, kind, due, level, actor, now)
            told += recorded
            deviation.escalation_level += 1
            deviation.next_escalation_at = ladder.next_escalation_at(
                due, deviation.escalation_level, levels)
            deadline = (f"{EscalationEvent.Deadline(kind).label.lower()} deadline of "
                        f"{due:%Y-%m-%d %H:%M} UTC")
            audit.stamp(deviation, user=actor, reason=(
                f"Escalated to level {deviation.escalation_level} ({level.name}): the "
                f"{deadline} passed" if recorded else
                f"Level {deviation.escalation_level} ({level.name}) was already told of the "
                f"{deadline}"))
            deviation.save(update_fields=["escalation_level", "next_escalation_at"])
    return told


def _record_escalation(deviation, kind, due, level, actor, now) -> bool:
    people = ladder.recipients(level, deviation.site)
    event = EscalationEvent(
        site=deviation.site, deviation=deviation, recorded_by=actor, recorded_at=now,
        deadline=kind, deadline_at=due, level=deviation.escalation_level + 1,
        level_name=level.name, notified=", ".join(p.full_name for p in people))
    audit.stamp(event, user=actor, reason="Deadline passed")
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        return False  # this level was already told for this deadline
    what = "acknowledged" if kind == EscalationEvent.Deadline.ACKNOWLEDGE else "disposed"
    notify(
        recipients=people,
        subject=f"ESCALATED (level {event.level}) {deviation.number}: {deviation.title}",
        body=(f"Deviation {deviation.number} was not {what} by {due:%Y-%m-%d %H:%M} UTC. "
              f"You are level {event.level} ({level.name}) of the escalation ladder."),
        link=reverse("deviations:detail", args=[deviation.pk]),
    )
    return True
