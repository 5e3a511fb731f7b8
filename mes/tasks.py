"""Kernel background work. Tasks take ids, are idempotent and act as the system user."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.utils import timezone

from mes.models import Notification

HEARTBEAT_KEY = "mes:worker-heartbeat"


@shared_task(acks_late=True)
def send_notification_emails(notification_ids: list[int]) -> int:
    """E-mail copies of notifications; one already e-mailed is never sent twice."""
    sent = 0
    pending = (Notification.objects.filter(pk__in=notification_ids, emailed_at__isnull=True)
               .select_related("recipient"))
    for notification in pending:
        if notification.recipient.email:
            send_mail(
                subject=f"[MES] {notification.subject}",
                message=f"{notification.body}\n\n{notification.link}".strip(),
                from_email=None,
                recipient_list=[notification.recipient.email],
            )
            sent += 1
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])
    return sent


@shared_task
def record_worker_heartbeat() -> str:
    """Beat runs this every 30 s; /health/ reads it to know a worker and beat are alive."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_KEY, now, timeout=600)
    return now


@shared_task(acks_late=True)
def purge_idempotency_records() -> int:
    """Forget stored integration responses after the retention period (never under 24 h).
    Each deletion leaves its history row, so what was replayed stays on record."""
    from mes.models import IdempotencyRecord

    hours = max(24, settings.IDEMPOTENCY_RETENTION_HOURS)
    expired = IdempotencyRecord.objects.filter(
        created_at__lt=timezone.now() - timedelta(hours=hours),
        state=IdempotencyRecord.State.COMPLETED,
    )
    count = 0
    for record in expired.iterator():
        record.delete()
        count += 1
    return count


@shared_task(acks_late=True)
def seal_audit_trail() -> int | None:
    """Every minute: seal the append-only rows written since the last seal."""
    from mes.audit import system_user
    from mes.services.sealing import seal_audit_trail as seal

    made = seal(user=system_user())
    return made.number if made else None


@shared_task(acks_late=True)
def run_integrity_check(requested_by: int | None = None) -> int:
    """Nightly (and on QA's button): live rows against history, stock against ledger,
    signatures, seals. Attributed to whoever asked, else the system user."""
    from mes.audit import acting_as, system_user
    from mes.models import User
    from mes.services.integrity import run_integrity_check as check

    user = User.objects.filter(pk=requested_by).first() if requested_by else None
    user = user or system_user()
    with acting_as(user):
        return check(user=user).finding_count
