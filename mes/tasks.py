"""Kernel background work. Tasks take ids, are idempotent and act as the system user."""

from __future__ import annotations

from celery import shared_task
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
