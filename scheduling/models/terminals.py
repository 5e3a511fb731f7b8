"""Registered suite terminals (21 CFR 11.10(h) device checks).

A terminal is a browser (or an integration) registered to one suite by a Supervisor: the
registration gives it a secret that it presents on every step it signs (a cookie in the
browser, a header in the API). Only the secret's SHA-256 is stored. A step is signed only
from a terminal of the suite the batch is booked in; the IP address alone proves nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mes.models import GMPModel, SiteScopedQuerySet


class Terminal(GMPModel):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        WITHDRAWN = "withdrawn", "Withdrawn"

    site = models.ForeignKey("mes.Site", on_delete=models.PROTECT, related_name="+")
    suite = models.ForeignKey("scheduling.Suite", on_delete=models.PROTECT,
                              related_name="terminals")
    name = models.CharField(max_length=64)
    key_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                      related_name="+")
    registered_at = models.DateTimeField(default=timezone.now)
    withdrawn_reason = models.TextField(blank=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["suite", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"],
                                    name="scheduling_terminal_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.suite.code})"
