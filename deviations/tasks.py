"""Time-driven work: escalation. Tasks take ids, call services, act as the system user
(mes.celery.SystemTask), acknowledge late and are queued only after commit."""

from __future__ import annotations

from celery import shared_task

from deviations.services import escalation


@shared_task(acks_late=True, reject_on_worker_lost=True)
def escalate_overdue_deviations() -> int:
    """Beat runs this every minute: escalate what is past its deadline (idempotent)."""
    return escalation.escalate_overdue()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def escalate_deviation(deviation_id: int) -> int:
    """Queued after commit when a change makes a deadline already past (reclassification)."""
    return escalation.escalate_deviation(deviation_id=deviation_id)
