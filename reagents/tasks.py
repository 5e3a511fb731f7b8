"""Reagent background work: the daily expiry check (runs as the system user)."""

from __future__ import annotations

from celery import shared_task

from mes import audit
from reagents.services import mark_expired_lots, warn_qa_of_expiring_lots


@shared_task
def daily_expiry_check() -> dict:
    """Mark lots past expiry expired, then tell QA what expires soon; idempotent."""
    expired = mark_expired_lots(user=audit.system_user())
    warned = warn_qa_of_expiring_lots()
    return {"expired": [lot.pk for lot in expired], "notifications": warned}
