"""Security events that QA must see: failed logins and signatures, lockouts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mes.models.base import AppendOnly, GMPModel


class SecurityEvent(AppendOnly, GMPModel):
    class Kind(models.TextChoices):
        LOGIN_FAILED = "login_failed", "Failed login"
        SIGNATURE_FAILED = "signature_failed", "Failed signature"
        LOCKOUT = "lockout", "Account locked"
        UNLOCKED = "unlocked", "Account unlocked"
        INTEGRITY_FINDING = "integrity_finding", "Data integrity finding"
        CLIENT_THROTTLED = "client_throttled", "Client throttled (password spraying)"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    username = models.CharField(max_length=150)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.PROTECT, related_name="security_events")
    ip_address = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    detail = models.TextField(blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [models.Index(fields=["ip_address", "occurred_at"],
                                name="securityevent_client_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.username}"
