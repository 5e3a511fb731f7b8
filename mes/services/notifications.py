"""Notifying people, once for all apps: an inbox entry for each recipient and an e-mail
copy sent by a Celery task queued only after the transaction commits."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from mes.models import Notification, User


def notify(*, recipients: Iterable[User], subject: str, body: str = "", link: str = "",
           email: bool = True) -> list[Notification]:
    unique = {user.pk: user for user in recipients if user is not None and user.is_active}
    created = [
        Notification.objects.create(recipient=user, subject=subject[:200], body=body, link=link)
        for user in unique.values()
    ]
    if email and created:
        from mes.tasks import send_notification_emails

        ids = [n.pk for n in created]
        transaction.on_commit(lambda: send_notification_emails.delay(ids))
    return created


def unread_count(user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def mark_read(*, user: User, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the user's own notifications read (all unread ones when no ids are given)."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=list(notification_ids))
    now = timezone.now()
    count = 0
    for notification in unread:
        notification.read_at = now
        notification._history_user = user
        notification.save(update_fields=["read_at"])
        count += 1
    return count
