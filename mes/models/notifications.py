"""In-app notifications (the inbox); e-mail copies are sent by a Celery task after commit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mes.models.base import TrackedModel


class Notification(TrackedModel):
    operational_record = True  # tracked, but not a GMP record: no reason for change
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="notifications")
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return self.subject
