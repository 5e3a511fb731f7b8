"""Electronic signatures (21 CFR 11.50, 11.70): one model for every signed record."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from mes.models.base import AppendOnly, GMPModel


class Meaning(models.TextChoices):
    PERFORMED = "performed", "Performed"
    VERIFIED = "verified", "Verified"
    REVIEWED = "reviewed", "Reviewed"
    APPROVED = "approved", "Approved"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"
    TRAINED = "trained", "Trained"
    AUTHORED = "authored", "Authored"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"


class ElectronicSignature(AppendOnly, GMPModel):
    """A signature: who (printed name), when (UTC server time), what it means, and the
    SHA-256 of the signed record's canonical content. The table is append-only in the
    database, so a signature cannot be edited, moved to another record or removed."""

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="signatures")
    printed_name = models.CharField(max_length=200)
    username = models.CharField(max_length=64)
    meaning = models.CharField(max_length=16, choices=Meaning.choices)
    reason = models.TextField(blank=True)
    signed_at = models.DateTimeField(default=timezone.now)
    record_hash = models.CharField(max_length=64)
    site = models.ForeignKey("mes.Site", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")

    class Meta:
        ordering = ["signed_at", "pk"]
        indexes = [models.Index(fields=["content_type", "object_id"])]
        constraints = [
            # One person signs one content of a record once with one meaning. A record that
            # changes and is signed again (a batch step corrected after signing) carries a new
            # signature for its new content; the earlier one stays and no longer matches.
            models.UniqueConstraint(
                fields=["content_type", "object_id", "signer", "meaning", "record_hash"],
                name="mes_signature_once_per_signer_meaning",
            ),
        ]

    def __str__(self) -> str:
        when = f"{self.signed_at:%Y-%m-%d %H:%M:%S} UTC"
        return f"{self.get_meaning_display()} by {self.printed_name} at {when}"
